"""Stratified index splits with a fixed seed, shared by every DataModule that carves val/test out of one pool; and
the one-line error for a torchvision dataset that is missing or failed to download."""

import numpy as np
from sklearn.model_selection import train_test_split

from blueprint.errors import UserError


def stratified_split(
    labels: np.ndarray, sizes: dict[str, int], seed: int, stratify: bool = True, option: str = "data.{}_size"
) -> dict[str, np.ndarray]:
    """Split indices into named parts of the given sizes; "train" takes the rest. stratify=False for regression.

    `option` names the setting behind each size in errors ("data.{}_size" -> data.val_size).
    """
    remaining = np.arange(len(labels))
    parts: dict[str, np.ndarray] = {}
    for name, size in sizes.items():
        setting = f"{option.format(name)}={size}"
        if size < 1 or size >= len(remaining):
            raise UserError(f"{setting} must be between 1 and {len(remaining) - 1} for this dataset")
        try:
            remaining, parts[name] = train_test_split(
                remaining, test_size=size, stratify=labels[remaining] if stratify else None, random_state=seed
            )
        except ValueError as err:  # e.g. fewer samples than classes: a stratified part needs one of each
            raise UserError(f"{setting}: {err}") from None
    parts["train"] = np.sort(remaining)
    return parts


def missing_dataset(name: str, data_dir: str, download: bool, err: Exception) -> str:
    """One line for a torchvision dataset that could not be read or downloaded."""
    reason = " ".join(str(err).split())
    if download:
        return (
            f"{name} could not be downloaded into data.data_dir {data_dir!r} ({reason}); check the network, or put "
            "the files there yourself and set data.download false"
        )
    return f"{name} not found under data.data_dir {data_dir!r} ({reason}); pass --data.download true or fix the path"

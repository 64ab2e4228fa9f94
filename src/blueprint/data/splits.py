"""Stratified index splits with a fixed seed, shared by every DataModule that carves val/test out of one pool."""

import numpy as np
from sklearn.model_selection import train_test_split

from blueprint.errors import UserError


def stratified_split(
    labels: np.ndarray, sizes: dict[str, int], seed: int, stratify: bool = True
) -> dict[str, np.ndarray]:
    """Split indices into named parts of the given sizes; "train" takes the rest. stratify=False for regression."""
    remaining = np.arange(len(labels))
    parts: dict[str, np.ndarray] = {}
    for name, size in sizes.items():
        if size < 1 or size >= len(remaining):
            raise UserError(f"{name}_size={size} must be between 1 and {len(remaining) - 1} for this dataset")
        remaining, parts[name] = train_test_split(
            remaining, test_size=size, stratify=labels[remaining] if stratify else None, random_state=seed
        )
    parts["train"] = np.sort(remaining)
    return parts

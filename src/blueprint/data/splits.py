"""Stratified index splits with a fixed seed, shared by every DataModule that carves val/test out of one pool; and
the one-line error for a torchvision dataset that is missing or failed to download."""

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from blueprint.data.quoting import quoted_list
from blueprint.errors import UserError


def stratified_split(
    labels: np.ndarray,
    sizes: dict[str, int],
    seed: int,
    stratify: bool = True,
    option: str = "data.{name}_size={size}",
    class_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Split indices into named parts of the given sizes; "train" takes the rest. stratify=False for regression.

    `option` names the setting behind each size in errors ("data.{name}_size={size}" -> data.val_size=500);
    `class_names` name the classes behind label indices there, as the user wrote them.
    """
    remaining = np.arange(len(labels))
    parts: dict[str, np.ndarray] = {}
    for name, size in sizes.items():
        setting = option.format(name=name, size=size)
        if size < 1 or size >= len(remaining):
            raise UserError(f"{setting} must be between 1 and {len(remaining) - 1} for this dataset")
        if stratify:
            check_class_sizes(labels[remaining], setting, class_names)
        try:
            remaining, parts[name] = train_test_split(
                remaining, test_size=size, stratify=labels[remaining] if stratify else None, random_state=seed
            )
        except ValueError as err:  # e.g. a part smaller than the number of classes: it needs one of each
            raise UserError(f"{setting}: {err}") from None
    parts["train"] = np.sort(remaining)
    return parts


def fold_split(labels: np.ndarray, folds: int, fold: int, seed: int, stratify: bool = True) -> np.ndarray:
    """Indices of fold `fold` of `folds` shuffled folds (stratified by class unless regression): one run's test part.

    Over fold = 0..folds-1 every sample is tested exactly once; the seed fixes the folds.
    """
    splitter = StratifiedKFold if stratify else KFold
    try:
        _, test = list(splitter(folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))[fold]
    except ValueError as err:  # e.g. more folds than samples of every class
        raise UserError(f"data.folds={folds}: {err}") from None
    return np.sort(test)


def check_class_sizes(labels: np.ndarray, setting: str, class_names: Sequence[str] | None) -> None:
    """Each class needs 2 samples to stratify; sklearn's own error names the class by index, not by its label."""
    values, counts = np.unique(labels, return_counts=True)
    few = values[counts < 2]
    if len(few):
        named = [class_names[v] if class_names is not None else v for v in few.tolist()]
        raise UserError(
            f"{setting}: class(es) {quoted_list(named)} have a single sample left to split, and a split stratified "
            "by class needs at least 2 of each; add samples of those classes or drop them"
        )


def missing_dataset(name: str, data_dir: str, download: bool, err: Exception) -> str:
    """One line for a torchvision dataset that could not be read or downloaded."""
    reason = " ".join(str(err).split())
    if download:
        return (
            f"{name} could not be downloaded into data.data_dir {data_dir!r} ({reason}); check the network, or put "
            "the files there yourself and set data.download false"
        )
    return f"{name} not found under data.data_dir {data_dir!r} ({reason}); pass --data.download true or fix the path"

"""Read a table (a scikit-learn bundled one or a user's CSV) and validate it, naming the file and column on error."""

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from blueprint.data.quoting import quoted, quoted_list
from blueprint.errors import UserError

BUILTIN_TABLES = ("breast_cancer", "wine", "diabetes")
MAX_INTEGER_CLASSES = 20  # an integer target with at most this many distinct values is taken as class labels
TaskKind = Literal["classification", "regression"]


@dataclass
class Table:
    """Numeric features, the target (class indices or values; None if absent) and each row's index in the source."""

    features: np.ndarray
    target: np.ndarray | None
    rows: np.ndarray
    feature_names: list[str]
    classes: list[str] | None


def load_builtin(name: str) -> tuple[pd.DataFrame, str, TaskKind]:
    """A scikit-learn bundled table as (frame, target column, task); class targets become their names."""
    from sklearn import datasets

    if name == "diabetes":
        bunch = datasets.load_diabetes(as_frame=True, scaled=False)
        return bunch.frame, "target", "regression"
    bunch = datasets.load_breast_cancer(as_frame=True) if name == "breast_cancer" else datasets.load_wine(as_frame=True)
    frame = bunch.frame.copy()
    frame["target"] = np.asarray(bunch.target_names)[frame["target"].to_numpy()]
    return frame, "target", "classification"


def read_csv(path: str) -> pd.DataFrame:
    """The CSV as a frame; a missing, empty or row-less file is a UserError naming the path."""
    if not Path(path).exists():
        raise UserError(f"CSV file {path!r} does not exist; check data.csv (or data.predict_csv)")
    if not Path(path).is_file():
        what = "a folder" if Path(path).is_dir() else "not a regular file"
        raise UserError(f"CSV file {path!r} is {what}; point data.csv (or data.predict_csv) at a .csv file")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise UserError(f"CSV file {path!r} is empty; it needs a header line and at least one row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"CSV file {path!r} could not be parsed: {err}") from None
    if frame.empty:
        raise UserError(f"CSV file {path!r} has a header but no rows")
    repeated = repeated_names(path)
    if repeated:
        raise UserError(
            f"CSV file {path!r} names column(s) {quoted_list(repeated)} more than once in its header; give each "
            "column its own name, or drop the copies"
        )
    return frame


def file_sha256(path: str) -> str:
    """The file's content hash, read in chunks: a checkpoint records which rows its split was made from."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def repeated_names(path: str) -> list[str]:
    """Header names written more than once, read raw: pandas renames a second `value` to `value.1` (a new feature)."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    return [name for name, count in Counter(header).items() if count > 1 and name != ""]  # "" -> Unnamed: N


def infer_task(column: pd.Series) -> TaskKind:
    """Text, booleans and integers with few distinct values are class labels; other numbers are regression targets."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return "classification"
    values = column.dropna().to_numpy()
    values = values[np.isfinite(values)]  # an inf is refused later, naming its row; here it only warned
    is_integer = np.all(np.mod(values, 1) == 0)
    return "classification" if is_integer and len(np.unique(values)) <= MAX_INTEGER_CLASSES else "regression"


def _missing_rows(column: pd.Series) -> str:
    rows = column.index[column.isna()].tolist()
    shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return f"{len(rows)} missing value(s) (rows {shown})"


def _infinite_value(column: pd.Series) -> str | None:
    """The first value that is infinite as float32 (inf, or beyond +-3.4e38) with its row; None if all are finite."""
    with np.errstate(over="ignore"):
        infinite = np.isinf(column.to_numpy(dtype=np.float32))
    if not infinite.any():
        return None
    row = column.index[int(infinite.argmax())]
    beyond = "" if np.isinf(column[row]) else " (beyond float32's range)"
    more = int(infinite.sum()) - 1
    return f"{column[row]}{beyond} in row {row}" + (f" and {more} more row(s)" if more else "")


def _check_features(frame: pd.DataFrame, names: list[str], origin: str) -> np.ndarray:
    for name in names:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column):
            bad = pd.to_numeric(column, errors="coerce").isna() & column.notna()
            row = bad.idxmax() if bad.any() else column.index[0]
            raise UserError(
                f"{origin}: feature column {quoted(name)} is not numeric ({quoted(column[row])} in row {row}); "
                "encode it as numbers or leave it out of data.features"
            )
        if column.isna().any():
            raise UserError(f"{origin}: feature column {quoted(name)} has {_missing_rows(column)}; fill or drop them")
        infinite = _infinite_value(column)
        if infinite:
            raise UserError(
                f"{origin}: feature column {quoted(name)} holds {infinite}; standardizing it would give NaN: "
                "replace or drop such values"
            )
    return frame[names].to_numpy(dtype=np.float32)


def _class_labels(column: pd.Series) -> list[str]:
    """Sorted distinct labels as text (numbers sorted numerically, so 2 comes before 10)."""
    return [str(v) for v in sorted(column.unique())]


def _regression_target(column: pd.Series, origin: str) -> np.ndarray:
    """Values as float32; an inf would make the loss inf or NaN from its first batch, so it is refused by row."""
    name = quoted(column.name)
    if not pd.api.types.is_numeric_dtype(column):
        raise UserError(f"{origin}: target column {name} is not numeric; set data.task: classification")
    infinite = _infinite_value(column)
    if infinite:
        raise UserError(
            f"{origin}: target column {name} holds {infinite}; the loss cannot be computed on it: replace or drop "
            "such rows"
        )
    return column.to_numpy(dtype=np.float32)


def _encode_target(
    column: pd.Series, task: str, classes: list[str] | None, origin: str
) -> tuple[np.ndarray, list[str] | None]:
    name = quoted(column.name)
    if column.isna().any():
        raise UserError(f"{origin}: target column {name} has {_missing_rows(column)}; fill or drop those rows")
    if task == "regression":
        return _regression_target(column, origin), None
    if classes is None:
        classes = _class_labels(column)
        if len(classes) < 2:
            raise UserError(f"{origin}: target column {name} has a single class {quoted(classes[0])}; need at least 2")
    index = {label: i for i, label in enumerate(classes)}
    labels = column.astype(str)
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise UserError(
            f"{origin}: target column {name} has labels {quoted_list(unknown)} not seen in training "
            f"{quoted_list(classes)}"
        )
    return labels.map(index).to_numpy(dtype=np.int64), classes


def to_table(
    frame: pd.DataFrame,
    origin: str,
    target: str,
    features: list[str] | None,
    task: str,
    classes: list[str] | None = None,
    target_required: bool = True,
) -> Table:
    """Validate columns and encode the target; `classes` from training fixes the label order for later files."""
    columns = quoted_list(frame.columns)
    if target not in frame.columns and target_required:
        raise UserError(f"{origin}: no target column {quoted(target)} (data.target); the columns are {columns}")
    names = list(features) if features else [c for c in frame.columns if c != target]
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise UserError(f"{origin}: no column(s) {quoted_list(absent)} (data.features); the columns are {columns}")
    if target in names:
        raise UserError(
            f"{origin}: column {quoted(target)} is both the target and a feature; drop it from data.features"
        )
    if not names:
        raise UserError(f"{origin}: no feature columns besides the target {quoted(target)}")
    x = _check_features(frame, names, origin)
    y = None
    if target in frame.columns:
        y, classes = _encode_target(frame[target], task, classes, origin)
    return Table(x, y, frame.index.to_numpy(dtype=np.int64), names, classes)

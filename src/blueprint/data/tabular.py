"""Tables (scikit-learn's bundled ones or any CSV) for classification or regression, standardized on train only."""

from typing import Any, Literal

import numpy as np
import torch

from blueprint.data.base import InMemoryDataModule, Split
from blueprint.data.quoting import quoted_list
from blueprint.data.splits import fold_split, stratified_split
from blueprint.data.table_io import (
    BUILTIN_TABLES,
    Table,
    TaskKind,
    file_sha256,
    infer_task,
    load_builtin,
    read_csv,
    to_table,
)
from blueprint.errors import UserError


class TabularDataModule(InMemoryDataModule):
    """Batches are (features, target, row index); the row index keys `blueprint predict` output to the input file.

    The file is read on first use of `input_shape`/`num_classes`, so bad input fails before any training starts.
    The standardization (and the class labels) go into checkpoints, so predict scales new rows as training did.
    """

    def __init__(
        self,
        source: Literal["breast_cancer", "wine", "diabetes"] | None = None,
        csv: str | None = None,
        target: str | None = None,
        features: list[str] | None = None,
        task: Literal["auto", "classification", "regression"] = "auto",
        predict_csv: str | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
        standardize: bool = True,
        batch_size: int = 32,
        eval_batch_size: int = 1024,
        seed: int = 0,
        allow_split_change: bool = False,
        folds: int | None = None,
        fold: int = 0,
    ) -> None:
        """folds=K tests on fold `fold` of K stratified folds instead of a test_fraction (`blueprint seeds` --folds)."""
        super().__init__(batch_size, eval_batch_size, seed, allow_split_change)
        if (source is None) == (csv is None):
            raise UserError(f"set exactly one of data.source {list(BUILTIN_TABLES)} or data.csv (got both or neither)")
        if source is not None and source not in BUILTIN_TABLES:
            raise UserError(f"data.source {source!r} is unknown; choose one of {list(BUILTIN_TABLES)} or set data.csv")
        if csv is not None and not target:
            raise UserError(f"data.csv {csv!r} needs data.target: the name of the column to predict")
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise UserError(
                f"data.val_fraction {val_fraction} and data.test_fraction {test_fraction} must be in "
                "(0, 1) and sum to less than 1"
            )
        if folds is not None and folds < 2:
            raise UserError(f"data.folds {folds} must be >= 2 (or null for one test_fraction split)")
        if folds is None and fold != 0:
            raise UserError(f"data.fold {fold} needs data.folds, the number of folds, e.g. --data.init_args.folds=5")
        if folds is not None and not 0 <= fold < folds:
            raise UserError(f"data.fold {fold} must be in 0..{folds - 1} with data.folds={folds}")
        self.folds, self.fold = folds, fold
        self.source, self.csv, self.target, self.features = source, csv, target, features
        self.task, self.predict_csv, self.standardize = task, predict_csv, standardize
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self._table: Table | None = None
        self._csv_sha256: str | None = None  # of the file as read, so an edited file cannot resume on another split
        self._training_classes: list[str] | None = None  # a checkpoint's label order, which later files must use
        self._raw: dict[str, Split] = {}
        self.scaler: dict[str, list[float]] | None = None
        self.target_stats: tuple[float, float] | None = None

    def table(self) -> Table:
        """The validated training table, read once."""
        if self._table is None:
            task: TaskKind | Literal["auto"]
            if self.source is not None:
                frame, target, task = load_builtin(self.source)
            else:
                assert self.csv is not None and self.target is not None  # __init__ requires both without a source
                frame, target = read_csv(self.csv), self.target
                self._csv_sha256 = file_sha256(self.csv)
                task = self.task
                if task == "auto" and target in frame.columns:
                    task = infer_task(frame[target])
            self.task = task if self.task == "auto" else self.task
            self._table = to_table(
                frame, self.origin(), target, self.features, self.task, classes=self._training_classes
            )
        return self._table

    def origin(self) -> str:
        """Where the training table comes from, as errors name it."""
        return f"CSV file {self.csv!r}" if self.csv is not None else f"scikit-learn table {self.source!r}"

    def split_identity(self) -> dict[str, Any]:
        """The rows (source, or the CSV's content), the target a class split is stratified by, fractions and seed."""
        self.table()
        fractions = {"val_fraction": self.val_fraction, "test_fraction": self.test_fraction}
        if self.folds is not None:
            fractions = {"val_fraction": self.val_fraction, "folds": self.folds, "fold": self.fold}
        rows = {"source": self.source, "csv_sha256": self._csv_sha256, "target": self.target, "task": self.task}
        return super().split_identity() | fractions | rows

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (len(self.table().feature_names),)

    @input_shape.setter
    def input_shape(self, value: tuple[int, ...]) -> None:
        """Read-only: the shape follows the table's feature columns (a setter only so it may override the base)."""
        raise AttributeError("TabularDataModule.input_shape follows the table's feature columns and cannot be set")

    @property
    def classes(self) -> list[str] | None:
        """Class label names in index order; None for regression."""
        return self.table().classes

    @property
    def num_classes(self) -> int | None:
        classes = self.classes
        return len(classes) if classes is not None else None

    def _split_indices(self, table: Table) -> dict[str, np.ndarray]:
        if self.folds is not None:
            return self._fold_indices(table)
        n = len(table.rows)
        sizes = {"test": round(n * self.test_fraction), "val": round(n * self.val_fraction)}
        if min(sizes.values()) < 1 or sum(sizes.values()) >= n:
            raise UserError(
                f"{self.origin()}: {n} rows are too few to split with data.val_fraction={self.val_fraction} "
                f"and data.test_fraction={self.test_fraction} (val and test need a row each, train the rest); "
                "use more rows or larger fractions"
            )
        assert table.target is not None  # the training table always has its target column (target_required)
        try:
            return stratified_split(
                table.target,
                sizes,
                self.seed,
                stratify=table.classes is not None,
                option="data.{name}_fraction ({size} rows)",
                class_names=table.classes,
            )
        except UserError as err:
            raise UserError(f"{self.origin()}: {err}") from None

    def _fold_indices(self, table: Table) -> dict[str, np.ndarray]:
        """Test on one of data.folds folds; val (data.val_fraction of all rows) and train split the other folds."""
        assert table.target is not None  # the training table always has its target column (target_required)
        stratify = table.classes is not None
        test = fold_split(table.target, self.folds or 2, self.fold, self.seed, stratify)
        rest = np.setdiff1d(np.arange(len(table.rows)), test)
        val_rows = round(len(table.rows) * self.val_fraction)
        try:
            parts = stratified_split(
                table.target[rest],
                {"val": val_rows},
                self.seed,
                stratify=stratify,
                option="data.val_fraction ({size} rows)",
                class_names=table.classes,
            )
        except UserError as err:
            raise UserError(f"{self.origin()}: {err}") from None
        return {"test": test, "val": np.sort(rest[parts["val"]]), "train": rest[parts["train"]]}

    def load_splits(self) -> dict[str, Split]:
        table = self.table()
        x, rows = torch.tensor(table.features), torch.tensor(table.rows)
        y = torch.tensor(table.target)
        self._raw = {name: (x[idx], y[idx], rows[idx]) for name, idx in self._split_indices(table).items()}
        if self.predict_csv is not None:
            self._raw["predict"] = self._predict_rows()
        if self.scaler is None:
            train_x = self._raw["train"][0]
            std = train_x.std(0)
            std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays as it is
            self.scaler = {"mean": train_x.mean(0).tolist(), "std": std.tolist()}
        if table.classes is None:
            train_y = self._raw["train"][1]
            self.target_stats = (float(train_y.mean()), float(train_y.std().clamp_min(1e-8)))
        return self._scaled()

    def _predict_rows(self) -> Split:
        """Rows of `predict_csv` with the training columns; its target column is optional."""
        assert self.predict_csv is not None
        table = self.table()
        target = self.target or "target"
        frame = read_csv(self.predict_csv)
        new = to_table(
            frame,
            f"CSV file {self.predict_csv!r}",
            target,
            table.feature_names,
            self.task,
            classes=table.classes,
            target_required=False,
        )
        dtype = torch.int64 if table.classes is not None else torch.float32
        y = torch.tensor(new.target) if new.target is not None else torch.zeros(len(new.rows), dtype=dtype)
        return torch.tensor(new.features), y, torch.tensor(new.rows)

    def _scaled(self) -> dict[str, Split]:
        if not self.standardize or self.scaler is None:
            return dict(self._raw)
        mean, std = torch.tensor(self.scaler["mean"]), torch.tensor(self.scaler["std"])
        return {name: ((x - mean) / std, *rest) for name, (x, *rest) in self._raw.items()}

    def serving_inputs(self) -> dict[str, Any]:
        """Rows keyed by the training feature names, scaled as `_scaled` does, and the training label order."""
        self.setup()
        mean = std = None
        if self.standardize and self.scaler is not None:
            mean, std = self.scaler["mean"], self.scaler["std"]
        names = self.table().feature_names
        return {"kind": "table", "features": names, "mean": mean, "std": std, "classes": self.classes}

    def state_dict(self) -> dict[str, Any]:
        """Plain lists only, so the checkpoint still loads with weights_only=True."""
        self.setup()
        state = super().state_dict()
        state.update(scaler=self.scaler, classes=self.classes, feature_names=self.table().feature_names)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Use the training run's standardization and label order, whatever this run's file would give."""
        self.check_same_split(state_dict.get("split"))
        classes = state_dict.get("classes")
        if classes is not None and list(classes) != self.classes:  # re-encode this file's labels in that order
            self._training_classes = list(classes)
            self._table, self._raw, self.splits, self._on_device = None, {}, {}, {}
        self.setup()
        names = state_dict.get("feature_names")
        if names is not None and names != self.table().feature_names:
            raise UserError(
                f"the checkpoint was trained on feature columns {quoted_list(names)} but the data has "
                f"{quoted_list(self.table().feature_names)}"
            )
        if state_dict.get("scaler") is not None:
            self.scaler = state_dict["scaler"]
            self.splits, self._on_device = self._scaled(), {}  # every DataLoader asked for from now on reads these
        self.restore_train_position(state_dict)

"""`blueprint seeds`: one experiment over seeds (or table folds), test metrics as mean ± std, tables, HPARAMS rows."""

import csv
import statistics
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.cli import seeds_command
from blueprint.data import TabularDataModule
from tests.conftest import config
from tests.fast import QUIET
from tests.test_script_errors import assert_refused

TINY = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--model.init_args.net.init_args.hidden=[8]",
    *QUIET,
]


def test_two_seeds_give_a_mean_and_std_per_test_metric_with_tables_and_hparams(tmp_path: Path, capsys) -> None:
    seeds_command.main(["-c", config("tabular_mlp_binary.yaml"), "--seeds=2", "--", *TINY])
    out_dir = tmp_path / "logs" / "tabular_mlp_binary" / "seeds"
    with (out_dir / "results.csv").open() as file:
        rows = {row["metric"]: row for row in csv.DictReader(file)}
    losses = [float(rows["test/loss"][run]) for run in ("seed_0", "seed_1")]
    assert losses[0] != losses[1]  # the seed reached the runs
    assert float(rows["test/loss"]["mean"]) == pytest.approx(statistics.mean(losses), abs=1e-4)
    assert float(rows["test/loss"]["std"]) == pytest.approx(statistics.stdev(losses), abs=1e-4)
    printed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("test/loss "))
    assert printed.split()[1:4] == [rows["test/loss"]["mean"], "±", rows["test/loss"]["std"]]
    assert "| test/acc |" in (out_dir / "results.md").read_text()
    assert (out_dir / "seed_1" / "checkpoints" / "last.ckpt").is_file()
    hparams = EventAccumulator(str(out_dir / "hparams" / "seed_1")).Reload()
    assert "seeds/test/loss" in hparams.Tags()["scalars"]


def test_folds_test_every_row_of_a_table_once_and_keep_the_class_mix() -> None:
    """Batches carry the row index: the three folds' test rows are every row once, each fold a third of each class."""
    modules = [TabularDataModule(source="wine", folds=3, fold=k) for k in range(3)]
    for module in modules:
        module.setup()
    rows = {name: [set(m.splits[name][2].tolist()) for m in modules] for name in ("train", "val", "test")}
    assert sorted(r for fold in rows["test"] for r in fold) == list(range(len(modules[0].table().rows)))
    for train, val, test in zip(rows["train"], rows["val"], rows["test"], strict=True):
        assert not test & (train | val) and not train & val
    classes = np.bincount(modules[0].table().target)
    for module in modules:
        assert np.abs(np.bincount(module.splits["test"][1].numpy()) - classes / 3).max() <= 1


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--seeds=1"], ["--seeds", "'1'", ">= 2"]),
        (["--folds=1"], ["--folds", "'1'", ">= 2"]),
        (["--folds=2", "-c", config("mnist_mlp.yaml")], ["--folds needs", "data.folds", "TabularDataModule"]),
        (["--out_dir=used"], ["--out_dir used", "holds earlier runs"]),
    ],
)
def test_bad_arguments_are_one_line_and_start_no_run(argv: list[str], fragments: list[str], tmp_path, capsys) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "results.md").write_text("kept")
    config_args = [] if "-c" in argv else ["-c", config("tabular_mlp_binary.yaml")]
    assert_refused(seeds_command.main, [*config_args, *argv], capsys, *fragments)
    assert not (tmp_path / "logs").exists() and (tmp_path / "used" / "results.md").read_text() == "kept"

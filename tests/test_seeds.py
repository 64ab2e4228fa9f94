"""`blueprint seeds`: one experiment over seeds (or table folds), test metrics as mean ± std, tables, a seed per
HPARAMS row; `--vary` decides whether a seed changes the data split and order too."""

import csv
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.cli import seeds_command
from blueprint.data import TabularDataModule
from tests.conftest import config
from tests.fast import QUIET
from tests.test_hparams import logged_hparams
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
    with (out_dir / "seeds_summary.csv").open() as file:
        rows = {row["metric"]: row for row in csv.DictReader(file)}
    losses = [float(rows["test/loss"][run]) for run in ("seed_0", "seed_1")]
    assert losses[0] != losses[1]  # the seed reached the runs
    assert float(rows["test/loss"]["mean"]) == pytest.approx(statistics.mean(losses), abs=1e-4)
    assert float(rows["test/loss"]["std"]) == pytest.approx(statistics.stdev(losses), abs=1e-4)
    printed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("test/loss "))
    assert printed.split()[1:4] == [rows["test/loss"]["mean"], "±", rows["test/loss"]["std"]]
    assert "| test/acc |" in (out_dir / "seeds_summary.md").read_text()
    assert (out_dir / "seed_1" / "checkpoints" / "last.ckpt").is_file()
    hparams, _, _ = logged_hparams(out_dir / "seed_1")  # each run is its own row in the HPARAMS tab
    assert hparams["seed"] == 1
    scalars = EventAccumulator(str(out_dir / "seed_1")).Reload().Tags()["scalars"]
    assert "val/acc" in scalars and "epoch" not in scalars  # blueprint's logger: no epoch staircase


def split_rows(run_dir: Path) -> dict[str, list[int]]:
    """The table rows of each split of a run, rebuilt from the data section of the run's own config.yaml."""
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    module = TabularDataModule(**saved["data"]["init_args"])
    module.setup()
    return {name: module.splits[name][2].tolist() for name in ("train", "val", "test")}


@pytest.mark.parametrize(
    ("vary", "varied"),
    [
        ("init,data", "varied: model init (seed_everything 0..1), data split and batch order (data.seed 0..1)"),
        ("init", "varied: model init (seed_everything 0..1); fixed: data split and batch order (data.seed=42)"),
    ],
    ids=["init,data", "init"],
)
def test_the_data_split_differs_between_seeds_only_when_data_varies(vary: str, varied: str, tmp_path, capsys) -> None:
    """fit's options pass straight through (no `--`); the summary says what varied, printed and in both files."""
    seeds_command.main(["-c", config("tabular_mlp_binary.yaml"), "--seeds=2", f"--vary={vary}", *TINY])
    out_dir = tmp_path / "logs" / "tabular_mlp_binary" / "seeds"
    splits = [split_rows(out_dir / run) for run in ("seed_0", "seed_1")]
    for name in ("train", "val", "test"):
        assert (splits[0][name] != splits[1][name]) == ("data" in vary), name
    inits = [
        yaml.safe_load((out_dir / run / "config.yaml").read_text())["seed_everything"] for run in ("seed_0", "seed_1")
    ]
    assert inits == [0, 1]
    assert varied in capsys.readouterr().out.splitlines()
    assert varied in (out_dir / "seeds_summary.md").read_text().splitlines()
    with (out_dir / "seeds_summary.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {row["varied"] for row in rows} == {varied} and {row["n"] for row in rows} == {"2"}


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
        (["--vary=model"], ["--vary", "'model'", "init,data"]),
        (["--vary=data", "--folds=2"], ["--vary data", "add --seeds"]),
        (["--seed_everything=3"], ["--seed_everything", "--seeds with --vary init", "drop it"]),
        (["--seeds=2", "--vary=data", "--data.seed", "4"], ["--data.seed", "--vary data", "drop it"]),
        (["--out_dir=new", "--", "--trainer.max_epoch=1"], ["--trainer.max_epoch=1"]),  # checked before any run
    ],
)
def test_bad_arguments_are_one_line_and_start_no_run(argv: list[str], fragments: list[str], tmp_path, capsys) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "seeds_summary.md").write_text("kept")
    config_args = [] if "-c" in argv else ["-c", config("tabular_mlp_binary.yaml")]
    assert_refused(seeds_command.main, [*config_args, *argv], capsys, *fragments)
    assert not (tmp_path / "logs").exists() and not (tmp_path / "new").exists()
    assert (tmp_path / "used" / "seeds_summary.md").read_text() == "kept"

"""A resumed fit must keep the data split it was trained on: otherwise it trains on former validation and test
samples, and nothing says so. Evaluating a checkpoint on other data stays allowed."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from blueprint.data import CIFAR10DataModule, MovingMNISTDataModule, TabularDataModule
from blueprint.errors import UserError
from tests.conftest import config, run_cli
from tests.reliability.helpers import error_line, snapshot, tiny_args

QUIET = ("--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false")
LAST = "logs/tabular_mlp_regression/version_0/checkpoints/last.ckpt"


def tabular(*extra: str) -> list[str]:
    """configs/tabular_mlp_regression.yaml (diabetes, data seed 42), one short epoch, logs under the test's folder."""
    return [
        "-c",
        config("tabular_mlp_regression.yaml"),
        "--trainer.logger.init_args.save_dir=logs",
        "--model.init_args.net.init_args.hidden=[16]",
        "--trainer.max_epochs=1",
        "--test_after_fit=false",
        *QUIET,
        *extra,
    ]


@pytest.mark.parametrize("checkpoint", ["last", LAST])
def test_a_resume_with_another_data_seed_is_refused_naming_both_values(
    checkpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_cli("fit", *tabular())
    before = snapshot(tmp_path / "logs")
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *tabular("--data.init_args.seed=7", "--trainer.max_epochs=2", f"--ckpt_path={checkpoint}"))
    assert failed.value.code == 2
    line = error_line(capsys)
    assert "data.init_args.seed" in line and "42" in line and "7" in line, line
    assert "data.init_args.seed=42" in line and "without --ckpt_path" in line, line
    assert snapshot(tmp_path / "logs") == before  # refused before writing: no new run folder, events or config


def test_a_resume_with_other_split_fractions_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_cli("fit", *tabular())
    with pytest.raises(SystemExit):
        run_cli("fit", *tabular("--data.init_args.val_fraction=0.3", "--trainer.max_epochs=2", "--ckpt_path=last"))
    line = error_line(capsys)
    assert "data.init_args.val_fraction" in line and "0.15" in line and "0.3" in line, line


def test_the_override_switch_resumes_with_a_warning(tmp_path: Path) -> None:
    run_cli("fit", *tabular())
    changed = ("--data.init_args.seed=7", "--data.init_args.allow_split_change=true", "--trainer.max_epochs=2")
    with pytest.warns(UserWarning, match=r"data\.init_args\.seed was 42, now 7"):
        resumed = run_cli("fit", *tabular(*changed, "--ckpt_path=last"))
    assert resumed.trainer.current_epoch == 2


def test_a_resume_with_the_same_split_still_works(tmp_path: Path) -> None:
    run_cli("fit", *tabular())
    resumed = run_cli("fit", *tabular("--trainer.max_epochs=2", "--ckpt_path=last"))
    assert resumed.trainer.current_epoch == 2


def test_a_checkpoint_saved_before_split_identities_still_resumes(tmp_path: Path) -> None:
    run_cli("fit", *tabular())
    checkpoint = torch.load(tmp_path / LAST, weights_only=True)
    assert "split" in checkpoint["TabularDataModule"]
    del checkpoint["TabularDataModule"]["split"]
    torch.save(checkpoint, tmp_path / LAST)
    resumed = run_cli("fit", *tabular("--data.init_args.seed=7", "--trainer.max_epochs=2", "--ckpt_path=last"))
    assert resumed.trainer.current_epoch == 2


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict"])
def test_evaluating_a_checkpoint_on_another_split_is_allowed(tmp_path: Path, subcommand: str) -> None:
    """Only fit's resume is refused: scoring a checkpoint on other data is a choice, not a leak into training."""
    run_cli("fit", *tabular())
    run_cli(subcommand, *tabular("--data.init_args.seed=7", f"--ckpt_path={LAST}"))


def csv_table(path: Path, rows: int) -> Path:
    path.write_text("x,y\n" + "".join(f"{i * 0.1:.1f},{(i * 0.37) % 1:.3f}\n" for i in range(rows)))
    return path


def test_a_resume_on_an_edited_csv_is_refused_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Rows appended to the CSV move others between the splits, though every option is the same."""
    csv = csv_table(tmp_path / "table.csv", 100)
    options = ("--data.init_args.source=null", f"--data.init_args.csv={csv}", "--data.init_args.target=y")
    run_cli("fit", *tabular(*options))
    csv_table(csv, 120)
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *tabular(*options, "--trainer.max_epochs=2", "--ckpt_path=last"))
    assert failed.value.code == 2
    line = error_line(capsys)
    assert "data.init_args.csv" in line and "sha256" in line, line


def test_a_resume_of_mnist_with_another_val_size_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_cli("fit", *tiny_args(epochs=1))
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *tiny_args("--data.init_args.val_size=600", "--ckpt_path=last", epochs=2))
    assert failed.value.code == 2
    line = error_line(capsys)
    assert "data.init_args.val_size was 500, now 600" in line, line


def fitting() -> SimpleNamespace:
    """Stands in for the Trainer while it restores a checkpoint in `fit`."""
    return SimpleNamespace(state=SimpleNamespace(fn="fit"))


MOVING = {"frame_size": 32, "digit_size": 14, "train_sequences": 8, "val_sequences": 4, "test_sequences": 4}


@pytest.mark.parametrize(("option", "value"), [("seed", 1), ("val_digits", 400), ("test_digits", 900)])
def test_moving_mnist_refuses_a_resume_on_other_held_out_digits(option: str, value: int) -> None:
    saved = MovingMNISTDataModule(**MOVING).state_dict()
    resumed = MovingMNISTDataModule(**MOVING, **{option: value})
    resumed.trainer = fitting()  # type: ignore[assignment]
    with pytest.raises(UserError, match=rf"data\.init_args\.{option} was \d+, now {value}"):
        resumed.load_state_dict(saved)


def test_cifar10_refuses_a_resume_with_another_val_size(tmp_path: Path) -> None:
    saved = CIFAR10DataModule(data_dir=str(tmp_path), val_size=50).state_dict()
    resumed = CIFAR10DataModule(data_dir=str(tmp_path), val_size=60)
    resumed.trainer = fitting()  # type: ignore[assignment]
    with pytest.raises(UserError, match=r"data\.init_args\.val_size was 50, now 60"):
        resumed.load_state_dict(saved)


def test_outside_fit_a_checkpoint_of_another_split_loads() -> None:
    """Lightning restores the datamodule for validate/test/predict too; only a fit resume is checked."""
    saved = TabularDataModule(source="diabetes", seed=42).state_dict()
    other = TabularDataModule(source="diabetes", seed=7)
    other.trainer = SimpleNamespace(state=SimpleNamespace(fn="test"))  # type: ignore[assignment]
    other.load_state_dict(saved)
    assert other.scaler == saved["scaler"]

"""Exact resume (stopped mid-epoch or after an epoch, continued with `--ckpt_path last`) and same-seed determinism."""

import signal
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli
from tests.reliability.helpers import (
    assert_same_weights,
    callback_option,
    snapshot,
    tiny_args,
    versions,
    weights,
)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Reference: three epochs without a stop."""
    import os

    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("reference"))
    try:
        cli = run_cli("fit", *tiny_args())
        return {
            "weights": weights(cli.model),
            "metrics": {k: float(v) for k, v in cli.trainer.callback_metrics.items()},
        }
    finally:
        os.chdir(here)


@pytest.mark.parametrize(
    ("step", "signum", "code"),
    [(3, 15, 143), (7, 15, 143), (5, 2, 130)],
    ids=["SIGTERM-before-any-checkpoint", "SIGTERM-mid-epoch", "SIGINT-epoch-end"],
)
def test_resume_after_a_signal_is_exact(uninterrupted: dict, tmp_path: Path, step: int, signum: int, code: int) -> None:
    handler = signal.getsignal(signum)
    with pytest.raises(SystemExit) as stopped:
        run_cli("fit", *tiny_args(callback_option("SignalAtStep", step=step, signum=signum)))
    assert stopped.value.code == code
    assert signal.getsignal(signum) is handler  # the process's own handler is back after the run
    last = tmp_path / "logs/mnist_mlp/version_0/checkpoints/last.ckpt"
    assert last.is_file()
    resumed = run_cli("fit", *tiny_args("--ckpt_path=last"))
    assert resumed.trainer.global_step == 15
    assert_same_weights(weights(resumed.model), uninterrupted["weights"])
    assert versions(tmp_path) == ["version_0"]  # the resumed run continued in its own folder
    assert torch.load(last, weights_only=True)["global_step"] == 15  # last.ckpt itself moved on: no last-v1.ckpt
    assert sorted(p.name for p in last.parent.glob("last*")) == ["last.ckpt"]
    assert (tmp_path / "logs/mnist_mlp/version_0/config_resume_1.yaml").is_file()
    assert (tmp_path / "logs/mnist_mlp/version_0/provenance_resume_1.json").is_file()  # beside the first record
    assert (tmp_path / "logs/mnist_mlp/version_0/provenance.json").is_file()


def test_resume_after_an_epoch_end_checkpoint_is_exact(uninterrupted: dict, tmp_path: Path) -> None:
    run_cli("fit", *tiny_args(epochs=1))  # as if killed right after epoch 0's checkpoint
    resumed = run_cli("fit", *tiny_args("--ckpt_path=last"))
    assert_same_weights(weights(resumed.model), uninterrupted["weights"])


def test_new_fit_never_overwrites_an_earlier_run(tmp_path: Path) -> None:
    run_cli("fit", *tiny_args(epochs=1))
    first = {p: p.stat().st_mtime_ns for p in (tmp_path / "logs/mnist_mlp/version_0").rglob("*") if p.is_file()}
    run_cli("fit", *tiny_args(epochs=1))
    assert versions(tmp_path) == ["version_0", "version_1"]
    assert {p: p.stat().st_mtime_ns for p in first} == first


def test_resume_without_a_logger_finds_last_ckpt_and_writes_no_config(uninterrupted: dict, tmp_path: Path) -> None:
    """With trainer.logger false there are no run folders: checkpoints go to ./checkpoints, config.yaml nowhere."""
    no_logger = tmp_path / "no_logger.yaml"  # LearningRateMonitor needs a logger: a list of its own replaces it
    no_logger.write_text(  # exact resume needs the RNG streams in the checkpoint, so the list keeps that callback
        "trainer:\n  logger: false\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"
        "      init_args:\n        save_last: true\n    - blueprint.checkpointing.rng_state.RNGStateCheckpoint\n"
    )
    run_cli("fit", *tiny_args("-c", str(no_logger), epochs=1))
    resumed = run_cli("fit", *tiny_args("-c", str(no_logger), "--ckpt_path=last"))
    assert_same_weights(weights(resumed.model), uninterrupted["weights"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "no_logger.yaml"]


def test_resume_without_a_checkpoint_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *tiny_args("--ckpt_path=last"))
    assert failed.value.code == 2
    assert "no checkpoint found" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


ONE_CYCLE = (
    '--model.init_args.scheduler={"class_path":"torch.optim.lr_scheduler.OneCycleLR","init_args":{"max_lr":0.01}}',
    "--model.init_args.scheduler_interval=step",
)


def test_a_one_cycle_run_resumes_to_its_end_but_cannot_be_stretched(tmp_path: Path, capsys) -> None:
    """The restored OneCycleLR keeps its length: extending max_epochs fails at the start, naming the fix.

    The refusal comes before the resumed run writes its config or metrics into the run's folder (Lightning has
    only opened an empty TensorBoard events file by then).
    """
    run_cli("fit", *tiny_args(*ONE_CYCLE, epochs=1))
    before = snapshot(tmp_path / "logs")
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *tiny_args(*ONE_CYCLE, "--ckpt_path=last", epochs=2))
    assert failed.value.code == 2
    error = capsys.readouterr().err
    assert "OneCycleLR was built for 5 steps but this run takes 10" in error, error[-2000:]
    assert "resume with the run's original max_epochs" in error and "Traceback" not in error
    after = snapshot(tmp_path / "logs")
    assert {path: after[path] for path in before} == before
    assert [path.name.split(".")[0] for path in after.keys() - before.keys()] == ["events"]  # no config_resume_1
    resumed = run_cli("fit", *tiny_args(*ONE_CYCLE, "--ckpt_path=last", epochs=1))  # to its original end: fine
    assert resumed.trainer.global_step == 5


def test_same_seed_gives_identical_metrics_and_weights(uninterrupted: dict) -> None:
    """Determinism on CPU: a second run with the same seed reproduces every logged metric and every weight exactly."""
    again = run_cli("fit", *tiny_args())
    assert_same_weights(weights(again.model), uninterrupted["weights"])
    metrics = {k: float(v) for k, v in again.trainer.callback_metrics.items()}
    assert metrics == uninterrupted["metrics"] and "val/acc" in metrics


def test_last_ckpt_follows_epochs_that_do_not_beat_the_best(tmp_path: Path) -> None:
    """A crash resumes from the newest epoch, not the best one (lr 0: every epoch after the first ties the best)."""
    run_cli("fit", *tiny_args("--model.init_args.optimizer.init_args.lr=0"))
    checkpoints = tmp_path / "logs/mnist_mlp/version_0/checkpoints"
    assert [p.name for p in checkpoints.glob("best*")] == ["best-epoch=00.ckpt"]
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (2, 15)

"""Small pieces the reliability tests share: a tiny fast run of configs/mnist_mlp.yaml and test-only callbacks."""

import os
import signal
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from tests.conftest import config, run_cli

STEPS_PER_EPOCH = 5


def tiny_args(*extra: str, epochs: int = 3) -> list[str]:
    """mnist_mlp with a small net and 5 batches an epoch; dropout and augmentation stay on (they use RNG)."""
    return [
        "-c",
        config("mnist_mlp.yaml"),
        "--model.init_args.net.init_args.hidden=[32]",
        "--data.init_args.batch_size=32",
        f"--trainer.max_epochs={epochs}",
        f"--trainer.limit_train_batches={STEPS_PER_EPOCH}",
        "--trainer.limit_val_batches=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.logger.init_args.log_graph=false",
        "--test_after_fit=false",
        *extra,
    ]


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def versions(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "logs" / "mnist_mlp").glob("version_*"))


class SignalAtStep(Callback):
    """Sends a signal to this process after the given optimizer step, as a scheduler or Ctrl+C would.

    With times=2 it sends it again gap_ms later, as a launcher that forwards the signal (or a second Ctrl+C) does.
    """

    def __init__(self, step: int, signum: int = int(signal.SIGTERM), times: int = 1, gap_ms: int = 5) -> None:
        self.step = step
        self.signum = signum
        self.times = times
        self.gap_s = gap_ms / 1000

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            for repeat in range(self.times):
                if repeat:
                    time.sleep(self.gap_s)  # the handler runs for each signal, not once for both
                os.kill(os.getpid(), self.signum)


class KillRankAtStep(Callback):
    """SIGKILL to one rank of a distributed run after the given step, as the out-of-memory killer would."""

    def __init__(self, step: int, rank: int = 1) -> None:
        self.step, self.rank = step, rank

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step and trainer.global_rank == self.rank:
            os.kill(os.getpid(), signal.SIGKILL)


class SlowSteps(Callback):
    """Makes every training step last at least `ms` milliseconds, like a large model's step."""

    def __init__(self, ms: int) -> None:
        self.seconds = ms / 1000

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        time.sleep(self.seconds)


class PoisonWeightsAtStep(Callback):
    """Fills the first weight matrix with NaN before the given step, so that step's loss is non-finite."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.parameters()).fill_(float("nan"))


def callback_option(name: str, **init_args: int) -> str:
    """CLI option appending one of the callbacks above to the config's trainer.callbacks."""
    args = ", ".join(f'"{key}": {value}' for key, value in init_args.items())
    return f'--trainer.callbacks+={{"class_path": "tests.reliability.helpers.{name}", "init_args": {{{args}}}}}'


def snapshot(root: Path) -> dict[Path, tuple[int, bytes]]:
    """Every file under root with its mtime and content, to prove nothing was overwritten."""
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


class RecordShards(Callback):
    """Writes, per rank, a fingerprint of every training sample seen per epoch and the final validation metrics."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.seen: dict[int, list[int]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        rows = batch[0].detach().cpu().flatten(1).numpy()
        self.seen.setdefault(trainer.current_epoch, []).extend(hash(row.tobytes()) for row in rows)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import json

        metrics = {key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("val/")}
        background = getattr(trainer.strategy.checkpoint_io, "background", None)
        record = {"world_size": trainer.world_size, "seen": self.seen, "val": metrics, "background": background}
        Path(self.out_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


def error_line(capsys: pytest.CaptureFixture) -> str:
    """The run's one `error:` line (and no traceback)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def finished_tiny_run(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A one-epoch tiny run in a fresh folder (logs/mnist_mlp/version_0), for module-scoped fixtures."""
    root, here = tmp_path_factory.mktemp(name), os.getcwd()
    os.chdir(root)
    try:
        run_cli("fit", *tiny_args(epochs=1))
    finally:
        os.chdir(here)
    return root

"""One rank of test_ddp_resume: five 2-process fits in this process, each run in its own folder under the given root.

`uninterrupted` trains 2 epochs. `stopped_rank0` gets a SIGTERM after step 7 (mid-epoch 1) in rank 0's process
only, as `kill`, `timeout` or `docker stop` send it to `blueprint fit` (Lightning starts rank 1 from it), so rank 1
stops through the ranks' joint decision. `stopped_everywhere` gets it in every rank after step 3 (mid-epoch 0, before
any checkpoint), as SLURM and torchrun send it. Both are resumed with `--ckpt_path last`. The test starts one such
process per rank with the environment torchrun gives, so the process group and the imports are paid once.
Run: python -m tests.reliability.ddp_resume_run ROOT (with LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT set).
"""

import json
import os
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from tests.conftest import CONFIGS, run_cli
from tests.reliability.helpers import SignalAtStep, tiny_args

HERE = "tests.reliability.ddp_resume_run"  # this module's name even when it runs as __main__
STOPS = {  # run folder: (callback sending the SIGTERM, after which of the 10 steps)
    "stopped_rank0": (f"{HERE}.SignalRankZeroAtStep", 7),
    "stopped_everywhere": ("tests.reliability.helpers.SignalAtStep", 3),
}
DDP = (
    "-c",
    str(CONFIGS / "presets" / "ddp.yaml"),
    "--trainer.accelerator=cpu",
    "--trainer.devices=2",
    "--trainer.sync_batchnorm=false",  # GPUs only
    f'--trainer.callbacks+={{"class_path": "{HERE}.SeedPerRank"}}',
)


class SeedPerRank(Callback):
    """Seeds each rank differently (seed + rank), so dropout masks differ between ranks and so do the RNG streams.

    Lightning seeds every rank alike; a user who wants independent dropout per rank does this, and then rank 1's
    stream is not rank 0's: a resume must restore each rank's own.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        L.seed_everything(torch.initial_seed() + trainer.global_rank, verbose=False)


class SignalRankZeroAtStep(SignalAtStep):
    """SIGTERM to rank 0's process only, after the given step."""

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_rank == 0:
            super().on_train_batch_end(trainer, *args)


def fit(root: Path, name: str, *extra: str) -> int:
    """One fit in root/name; its exit code (0, or 143 after the SIGTERM stop)."""
    folder = root / name
    folder.mkdir(exist_ok=True)
    os.chdir(folder)
    try:
        run_cli("fit", *tiny_args(*DDP, *extra, epochs=2))
    except SystemExit as stopped:
        return int(stopped.code or 0)
    return 0


def signal_option(class_path: str, step: int) -> str:
    """CLI option adding a callback that sends SIGTERM after `step`."""
    return f'--trainer.callbacks+={{"class_path": "{class_path}", "init_args": {{"step": {step}}}}}'


def main(root: Path) -> None:
    torch.set_num_threads(1)  # 2 processes on 2 cores; the same count in every fit, so the same float sums
    report: dict[str, list[int]] = {"exit_codes": [fit(root, "uninterrupted")], "stopped_at_step": []}
    for name, (callback, step) in STOPS.items():
        report["exit_codes"].append(fit(root, name, signal_option(callback, step)))
        last = torch.load(root / name / "logs/mnist_mlp/version_0/checkpoints/last.ckpt", weights_only=True)
        report["stopped_at_step"].append(last["global_step"])
        report["exit_codes"].append(fit(root, name, "--ckpt_path=last"))
    (root / f"rank{os.environ['LOCAL_RANK']}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

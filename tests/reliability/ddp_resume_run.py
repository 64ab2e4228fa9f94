"""One rank of test_ddp_resume: three 2-process fits in this process, each in its own folder under the given root.

`uninterrupted` trains 2 epochs; `stopped` gets a SIGTERM on every rank after step 7 (mid-epoch, as a scheduler
sends it) and is resumed there with `--ckpt_path last`. The test starts one such process per rank with torchrun's
environment variables, so the process group and the imports are paid once for all three fits.
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
from tests.reliability.helpers import callback_option, tiny_args

STOP_AT_STEP = 7  # of 10: epoch 1, batch 2
DDP = (
    "-c",
    str(CONFIGS / "presets" / "ddp.yaml"),
    "--trainer.accelerator=cpu",
    "--trainer.devices=2",
    "--trainer.sync_batchnorm=false",  # GPUs only
    '--trainer.callbacks+={"class_path": "tests.reliability.ddp_resume_run.SeedPerRank"}',
)


class SeedPerRank(Callback):
    """Seeds each rank differently (seed + rank), so dropout masks differ between ranks and so do the RNG streams.

    Lightning seeds every rank alike; a user who wants independent dropout per rank does this, and then rank 1's
    stream is not rank 0's: a resume must restore each rank's own.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        L.seed_everything(torch.initial_seed() + trainer.global_rank, verbose=False)


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


def main(root: Path) -> None:
    torch.set_num_threads(1)  # 2 processes on 2 cores; the same count in every fit, so the same float sums
    codes = [
        fit(root, "uninterrupted"),
        fit(root, "stopped", callback_option("SignalAtStep", step=STOP_AT_STEP)),
    ]
    stopped_at = torch.load(root / "stopped/logs/mnist_mlp/version_0/checkpoints/last.ckpt", weights_only=True)
    codes.append(fit(root, "stopped", "--ckpt_path=last"))
    report = {"exit_codes": codes, "stopped_at_step": stopped_at["global_step"]}
    (root / f"rank{os.environ['LOCAL_RANK']}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

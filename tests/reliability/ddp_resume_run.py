"""One rank of test_ddp_resume: five 2-process fits in this process, each run in its own folder under the given root.

`uninterrupted` trains 2 epochs and counts the collectives blueprint's code issues inside ordinary steps (none
may). `stopped_mid_epoch1` gets a SIGTERM in every rank after step 7 (mid-epoch 1), `stopped_everywhere` after step 3
(mid-epoch 0, before any checkpoint), as SLURM, torchrun and Lightning's own launcher deliver it; Lightning agrees
on the stop step across ranks. Both are resumed with `--ckpt_path last`. The test starts one such
process per rank with the environment torchrun gives, so the process group and the imports are paid once.
Run: python -m tests.reliability.ddp_resume_run ROOT (with LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT set).
"""

import importlib
import json
import os
import sys
import traceback
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from tests.conftest import CONFIGS, run_cli
from tests.reliability.helpers import tiny_args

BLUEPRINT_SOURCE = os.path.join("src", "blueprint", "")
HERE = "tests.reliability.ddp_resume_run"  # this module's name even when it runs as __main__
STOPS = {  # run folder: (callback sending the SIGTERM, after which of the 10 steps)
    "stopped_mid_epoch1": ("tests.reliability.helpers.SignalAtStep", 7),
    "stopped_everywhere": ("tests.reliability.helpers.SignalAtStep", 3),
}
DDP = (
    "-c",
    str(CONFIGS / "presets" / "ddp.yaml"),
    "--trainer.accelerator=cpu",
    "--trainer.devices=2",
    "--trainer.sync_batchnorm=false",  # GPUs only
    "--trainer.log_every_n_steps=2",  # the NaN check's cadence falls inside the run
    f'--trainer.callbacks+={{"class_path": "{HERE}.SeedPerRank"}}',
)


class SeedPerRank(Callback):
    """Seeds each rank differently (seed + rank), so dropout masks differ between ranks and so do the RNG streams.

    Lightning seeds every rank alike; a user who wants independent dropout per rank does this, and then rank 1's
    stream is not rank 0's: a resume must restore each rank's own.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        L.seed_everything(torch.initial_seed() + trainer.global_rank, verbose=False)


class CountBlueprintCollectives(Callback):
    """Counts torch.distributed calls made from blueprint's source between a step's start and its end.

    DDP's gradient all-reduce runs in C++ and Lightning's own per-step broadcast is Lightning's: neither calls from
    a blueprint frame, so they are not counted; a callback of ours that synchronised ranks every step would be.
    """

    calls = 0
    NAMES = ("all_reduce", "broadcast", "all_gather", "all_gather_object", "barrier", "broadcast_object_list")

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.in_step = False
        for name in self.NAMES:
            original = getattr(torch.distributed, name)
            setattr(torch.distributed, name, self._counting(original))

    def _counting(self, original):
        def counted(*args, **kwargs):
            if self.in_step and any(BLUEPRINT_SOURCE in frame.filename for frame in traceback.extract_stack()):
                type(self).calls += 1
            return original(*args, **kwargs)

        return counted

    def on_train_batch_start(self, *args: object) -> None:
        self.in_step = True

    def on_train_batch_end(self, *args: object) -> None:
        self.in_step = False


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
    counter = f'--trainer.callbacks+={{"class_path": "{HERE}.CountBlueprintCollectives"}}'
    report: dict[str, list[int]] = {"exit_codes": [fit(root, "uninterrupted", counter)], "stopped_at_step": []}
    # the CLI imported the callback under this module's name, not __main__'s
    report["blueprint_collectives_in_steps"] = [importlib.import_module(HERE).CountBlueprintCollectives.calls]
    for name, (callback, step) in STOPS.items():
        report["exit_codes"].append(fit(root, name, signal_option(callback, step)))
        last = torch.load(root / name / "logs/mnist_mlp/version_0/checkpoints/last.ckpt", weights_only=True)
        report["stopped_at_step"].append(last["global_step"])
        report["exit_codes"].append(fit(root, name, "--ckpt_path=last"))
    (root / f"rank{os.environ['LOCAL_RANK']}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

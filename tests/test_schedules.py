"""Each LR schedule, read back from the TensorBoard event file that LearningRateMonitor wrote, follows its formula."""

import math
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.optim.schedules import WarmupCosineLR
from tests.conftest import config, run_cli
from tests.fast import QUIET, TINY_NET

BASE_LR, EPOCHS, BATCHES = 0.1, 6, 2
STEPS = EPOCHS * BATCHES


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def _one_cycle(step: int) -> float:
    """torch's OneCycleLR defaults (pct_start 0.3, div 25, final div 1e4) over the trainer's 12 steps."""
    initial, peak_end = BASE_LR / 25, 0.3 * STEPS - 1
    if step <= peak_end:
        return _cos(initial, BASE_LR, step / peak_end)
    return _cos(BASE_LR, initial / 1e4, (step - peak_end) / (STEPS - 1 - peak_end))


def _warmup_cosine(step: int) -> float:
    warmup = 3
    if step < warmup:
        return BASE_LR * (step + 1) / warmup
    return _cos(BASE_LR, 0.0, (step - warmup) / (STEPS - warmup))


# name -> (scheduler class_path, init_args, expected LR per epoch (epoch schedules) or per step (step schedules))
SCHEDULES = {
    "step": ("torch.optim.lr_scheduler.StepLR", {"step_size": 2, "gamma": 0.5}, lambda e: BASE_LR * 0.5 ** (e // 2)),
    "multistep": (
        "torch.optim.lr_scheduler.MultiStepLR",
        {"milestones": "[1,3]", "gamma": 0.1},
        lambda e: BASE_LR * 0.1 ** sum(e >= m for m in (1, 3)),
    ),
    "exponential": ("torch.optim.lr_scheduler.ExponentialLR", {"gamma": 0.8}, lambda e: BASE_LR * 0.8**e),
    "cosine": (
        "torch.optim.lr_scheduler.CosineAnnealingLR",
        {"T_max": 5, "eta_min": 0.01},
        lambda e: _cos(BASE_LR, 0.01, e / 5),
    ),
    # No improvement ever counts (threshold 10x), patience 0: halves after every epoch but the first.
    "plateau": (
        "torch.optim.lr_scheduler.ReduceLROnPlateau",
        {"mode": "max", "factor": 0.5, "patience": 0, "threshold": 10.0},
        lambda e: BASE_LR * 0.5 ** max(0, e - 1),
    ),
    "onecycle": ("torch.optim.lr_scheduler.OneCycleLR", {"max_lr": BASE_LR}, _one_cycle),
    "warmup_cosine": ("blueprint.optim.WarmupCosineLR", {"warmup_steps": 3}, _warmup_cosine),
    # Given total_steps, WarmupCosineLR is still stepped every batch (scheduler_interval stays at its default, epoch).
    "warmup_cosine_sized": (
        "blueprint.optim.WarmupCosineLR",
        {"warmup_steps": 3, "total_steps": STEPS},
        _warmup_cosine,
    ),
}
STEPPED_EVERY_BATCH = {"onecycle", "warmup_cosine", "warmup_cosine_sized"}


@pytest.mark.parametrize("name", SCHEDULES)
def test_logged_lr_follows_schedule(name: str, tmp_path: Path) -> None:
    class_path, init_args, expected = SCHEDULES[name]
    monitor_only = tmp_path / "lr_monitor.yaml"  # replaces the experiment's callbacks with one LR monitor
    monitor_only.write_text(
        "trainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.LearningRateMonitor\n"
        "      init_args:\n        logging_interval: null\n"
    )
    sched = "--model.init_args.scheduler."
    cli = run_cli(
        "fit",
        "-c",
        config("mnist_mlp.yaml"),
        "-c",
        str(monitor_only),
        "--model.init_args.optimizer.class_path=torch.optim.SGD",
        f"--model.init_args.optimizer.init_args.lr={BASE_LR}",
        f"{sched}class_path={class_path}",
        *(f"{sched}init_args.{k}={v}" for k, v in init_args.items()),
        f"--trainer.max_epochs={EPOCHS}",
        f"--trainer.limit_train_batches={BATCHES}",
        "--trainer.limit_val_batches=1",
        "--trainer.log_every_n_steps=1",
        "--trainer.logger.init_args.log_graph=false",
        "--test_after_fit=false",
        *QUIET,
        *TINY_NET["mnist_mlp.yaml"],
    )
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"scalars": 0}).Reload()
    logged = [event.value for event in events.Scalars("lr-SGD")]
    count = STEPS if name in STEPPED_EVERY_BATCH else EPOCHS
    assert len(logged) == count
    assert logged == pytest.approx([expected(i) for i in range(count)], rel=1e-5, abs=1e-9)


def test_warmup_cosine_needs_total_steps_only_outside_a_trainer() -> None:
    import torch

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="total_steps"):
        WarmupCosineLR(optimizer, warmup_steps=2)
    schedule = WarmupCosineLR(optimizer, warmup_steps=2, total_steps=6, min_factor=0.1)
    lrs = []
    for _ in range(7):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step(), schedule.step()
    assert lrs[:3] == pytest.approx([0.5, 1.0, 1.0]) and lrs[-1] == pytest.approx(0.1)

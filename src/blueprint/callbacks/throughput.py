"""Samples per second per training epoch, at the cost of one integer add per step and no device sync per step.

Lightning's ThroughputMonitor synchronizes CUDA and logs on every step; this callback measures whole epochs
instead, which is what a user compares between runs, and is cheap enough to leave on by default.
"""

import time
from typing import Any

import lightning as L
import torch
from torch import Tensor


def batch_size_of(batch: Any) -> int:
    """Samples in a batch: the length of its first tensor (works for tuples, lists, dicts and bare tensors)."""
    while not isinstance(batch, Tensor):
        if isinstance(batch, dict):
            batch = next(iter(batch.values()))
        elif isinstance(batch, list | tuple):
            batch = batch[0]
        else:
            return 0
    return int(batch.shape[0]) if batch.dim() else 1


class SamplesPerSecond(L.Callback):
    """Logs `train/samples_per_sec` (and `train/epoch_sec`) once per epoch; keeps every epoch's figures for scripts.

    The rate is training samples over the epoch's wall time up to `on_train_epoch_end`, which Lightning calls after
    the epoch's validation and checkpoints: the pace of the whole run, not of the training steps alone.

    `epoch_marks` holds the wall-clock time at each training epoch start plus one at the end of training, so
    differences of consecutive marks are whole epochs including validation, checkpointing and logging.
    `cpu_marks` holds the process CPU time at the same points (steadier than wall time on a busy machine).
    """

    def __init__(self, prog_bar: bool = False, log: bool = True) -> None:
        self.prog_bar = prog_bar
        self.log = log
        self.epoch_marks: list[float] = []
        self.cpu_marks: list[float] = []
        self.epoch_samples: list[int] = []
        self._samples = 0
        self._start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._samples = 0
        self._start = time.perf_counter()
        self.epoch_marks.append(self._start)
        self.cpu_marks.append(time.process_time())

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._samples += batch_size_of(batch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)  # once per epoch, so the clock sees finished work
        seconds = max(time.perf_counter() - self._start, 1e-9)
        self.epoch_samples.append(self._samples * trainer.world_size)
        if trainer.barebones or not self.log:  # barebones forbids self.log; figures stay readable on the callback
            return
        rate = self._samples * trainer.world_size / seconds
        pl_module.log("train/samples_per_sec", rate, prog_bar=self.prog_bar, sync_dist=False)
        pl_module.log("train/epoch_sec", seconds, sync_dist=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_marks.append(time.perf_counter())
        self.cpu_marks.append(time.process_time())

    def epoch_seconds(self, cpu: bool = False) -> list[float]:
        """Seconds of each finished epoch (start to next start, the last one to the end of training)."""
        marks = self.cpu_marks if cpu else self.epoch_marks
        return [b - a for a, b in zip(marks, marks[1:], strict=False)]

"""Write a DataModule's splits into a LitData stream folder with `litdata.optimize` (see stream_format for layout).

Samples are the tensors the in-memory path serves, so a run from the stream trains on the same data. Moving MNIST's
training sequences, rendered fresh every epoch in memory, are rendered once here, chunk by chunk, so any number of
them fits in bounded memory.
"""

import multiprocessing
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import litdata
import torch
from torch import Tensor

from blueprint.data.base import InMemoryDataModule
from blueprint.data.batched import CropFlip
from blueprint.data.moving_digits import moving_digits
from blueprint.data.moving_mnist import MovingMNISTDataModule
from blueprint.streaming.format import INFO_FILE, SPLITS, StreamInfo

ROWS_PER_TASK = 1024  # samples one optimize task writes: tasks are what the progress bar counts


@dataclass(frozen=True)
class Rows:
    """Task: samples start..stop-1 of one split held in memory."""

    tensors: tuple[Tensor, ...]
    start: int
    stop: int


@dataclass(frozen=True)
class RenderedSequences:
    """Task: `count` fresh Moving MNIST sequences drawn from the generator seed `seed`."""

    module: MovingMNISTDataModule
    count: int
    seed: int


def samples(task: Rows | RenderedSequences) -> Iterator[tuple[Tensor, ...]]:
    """litdata.optimize's `fn`: one task -> its samples, each a tuple of tensors (inputs first).

    In a forked writer process torch gets one thread, as DataLoader workers do: OpenMP threads do not survive a fork,
    and a multi-threaded op there (rendering) can hang.
    """
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)
    if isinstance(task, Rows):
        for index in range(task.start, task.stop):
            yield tuple(t[index].clone() for t in task.tensors)  # a view would serialize its whole storage
        return
    module = task.module
    generator = torch.Generator().manual_seed(task.seed)
    frames = moving_digits(
        module.pools["train"], task.count, module.total_frames, module.frame_size, module.num_digits, module.speed,
        generator,
    )  # fmt: skip
    for sequence in (frames * 255).round().to(torch.uint8):
        yield (sequence.clone(),)


def tasks(module: InMemoryDataModule, split: str, train_sequences: int | None) -> list[Rows | RenderedSequences]:
    """The split cut into tasks; Moving MNIST's train split is rendered (train_sequences, or the module's count)."""
    if isinstance(module, MovingMNISTDataModule) and split == "train":
        total = train_sequences or module.sequences["train"]
        counts = [min(ROWS_PER_TASK // 4, total - start) for start in range(0, total, ROWS_PER_TASK // 4)]
        base = (module.seed * 1000 + 3) * 1_000_003
        return [RenderedSequences(module, count, base + index) for index, count in enumerate(counts)]
    tensors = module.splits[split]
    total = len(tensors[0])
    if split == "train":  # LitData shuffles chunks and a window of samples: a split sorted by class must not stay so
        order = torch.randperm(total, generator=torch.Generator().manual_seed(module.seed))
        tensors = tuple(t[order] for t in tensors)
    return [Rows(tensors, start, min(start + ROWS_PER_TASK, total)) for start in range(0, total, ROWS_PER_TASK)]


def describe(module: InMemoryDataModule, counts: dict[str, int], first: tuple[Tensor, ...]) -> StreamInfo:
    """stream.json for a module's splits: shapes, classes, layout and the augmentation its training used."""
    transform = module.train_transform()
    augment = None
    if isinstance(transform, CropFlip):
        augment = {"padding": transform.padding, "hflip": transform.hflip, "fill": transform.fill}
    frames = module.input_frames if isinstance(module, MovingMNISTDataModule) else None
    classes = getattr(module, "classes", None)
    return StreamInfo(
        input_shape=list(module.input_shape),
        stored_shape=list(first[0].shape),
        num_samples=counts,
        layout="tensors" if frames is None else "frames",
        num_classes=getattr(module, "num_classes", None),
        classes=list(classes) if classes is not None else None,
        input_frames=frames,
        augment=augment,
        source={"class_path": f"{type(module).__module__}.{type(module).__name__}", "split": module.split_identity()},
    )


def start_method() -> str:
    """fork starts workers in a fraction of a second (spawn re-imports torch in each); spawn where fork is unsafe."""
    return "fork" if sys.platform == "linux" else "spawn"


def write_split(
    split_tasks: list[Rows | RenderedSequences], out: Path, num_workers: int, chunk_bytes: str, verbose: bool
) -> None:
    """One LitData folder, written by litdata.optimize with its progress bar.

    optimize sets the process-wide multiprocessing start method and a SIGINT handler that exits with status 0 (so a
    later Ctrl+C in a notebook or test run would end it silently); the caller's method and handler come back.
    """
    before = multiprocessing.get_start_method(allow_none=True)
    sigint_handler = signal.getsignal(signal.SIGINT)
    try:
        litdata.optimize(
            fn=samples,
            inputs=split_tasks,
            output_dir=str(out),
            chunk_bytes=chunk_bytes,
            num_workers=num_workers,
            start_method=start_method(),
            verbose=verbose,
            mode="overwrite",
        )
    finally:
        multiprocessing.set_start_method(before, force=True)
        signal.signal(signal.SIGINT, sigint_handler)


def write_stream(
    module: InMemoryDataModule,
    out: Path,
    num_workers: int = 1,
    chunk_bytes: str = "64MB",
    train_sequences: int | None = None,
    verbose: bool = True,
) -> StreamInfo:
    """All three splits and stream.json (written last: a folder without it is refused as incomplete)."""
    module.setup()
    counts: dict[str, int] = {}
    first: tuple[Tensor, ...] = ()
    for split in SPLITS:
        split_tasks = tasks(module, split, train_sequences)
        counts[split] = sum(task.count if isinstance(task, RenderedSequences) else task.stop - task.start
                            for task in split_tasks)  # fmt: skip
        if split == "train":
            first = next(samples(split_tasks[0]))
        write_split(split_tasks, out / split, num_workers, chunk_bytes, verbose)
    info = describe(module, counts, first)
    (out / INFO_FILE).write_text(info.to_json())
    return info


def summary(info: StreamInfo) -> dict[str, Any]:
    """What the command prints when done."""
    return {"samples": info.num_samples, "input_shape": info.input_shape, "layout": info.layout}

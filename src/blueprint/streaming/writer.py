"""Write a DataModule's splits into a LitData stream folder with `litdata.optimize` (see stream_format for layout).

Samples are the tensors the in-memory path serves, so a run from the stream trains on the same data. The module cuts
each split into parts (its `stream_parts` hook): rows of a split held in memory, or samples it renders in the
writer processes (Moving MNIST's training sequences, so any number of them fits in bounded memory).
"""

import multiprocessing
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import litdata
import torch
from torch import Tensor

from blueprint.data.base import InMemoryDataModule
from blueprint.data.batched import CropFlip
from blueprint.data.stream_parts import StreamPart
from blueprint.streaming.format import INFO_FILE, SPLITS, StreamInfo


def samples(part: StreamPart) -> Iterator[tuple[Tensor, ...]]:
    """litdata.optimize's `fn`: one part -> its samples, each a tuple of tensors (inputs first).

    In a forked writer process torch gets one thread, as DataLoader workers do: OpenMP threads do not survive a fork,
    and a multi-threaded op there (rendering) can hang.
    """
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)
    yield from part.samples()


def describe(module: InMemoryDataModule, counts: dict[str, int], first: tuple[Tensor, ...]) -> StreamInfo:
    """stream.json for a module's splits: shapes, classes, layout and the augmentation its training used."""
    transform = module.train_transform()
    augment = None
    if isinstance(transform, CropFlip):
        augment = {"padding": transform.padding, "hflip": transform.hflip, "fill": transform.fill}
    classes = getattr(module, "classes", None)
    return StreamInfo(
        input_shape=list(module.input_shape),
        stored_shape=list(first[0].shape),
        num_samples=counts,
        num_classes=getattr(module, "num_classes", None),
        classes=list(classes) if classes is not None else None,
        augment=augment,
        source={"class_path": f"{type(module).__module__}.{type(module).__name__}", "split": module.split_identity()},
        **module.stream_layout(),
    )


def start_method() -> str:
    """fork starts workers in a fraction of a second (spawn re-imports torch in each); spawn where fork is unsafe."""
    return "fork" if sys.platform == "linux" else "spawn"


def write_split(parts: list[StreamPart], out: Path, num_workers: int, chunk_bytes: str, verbose: bool) -> None:
    """One LitData folder, written by litdata.optimize with its progress bar.

    optimize sets the process-wide multiprocessing start method and a SIGINT handler that exits with status 0 (so a
    later Ctrl+C in a notebook or test run would end it silently); the caller's method and handler come back.
    """
    before = multiprocessing.get_start_method(allow_none=True)
    sigint_handler = signal.getsignal(signal.SIGINT)
    try:
        litdata.optimize(
            fn=samples,
            inputs=parts,
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
        parts = module.stream_parts(split, train_sequences)
        counts[split] = sum(part.count for part in parts)
        if split == "train":
            first = next(samples(parts[0]))
        write_split(parts, out / split, num_workers, chunk_bytes, verbose)
    info = describe(module, counts, first)
    (out / INFO_FILE).write_text(info.to_json())
    return info


def summary(info: StreamInfo) -> dict[str, Any]:
    """What the command prints when done."""
    return {"samples": info.num_samples, "input_shape": info.input_shape, "layout": info.layout}

"""Write a DataModule's splits into a LitData stream folder with `litdata.optimize` (see stream_format for layout).

Samples are the tensors the in-memory path serves, so a run from the stream trains on the same data. The module cuts
each split into parts (its `stream_parts` hook): rows of a split held in memory, or samples it renders in the
writer processes (Moving MNIST's training sequences, so any number of them fits in bounded memory).

The splits are written into a hidden sibling folder renamed to the stream folder when complete: a reader never sees
half a stream, and an interrupted or failed write leaves nothing that blocks running the same command again.
"""

import contextlib
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any
from unittest import mock

import litdata
import torch
from litdata.processing.data_processor import DataProcessor
from torch import Tensor
from tqdm import tqdm

from blueprint.cli.processes import end_children
from blueprint.data.base import InMemoryDataModule
from blueprint.data.batched import CropFlip
from blueprint.data.stream_parts import StreamPart
from blueprint.streaming.format import INFO_FILE, SPLITS, StreamInfo

# LitData's chunk_bytes: a number of bytes, or a number with a unit (its utilities.format._FORMAT_TO_RATIO)
CHUNK_BYTES = re.compile(r"(\d+(\.\d*)?|\.\d+)\s*(tb|gb|mb|kb|t|g|m|k|b)", re.IGNORECASE)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WRITER_STOP_S = 10.0  # SIGTERM -> SIGKILL, for a writer stuck in a write


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the command ran; its exit status is 128 + the signal, as a shell reports."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def parse_chunk_bytes(text: str) -> int | str:
    """--chunk_bytes as litdata.optimize takes it: digits alone are an int (LitData reads a str only with a unit)."""
    value = text.strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if CHUNK_BYTES.fullmatch(value) and float(re.sub(r"[^\d.]", "", value)) > 0:
        return value
    raise ValueError(f"{text!r} is not a chunk size; give bytes (64000000) or a size with a unit (64MB, 1GB, 500KB)")


def stop(signum: int, frame: FrameType | None = None) -> None:
    """Handler for SIGINT/SIGTERM: the command cleans up and exits 128 + signum; a forked writer just ends quietly
    (Ctrl+C reaches every process of the group; the command terminates its writers anyway)."""
    if multiprocessing.parent_process() is not None:
        os._exit(128 + signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted while inside; the caller's handlers come back after."""
    before = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


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


def write_split(parts: list[StreamPart], out: Path, num_workers: int, chunk_bytes: int | str, verbose: bool) -> None:
    """One LitData folder, written by litdata.optimize with its progress bar.

    optimize sets the process-wide multiprocessing start method and a SIGINT handler that exits with status 0, which
    made an interrupted write look successful: its handler is replaced by `stop` here, and the caller's method and
    handler come back after.
    """
    before = multiprocessing.get_start_method(allow_none=True)
    sigint_handler = signal.getsignal(signal.SIGINT)
    try:
        with mock.patch.object(DataProcessor, "_signal_handler", lambda _self, signum, frame: stop(signum, frame)):
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
    chunk_bytes: int | str = "64MB",
    train_sequences: int | None = None,
    verbose: bool = True,
) -> StreamInfo:
    """All three splits and stream.json, written into a hidden sibling folder that becomes `out` when complete.

    `out` must not exist or be an empty folder (which the rename replaces). On any failure or interrupt the writer
    processes are ended and the sibling removed before the exception goes on.
    """
    module.setup()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        info = write_splits(module, partial, num_workers, chunk_bytes, train_sequences, verbose)
        partial.replace(out)
    except BaseException:
        end_children(WRITER_STOP_S)  # litdata.optimize's writers, left running when it is interrupted
        close_progress_bars()
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return info


def write_splits(
    module: InMemoryDataModule,
    out: Path,
    num_workers: int,
    chunk_bytes: int | str,
    train_sequences: int | None,
    verbose: bool,
) -> StreamInfo:
    """Each split's LitData folder, then stream.json."""
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


def close_progress_bars() -> None:
    """An interrupted optimize leaves its bar open; closed at exit it would print after the command's error line."""
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def summary(info: StreamInfo) -> dict[str, Any]:
    """What the command prints when done."""
    return {"samples": info.num_samples, "input_shape": info.input_shape, "layout": info.layout}

"""Writing checkpoints: atomically (temp file, fsync, rename), checked, and optionally off the training thread."""

import errno
import io
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO

from blueprint.errors import TrainingStopped, UserError

BACKGROUND_MAX_BYTES = 1 << 30  # larger checkpoints are written on the training thread, not copied into memory
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
ZIP_START = b"PK\x03\x04"  # torch.save's format since torch 1.6, the only one that can be memory-mapped
LEGACY_START = torch.serialization.MAGIC_NUMBER.to_bytes(10, "little")  # pickled first by the older format
UNREADABLE_FIX = "use another checkpoint, e.g. an earlier best-*.ckpt"
TEMP_NAME = re.compile(r"\..+\.tmp-(\d+)")  # .last.ckpt.tmp-<pid of the writer>


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to a temp file, fsync, then os.replace: a crash never leaves a half-written checkpoint.

    The first checkpoint this object writes is reloaded with weights_only=True before it lands, so a run whose
    checkpoints could never be resumed fails at its first save; later saves of the run hold the same kinds of
    objects, so they skip the reload (~3 ms each) and get a size check after the rename instead.

    With `background=True` and a single process the checkpoint is serialized into memory on the training thread (a
    snapshot: training may change the weights right after) and written, synced and renamed by one worker thread, so
    the disk write and fsync (~6 ms for 3 MB here, far more on network filesystems) overlap training; removals
    queue behind the writes. A failed write raises at the next save or at `wait()`/`teardown()` (end of fit), and
    nothing queued behind it runs: the removal of the old best after a new best that failed would leave no best.
    """

    def __init__(self, background: bool = False) -> None:
        super().__init__()
        self.verified = False
        self.background = background
        self._worker: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._failed = False  # set by the worker; cleared by wait() once the queue is empty

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        self._raise_failed()
        target = Path(path)
        if self.background and not distributed() and tensor_bytes(checkpoint) <= BACKGROUND_MAX_BYTES:
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            if not self.verified:
                self._verify(buffer, target)
            data = buffer.getbuffer()
            self._submit(lambda: write_atomically(target, lambda temp: temp.write_bytes(data)))
            return
        self.wait()  # a checkpoint written here must not be overtaken by an older one still queued

        def verify_first(temp: Path) -> None:
            if not self.verified:
                self._verify(temp, target)

        write_atomically(target, lambda temp: save_to_file(checkpoint, temp), check=verify_first)

    def _verify(self, source: Path | IO[bytes], target: Path) -> None:
        """Loadable with weights_only=True, or the save fails loudly."""
        if isinstance(source, io.BytesIO):
            source.seek(0)
        load_weights_only(source, f"checkpoint {str(target)!r}")
        self.verified = True

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        """Reads wait for queued writes: the LR and batch-size finders save, search, then restore in one process."""
        self.wait()
        if map_location is None:
            return super().load_checkpoint(path, weights_only=weights_only)
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)

    def remove_checkpoint(self, path: Any) -> None:
        if self.background:
            self._submit(lambda: super(AtomicCheckpointIO, self).remove_checkpoint(path))
        else:
            super().remove_checkpoint(path)

    def _submit(self, job: Callable[[], None]) -> None:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer")
        self._pending.append(self._worker.submit(self._unless_failed, job))

    def _unless_failed(self, job: Callable[[], None]) -> None:
        """On the worker: run `job` unless a job queued before it failed (the failure is still to be reported)."""
        if self._failed:
            return
        try:
            job()
        except BaseException:
            self._failed = True
            raise

    def _raise_failed(self) -> None:
        """Forget finished jobs (every save calls this first); re-raise the first failure, once."""
        for future in [f for f in self._pending if f.done()]:
            self._pending.remove(future)
            if future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def wait(self) -> None:
        """Block until every queued write and removal has finished; raise the first failure."""
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending]
        failed = [e for e in errors if e is not None]
        self._failed = False  # the queue is empty: later jobs run again
        if failed:
            raise failed[0]

    def teardown(self) -> None:
        try:
            self.wait()
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None


def tensor_bytes(tree: Any) -> int:
    """Bytes of all tensors in a nested checkpoint dict (what serializing it would copy)."""
    if isinstance(tree, torch.Tensor):
        return tree.nelement() * tree.element_size()
    if isinstance(tree, dict):
        return sum(tensor_bytes(v) for v in tree.values())
    if isinstance(tree, list | tuple):
        return sum(tensor_bytes(v) for v in tree)
    return 0


def save_to_file(checkpoint: dict[str, Any], path: Path) -> None:
    """torch.save through a Python file: a full disk then raises OSError(ENOSPC), not a bare RuntimeError."""
    with path.open("wb") as file:
        torch.save(checkpoint, file)


def write_atomically(target: Path, write: Callable[[Path], Any], check: Callable[[Path], None] | None = None) -> None:
    """write(temp) -> fsync -> check(temp) -> rename over target; the target is never half-written.

    A full disk raises TrainingStopped naming the folder and its free space (measured once the temp file is gone).
    """
    try:
        _write_and_rename(target, write, check)
    except Exception as err:
        if not _is_disk_full(err):
            raise
        free = shutil.disk_usage(target.parent).free
        raise TrainingStopped(
            f"no space left to write checkpoint {target.name} in {str(target.parent)!r} ({free} bytes free); the "
            "checkpoints already there are kept: free some space or log to another disk "
            "(--trainer.logger.init_args.save_dir), then continue with --ckpt_path last"
        ) from err


def _is_disk_full(err: BaseException | None) -> bool:
    """ENOSPC/EDQUOT anywhere in the chain: torch.save reports a full disk as a RuntimeError raised in its handler."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            return True
        err = err.__cause__ or err.__context__
    return False


def _write_and_rename(target: Path, write: Callable[[Path], Any], check: Callable[[Path], None] | None) -> None:
    """The steps of write_atomically; the temp file is gone (renamed or removed) when this returns or raises."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")  # matches TEMP_NAME
    try:
        write(temp)
        _fsync(temp)
        size = temp.stat().st_size
        if check is not None:
            check(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    if not target.is_file() or target.stat().st_size != size:
        raise OSError(f"checkpoint {target} was not written (expected {size} bytes on disk)")


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """A writer killed mid-write leaves its temp file, as large as a checkpoint; remove those of dead writers."""
    stale = [path for path in folder.glob(".*.tmp-*") if _written_by_a_dead_process(path)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _written_by_a_dead_process(path: Path) -> bool:
    """The temp file's writer (its PID, on this machine) no longer runs; a live writer's file is kept."""
    match = TEMP_NAME.fullmatch(path.name)
    return match is not None and int(match.group(1)) != 0 and not process_exists(int(match.group(1)))


def process_exists(pid: int) -> bool:
    """A process with this PID runs on this machine (another user's counts too)."""
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _fsync(path: Path) -> None:
    """Flush the file's data to disk, so a power cut after the rename cannot leave an empty checkpoint."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load_weights_only(source: str | os.PathLike | IO[bytes], label: str) -> dict[str, Any]:
    """torch.load with weights_only=True (memory-mapped for files); every failure is one UserError naming `label`."""
    mmap = _can_mmap(source, label)
    try:
        checkpoint = torch.load(source, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "Weights only load failed" in str(err):
            raise UserError(
                f"{label} holds pickled Python objects and is refused (weights_only=True); "
                "re-save it with plain hyperparameters"
            ) from err
        raise UserError(
            f"{label} is not a readable checkpoint (truncated or corrupt: {first}); {UNREADABLE_FIX}"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{label} is not a Lightning checkpoint (no state_dict); pass a .ckpt from `fit`")
    return checkpoint


def _can_mmap(source: str | os.PathLike | IO[bytes], label: str) -> bool:
    """Zip-format files are memory-mapped; legacy-format ones (valid, but not mappable) are read into memory."""
    if not isinstance(source, str | os.PathLike):
        return False
    try:
        with open(source, "rb") as file:
            head = file.read(len(LEGACY_START) + 4)
    except OSError as err:
        raise UserError(f"{label} cannot be read ({err}); {UNREADABLE_FIX}") from err
    if head.startswith(ZIP_START):
        return True
    if LEGACY_START in head:
        return False
    raise UserError(
        f"{label} is not a readable checkpoint (neither of torch.save's formats: corrupt, or not a checkpoint); "
        + UNREADABLE_FIX
    )


def distributed() -> bool:
    """Several processes: other ranks may read a checkpoint right after the save's barrier (testing the best
    checkpoint after fit does, on every rank), so it must be on disk when save_checkpoint returns."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def wait_for_checkpoints(trainer: L.Trainer) -> None:
    """Block until queued checkpoint writes are on disk (before exiting on a signal, for instance)."""
    wait = getattr(trainer.strategy.checkpoint_io, "wait", None)
    if callable(wait):
        wait()

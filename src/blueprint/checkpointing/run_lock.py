"""One process at a time continues a run: two `fit --ckpt_path last` of one run folder would interleave its files.

Standard library only, so a lock holder starts fast. The lock is an flock on `<run>/.resume.lock`: the system
releases it when its process dies however it dies, so a lock is never stale; the file names the holder's PID.
"""

import atexit
import errno
import fcntl
import os
import warnings
from pathlib import Path

from blueprint.errors import UserError

LOCK_NAME = ".resume.lock"
_held: dict[Path, int] = {}  # run folder -> open descriptor of its lock file (closing it releases the lock)


def hold_run_lock(run: Path) -> None:
    """Lock `run` for this process until release_run_locks(); UserError naming the folder and the other PID."""
    if run.resolve() in _held:
        return
    descriptor = _lock(run / LOCK_NAME, run)
    if descriptor is None:
        return
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    _held[run.resolve()] = descriptor


def _lock(path: Path, run: Path) -> int | None:
    """An open descriptor of `path` holding its flock, or None where the filesystem refuses one (with a warning)."""
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            _go_on_unlocked(path, err)
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _read_pid(descriptor)
            os.close(descriptor)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UserError(
                    f"--ckpt_path last: run folder {str(run)!r} is being continued by another process (PID {holder}); "
                    "wait for it to end or stop it, then resume"
                ) from None
            _go_on_unlocked(path, err)
            return None
        if _is_linked(descriptor, path):
            return descriptor
        os.close(descriptor)  # the holder released and removed it between our open and flock: lock the new file


def _go_on_unlocked(path: Path, err: OSError) -> None:
    """A filesystem without flock (or a read-only folder) must not block resuming: warn instead."""
    warnings.warn(f"cannot lock {path} ({err}): make sure no other process continues this run", stacklevel=4)


def _is_linked(descriptor: int, path: Path) -> bool:
    """The locked file is still the one at `path` (not one its last holder has just removed)."""
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False


def _read_pid(descriptor: int) -> str:
    """The PID the holder wrote into the lock file, for the message ('?' while it is still writing it)."""
    text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "?"


def release_run_locks() -> None:
    """Remove and unlock every run lock this process holds (at exit, or when an in-process CLI call ends)."""
    while _held:
        run, descriptor = _held.popitem()
        (run / LOCK_NAME).unlink(missing_ok=True)
        os.close(descriptor)


atexit.register(release_run_locks)

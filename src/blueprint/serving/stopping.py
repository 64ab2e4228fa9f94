"""How `blueprint serve` stops: SIGTERM or SIGINT to its process id alone ends the server and every process it started.

LitServe's `run` stops gracefully on KeyboardInterrupt only (Ctrl+C): it ends its uvicorn processes first, which
answer the requests in flight, then its inference workers. SIGTERM's default action ends the main process alone, and
its forked and spawned children, re-parented, keep answering on the port. So both signals raise KeyboardInterrupt in
the main process, and whatever is still running on the way out (a signal before LitServe's shutdown path began, a
child that would not stop) is ended.
"""

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from blueprint.cli.processes import end_children

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
CHILD_STOP_S = 5.0  # SIGTERM -> SIGKILL, for a child left running after LitServe's own shutdown


@contextmanager
def stopped_by_signals() -> Iterator[list[int]]:
    """Inside, SIGTERM and SIGINT stop the server as Ctrl+C does; yields the signals received (exit 128 + signal)."""
    main_pid = os.getpid()
    received: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:  # a forked child (LitServe's manager) inherited this handler: end as by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)  # a repeat interrupts LitServe's graceful stop; the children still end below
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield received
    except KeyboardInterrupt:
        if not received:
            raise
        # raised before LitServe's shutdown path began (workers still loading), or by a repeat during it: the
        # children are ended below, and the caller exits with the signal's status, not a traceback
    finally:
        # ending the children must not be cut short by another signal: both are ignored from one instant on
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # one that came meanwhile is dropped: ignored now
        end_children(CHILD_STOP_S)  # LitServe's workers, uvicorn and manager, if any outlived its shutdown
        for signum, handler in previous.items():
            signal.signal(signum, handler)

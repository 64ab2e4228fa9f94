"""The processes a command started (LitServe's workers and HTTP servers, litdata.optimize's writers), ended on its way
out: a child left running keeps a port or a write going, and Python's exit would wait for it forever."""

import multiprocessing


def end_children(timeout_s: float) -> None:
    """Terminates the multiprocessing children still running, then kills any still alive after `timeout_s`."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout_s)
        if child.is_alive():
            child.kill()
            child.join()

"""The checkpoint is checked in a child process while LitServe starts its inference worker.

Both import torch and Lightning, which is most of a cold start, so they do it at once; the main process imports
neither and never holds the model. The worker loads the model only once the check passed; a refused checkpoint makes
it fail its setup quietly, LitServe's `run` raises, and the main process prints the check's one-line reason. LitServe
has bound the port by then, but nothing listens on it until the worker is ready.
"""

import multiprocessing
import signal
import threading
from multiprocessing.connection import Connection

import litserve as ls

FORK = multiprocessing.get_context("fork")  # the check starts from this small process, with no interpreter to start
SPAWN = multiprocessing.get_context("spawn")  # LitServe spawns its workers: what they wait on must come from here


class Verdict:
    """The check's outcome, shared with the spawned worker, which waits for it before loading the model."""

    def __init__(self) -> None:
        self.decided = SPAWN.Event()
        self.passed = SPAWN.Value("b", False)

    def accept(self) -> None:
        self.passed.value = True
        self.decided.set()

    def refuse(self) -> None:
        self.decided.set()

    def refused(self) -> bool:
        """Whether a refusal is known already (the worker then needs not import torch)."""
        return self.decided.is_set() and not self.passed.value

    def wait(self, timeout_s: float) -> bool:
        """Whether the check passed, once it decided."""
        if not self.decided.wait(timeout_s):
            raise RuntimeError(f"the checkpoint check did not finish within {timeout_s:g} s")
        return bool(self.passed.value)


def check(ckpt_path: str, verdicts: Connection) -> None:
    """In the child: rebuild the served model as the worker will, then send its card or the one-line refusal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C stops the main process, which ends this one
    from blueprint.errors import UserError
    from blueprint.serving.checkpoint import load_served_model  # torch and Lightning: in this child only

    try:
        verdicts.send(("card", load_served_model(ckpt_path).card()))
    except UserError as err:
        verdicts.send(("refused", str(err)))


class CheckpointCheck:
    """Forks the check at once (before the main process starts any thread); `watch` waits for its verdict."""

    def __init__(self, ckpt_path: str) -> None:
        self.ckpt_path = ckpt_path
        self.verdict = Verdict()
        self.refusal: str | None = None  # the one-line reason the main process prints
        self.verdicts, sender = FORK.Pipe(duplex=False)
        self.process = FORK.Process(target=check, args=(ckpt_path, sender), name="checkpoint-check", daemon=True)
        self.process.start()
        sender.close()

    def watch(self, server: ls.LitServer) -> None:
        """In a thread: a card becomes GET /info's model card and lets the worker load the model; a refusal is kept
        here, then the worker hears of it."""
        threading.Thread(target=self.wait_for_verdict, args=(server,), name="checkpoint-check", daemon=True).start()

    def wait_for_verdict(self, server: ls.LitServer) -> None:
        try:
            kind, value = self.verdicts.recv()
        except EOFError:  # the child ended without a verdict
            self.process.join()
            if self.process.exitcode == -signal.SIGTERM:
                return  # ended by the server's own stop
            kind, value = "refused", f"ckpt_path {self.ckpt_path!r} could not be checked (the check process " \
                f"exited with {self.process.exitcode}); run `blueprint predict` on it to see why"  # fmt: skip
        if kind == "card":
            server.model_metadata = value  # read by GET /info, which answers only once the worker is ready
            self.verdict.accept()
        else:
            self.refusal = value
            self.verdict.refuse()

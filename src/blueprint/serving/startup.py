"""The inference worker checks the checkpoint as it loads it, and tells the main process how that went.

The main process imports neither torch nor Lightning and never holds the model: it starts LitServe at once, and the
worker's loading (serving/checkpoint.py, which refuses a missing, corrupt or foreign checkpoint in one line) is the
only one. Before LitServe marks the worker ready, the worker sends the model card for GET /info, or its refusal,
which the main process prints once LitServe's `run` has raised for the failed worker. LitServe has bound the port by
then, but nothing listens on it before the worker is ready.
"""

import multiprocessing
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

import litserve as ls

SPAWN = multiprocessing.get_context("spawn")  # LitServe spawns its workers: what they share must come from here
CARD_WAIT_S = 60.0  # how long a worker waits for the main process to keep its card (it does so at once)


@dataclass
class WorkerLine:
    """The worker's end, pickled into it with the LitAPI."""

    sender: Connection
    card_kept: Event

    def card(self, card: dict[str, Any]) -> None:
        """Returns once the main process has the card, so GET /info has it when the server answers."""
        self.sender.send(("card", card))
        if not self.card_kept.wait(CARD_WAIT_S):
            raise RuntimeError(f"the main process did not take the model card within {CARD_WAIT_S:g} s")

    def refusal(self, reason: str) -> None:
        self.sender.send(("refused", reason))


class StartupWatch:
    """The main process's end: `watch` keeps what the workers send while LitServe's `run` starts them."""

    def __init__(self) -> None:
        self.receiver, sender = SPAWN.Pipe(duplex=False)
        self.line = WorkerLine(sender, SPAWN.Event())
        self.refusal: str | None = None
        self.thread: threading.Thread | None = None

    def watch(self, server: ls.LitServer) -> None:
        self.thread = threading.Thread(target=self.receive, args=(server,), name="startup-watch", daemon=True)
        self.thread.start()

    def receive(self, server: ls.LitServer) -> None:
        """A card (one per worker) becomes GET /info's model card; a refusal is kept, and ends the watch."""
        while self.refusal is None:
            kind, value = self.receiver.recv()
            if kind == "card":
                server.model_metadata = value  # the HTTP processes are forked from this one once the workers are ready
                self.line.card_kept.set()
            else:
                self.refusal = value

    def refused(self) -> str | None:
        """After LitServe's `run` raised for a failed worker: its refusal, sent before it failed, else None."""
        if self.thread is not None:
            self.thread.join(timeout=1.0)  # the refusal is in the pipe already; a worker that crashed sent none
        return self.refusal

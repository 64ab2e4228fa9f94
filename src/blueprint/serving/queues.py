"""Requests and answers pass straight between the HTTP process and the inference worker.

LitServe 0.2 passes both through a multiprocessing Manager's queues: every put and get is a round trip through a third
process, four per request, and the HTTP process waits for answers in a thread that then wakes its event loop. Its
`fast_queue` option would take the answers off it but is ignored (LitServe#751). Here a request goes through a
`multiprocessing.Queue` (its feeder thread writes a large body while the event loop goes on) and an answer through a
pipe the HTTP process's event loop watches: a lone client gets 9-17% more answers a second (docs/serving.md).
Remove this file when LitServe's own queues are direct.
"""

import asyncio
import os
from typing import Any

import litserve as ls
from litserve.transport.base import MessageTransport

from blueprint.serving.startup import SPAWN

LONGEST_WAIT_S = 1.0  # as LitServe's own transport: a wait for an answer ends this often, to see whether to stop


class DirectQueueServer(ls.LitServer):
    """A LitServer whose request queue is a `multiprocessing.Queue` and whose answers travel through `AnswerPipes`."""

    def _init_manager(self, num_api_servers: int) -> Any:  # a multiprocessing Manager
        # LitServe's own queues are made here and never used; the workers' status and the stop event stay shared there
        manager = super()._init_manager(num_api_servers)
        for api_path in self.litapi_request_queues:
            self.litapi_request_queues[api_path] = SPAWN.Queue()
        self._transport = AnswerPipes(num_api_servers)
        return manager


class AnswerPipes(MessageTransport):
    """One pipe to each HTTP process; the workers (one per device) take turns on a pipe, so answers never interleave.

    A pipe holds 64 KB: a worker sending more waits until the HTTP process reads, which it does as soon as its event
    loop runs. A worker that dies mid-answer leaves that HTTP process waiting for the rest of it, and LitServe then
    stops the server (it restarts no workers here).
    """

    def __init__(self, consumers: int) -> None:
        self.pipes = [SPAWN.Pipe(duplex=False) for _ in range(consumers)]  # (reader, writer)
        self.writing = [SPAWN.Lock() for _ in range(consumers)]
        self.closed = False  # set by LitServe as it stops; HTTP processes run as threads see it

    def send(self, item: Any, consumer_id: int) -> None:
        with self.writing[consumer_id]:
            self.pipes[consumer_id][1].send(item)

    async def areceive(self, consumer_id: int, timeout: float | None = None, block: bool = True) -> Any:
        """The next answer for this HTTP process, or None when none came within `timeout` (at most 1 s)."""
        if self.closed:
            raise asyncio.CancelledError("the server is stopping")
        reader = self.pipes[consumer_id][0]
        if not reader.poll():  # nothing there yet: the event loop serves other requests until something is
            loop = asyncio.get_running_loop()
            readable: asyncio.Future[None] = loop.create_future()

            def wake() -> None:
                if not readable.done():
                    readable.set_result(None)

            loop.add_reader(reader.fileno(), wake)
            try:
                await asyncio.wait_for(readable, min(timeout or LONGEST_WAIT_S, LONGEST_WAIT_S))
            except asyncio.TimeoutError:
                return None
            finally:
                loop.remove_reader(reader.fileno())
                os.set_blocking(reader.fileno(), True)  # uvloop made it non-blocking: a long answer is read whole
        return reader.recv()

    def close(self, send_sentinel: bool = True) -> None:
        self.closed = True

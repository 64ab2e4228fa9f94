"""How the inference worker gathers a batch: it sleeps until a request comes, then takes what else is queued.

LitServe's own batched loop (litserve.loops.BatchedLoop) polls its queue every millisecond while it waits out
`batch_timeout`, even when idle (CPU the HTTP process needs on a small machine), so a lone request always waits out
the timeout; and with batch_timeout 0 it never blocks at all: an idle worker spins.
"""

import time
from queue import Queue
from typing import Any

from litserve import LitAPI
from litserve.loops import BatchedLoop
from litserve.transport.base import MessageTransport
from litserve.utils import LitAPIStatus, LoopResponseType

IDLE_WAKE_S = 1.0  # an idle worker wakes this often, only to block again

Request = tuple[Any, str, float, Any]  # LitServe's queue item: response queue id, uid, time queued, body


class QueuedBatchLoop(BatchedLoop):
    """Blocks for a first request. With `batch_timeout` 0 (the default), one that came while the worker waited runs
    at once and alone (the queue was empty: asking it again would only cost a round trip), and one that waited for the
    worker takes along what else queued meanwhile, up to `max_batch_size`: a lone request never waits, and under load
    a batch is whatever queued while the last one ran. With a timeout, a batch waits to fill until `batch_timeout`
    after its first request was queued."""

    def get_batch_requests(
        self, lit_api: LitAPI, request_queue: Queue, transport: MessageTransport
    ) -> tuple[list[tuple[Any, str, Any]], list[tuple[Any, str]]]:
        asked = time.monotonic()
        first = self.get_request(request_queue, timeout=IDLE_WAKE_S)
        if first is None:
            return [], []
        requests: list[Request] = [first]
        if lit_api.batch_timeout == 0 and first[2] >= asked:  # queued after the worker asked: it found the worker idle
            return self.split_timed_out(lit_api, transport, requests)
        deadline = first[2] + lit_api.batch_timeout  # time.monotonic() in the HTTP process: the same clock
        while len(requests) < lit_api.max_batch_size:
            wait = deadline - time.monotonic()
            queued = self.get_request(request_queue, block=wait > 0, timeout=wait if wait > 0 else None)
            if queued is None:
                break
            requests.append(queued)
        return self.split_timed_out(lit_api, transport, requests)

    def split_timed_out(
        self, lit_api: LitAPI, transport: MessageTransport, requests: list[Request]
    ) -> tuple[list[tuple[Any, str, Any]], list[tuple[Any, str]]]:
        """As LitServe's loops do: each request taken is reported started, and one queued for longer than the
        server's `timeout` is answered 504 instead of run."""
        payloads, timed_out = [], []
        applies = lit_api.request_timeout not in (-1, False, None)
        for response_queue_id, uid, queued_at, body in requests:
            self.put_response(transport, response_queue_id, uid, (), LitAPIStatus.START, LoopResponseType.REGULAR)
            if applies and time.monotonic() - queued_at > lit_api.request_timeout:
                timed_out.append((response_queue_id, uid))
            else:
                payloads.append((response_queue_id, uid, body))
        return payloads, timed_out

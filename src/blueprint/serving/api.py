"""The LitServe API: the main process builds it without importing torch or Lightning; its worker loads the model.

The work itself (decoding, the forward pass, the answer) lives in serving/inference.py, which only the inference
worker imports: the main process stays small and starts the worker sooner.
"""

import logging
from typing import TYPE_CHECKING, Any

import litserve as ls
from fastapi.responses import JSONResponse

from blueprint.errors import UserError
from blueprint.serving.batching import QueuedBatchLoop
from blueprint.serving.startup import WorkerLine

if TYPE_CHECKING:
    from blueprint.serving.inference import Inference


class CheckpointAPI(ls.LitAPI):
    """Runs the task's own predict_step on the samples of every request in a LitServe batch at once."""

    def __init__(
        self,
        ckpt_path: str,
        max_batch_size: int = 1,
        batch_timeout: float = 0.0,
        threads: int | None = None,
        line: WorkerLine | None = None,
    ) -> None:
        loop = QueuedBatchLoop() if max_batch_size > 1 else "auto"  # LitServe's single-request loop blocks too
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, loop=loop)
        self.ckpt_path = ckpt_path
        self.threads = threads
        self.line = line  # to the main process: the model card, or why the checkpoint is refused (startup.py)
        self.inference: Inference | None = None

    def setup(self, device: str) -> None:
        """Each inference worker loads the checkpoint itself, onto its device: the one check it gets."""
        from blueprint.serving.inference import Inference  # torch and Lightning: imported by the worker only

        try:
            self.inference = Inference.load(self.ckpt_path, device, self.threads)
        except UserError as err:
            if self.line is None:
                raise
            self.line.refusal(str(err))
            logging.getLogger("litserve").setLevel(logging.CRITICAL)  # the main process prints it, in one line
            raise RuntimeError("the checkpoint was refused") from None  # so LitServe's `run` raises
        if self.line is not None:
            self.line.card(self.inference.model.card())

    def served(self) -> "Inference":
        assert self.inference is not None, "setup() runs before any request"
        return self.inference

    # `dict` (not Request): FastAPI parses the JSON body before queueing, and a malformed one is refused right there
    def decode_request(self, request: dict[str, Any], **kwargs: Any) -> Any:
        return self.served().decode(request)

    def batch(self, inputs: list[Any]) -> list[Any]:
        """Kept as a list: requests may hold several samples each, and refused ones must keep their place."""
        return inputs

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """A list in, a list out; one item without batching."""
        if self.max_batch_size > 1:
            return self.served().predict(x)
        return self.served().predict([x])[0]

    def encode_response(self, output: Any, **kwargs: Any) -> JSONResponse:
        body, status, headers = self.served().response(output)
        return JSONResponse(body, status_code=status, headers=headers)

"""The LitServe API: each request is decoded and checked alone, so one bad request never fails the batch it joined."""

from dataclasses import dataclass
from typing import Any

import litserve as ls
import torch
from fastapi.responses import JSONResponse

from blueprint.serving.checkpoint import ServedModel, load_served_model
from blueprint.serving.requests import BadRequest, Samples, decode
from blueprint.serving.responses import answer

Decoded = Samples | BadRequest  # a refused request travels through the batch as its error, answered with HTTP 400


@dataclass(frozen=True)
class Answered:
    """One request's samples and outputs, and how many requests shared its forward pass (the X-Batch-Size header)."""

    samples: Samples
    outputs: torch.Tensor
    batch_requests: int


class CheckpointAPI(ls.LitAPI):
    """Runs the task's own predict_step on the samples of every request in a LitServe batch at once."""

    def __init__(self, ckpt_path: str, max_batch_size: int = 1, batch_timeout: float = 0.0) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        self.ckpt_path = ckpt_path
        self.model: ServedModel | None = None

    def setup(self, device: str) -> None:
        """Each inference worker loads the checkpoint itself, onto its device."""
        model = load_served_model(self.ckpt_path)
        model.task.to(device)
        self.model = model

    def served(self) -> ServedModel:
        assert self.model is not None, "setup() runs before any request"
        return self.model

    # `dict` (not Request): FastAPI parses the JSON body before queueing, and a malformed one is refused right there
    def decode_request(self, request: dict[str, Any], **kwargs: Any) -> Decoded:
        try:
            model = self.served()
            return decode(request, model.inputs, model.data_class)
        except BadRequest as err:
            return err

    def batch(self, inputs: list[Decoded]) -> list[Decoded]:
        """Kept as a list: requests may hold several samples each, and refused ones must keep their place."""
        return inputs

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """One forward pass over every accepted sample; a list in, a list out (one item without batching)."""
        items: list[Decoded] = x if self.max_batch_size > 1 else [x]
        accepted = [item for item in items if isinstance(item, Samples)]
        if not accepted:
            return items if self.max_batch_size > 1 else items[0]
        task = self.served().task
        with torch.inference_mode():
            inputs = torch.cat([item.inputs for item in accepted]).to(task.device)
            outputs = iter(task.predict_step((inputs,), 0).split([len(item.inputs) for item in accepted]))
        results = [Answered(i, next(outputs), len(accepted)) if isinstance(i, Samples) else i for i in items]
        return results if self.max_batch_size > 1 else results[0]

    def encode_response(self, output: Any, **kwargs: Any) -> JSONResponse:
        """The answer as JSON, or HTTP 400 with the one-line reason (`detail`, as FastAPI words its errors)."""
        if isinstance(output, BadRequest):
            return JSONResponse({"detail": str(output)}, status_code=400)
        model = self.served()
        body = answer(model.task, model.inputs, output.outputs, output.samples.many)
        return JSONResponse(body, headers={"X-Batch-Size": str(output.batch_requests)})

"""The LitServer for one checkpoint, refusals answered in one line; built without torch, Lightning or the model."""

import logging
import platform
import sys
from typing import Any

import litserve as ls
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from litserve.connector import check_cuda_with_nvidia_smi

from blueprint.serving.api import CheckpointAPI
from blueprint.serving.queues import DirectQueueServer
from blueprint.serving.startup import WorkerLine

MB = 1 << 20


def build_server(
    ckpt_path: str,
    max_batch_size: int = 32,
    batch_timeout: float = 0.0,
    accelerator: str = "auto",
    max_payload_mb: float = 8.0,
    threads: int | None = None,
    line: WorkerLine | None = None,
) -> ls.LitServer:
    """GET /health answers 200 once the worker has loaded the model; GET /info returns the model card (task, input
    kind and shape, class names) under "model", sent by the worker over `line` (serving/startup.py); POST /predict
    answers requests, batched up to `max_batch_size`.
    """
    api = CheckpointAPI(ckpt_path, max_batch_size, batch_timeout, threads, line)
    max_bytes = int(max_payload_mb * MB)
    server = DirectQueueServer(api, accelerator=device_kind(accelerator), max_payload_size=max_bytes)
    server.app.add_exception_handler(RequestValidationError, not_a_json_object)
    server.app.add_exception_handler(413, too_large(max_payload_mb))
    return server


class NotAnsweringYet(logging.Filter):
    """Drops uvicorn's "Uvicorn running on ..." notice, logged as LitServe binds the port: the worker has not loaded
    the model then, and may still refuse the checkpoint. LitServe logs "Swagger UI is available at <url>" once the
    server answers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Uvicorn running on")


def device_kind(accelerator: str) -> str:
    """LitServe's "auto" picks a GPU only when torch is already imported, which this process never does: a GPU that
    nvidia-smi lists, else Apple's (asking torch there only), else the CPU."""
    if accelerator != "auto":
        return accelerator
    if check_cuda_with_nvidia_smi() > 0:
        return "cuda"
    if sys.platform == "darwin" and platform.processor() == "arm":
        import torch

        return "mps" if torch.backends.mps.is_available() else "cpu"
    return "cpu"


async def not_a_json_object(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 lists every field; a body that is not a JSON object gets one line and 400."""
    content_type = request.headers.get("content-type", "none")
    if "json" not in content_type:
        detail = f"the body is sent as {content_type!r}; send a JSON object with Content-Type: application/json"
        return JSONResponse({"detail": detail}, status_code=400)
    problems = error.errors() if isinstance(error, RequestValidationError) else []
    problem = problems[0] if problems else {}
    reason = problem.get("ctx", {}).get("error") or problem.get("msg", "unreadable")
    where = f" at character {problem['loc'][1]}" if problem.get("type") == "json_invalid" else ""
    detail = f'the body is not a JSON object ({reason}{where}); send e.g. {{"image": ...}} as GET /info describes'
    return JSONResponse({"detail": detail}, status_code=400)


def too_large(max_payload_mb: float) -> Any:
    """LitServe's size limit answers a bare "Payload too large"; name the limit and the fix."""

    async def answer(request: Request, error: Exception) -> JSONResponse:
        detail = f"the body is larger than the {max_payload_mb:g} MB limit (--max_payload_mb); send fewer samples"
        return JSONResponse({"detail": detail}, status_code=413)

    return answer

"""The server a user would write in ten minutes, which benchmarks/serve_load.py measures `blueprint serve` against.

    uv run python benchmarks/serve_handwritten.py --ckpt_path last.ckpt [--port 8001]

One process, FastAPI + uvicorn. Its plain `def` endpoint (FastAPI runs it in a thread pool) decodes a base64 PNG
digit, normalises it as MNISTDataModule does and runs the net under torch.no_grad. It answers as `blueprint serve`
does for an mnist_cnn checkpoint, and refuses nothing: bad input is a 500.
"""

import argparse
import base64
import io
from typing import Any

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI
from PIL import Image

from blueprint.data.mnist import MEAN, STD
from blueprint.tasks import ClassificationTask


def app_for(task: ClassificationTask) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        pixels = np.array(Image.open(io.BytesIO(base64.b64decode(body["image"]))).convert("L"))
        inputs = (torch.from_numpy(pixels).float() / 255.0 - MEAN) / STD
        with torch.no_grad():
            probabilities = torch.softmax(task(inputs[None, None]), dim=-1)[0].tolist()
        label = max(range(len(probabilities)), key=probabilities.__getitem__)
        return {"label": str(label), "probabilities": {str(k): p for k, p in enumerate(probabilities)}}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt_path", required=True)
    parser.add_argument("--port", type=int, default=8001)
    opts = parser.parse_args()
    task = ClassificationTask.load_from_checkpoint(opts.ckpt_path, map_location="cpu").eval()
    uvicorn.run(app_for(task), host="127.0.0.1", port=opts.port, log_level="warning")


if __name__ == "__main__":
    main()

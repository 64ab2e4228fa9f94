"""The task's predict_step outputs -> JSON answers, with the labels and units `blueprint predict` writes."""

from typing import Any

import torch

from blueprint.tasks import BinaryClassificationTask, ClassificationTask, FramePredictionTask
from blueprint.tasks.base import BaseTask


def answer(task: BaseTask, inputs: dict[str, Any], outputs: torch.Tensor, many: bool) -> dict[str, Any]:
    """Frames for frame prediction; otherwise one prediction per sample (`predictions` when the request sent many)."""
    if isinstance(task, FramePredictionTask):
        return {"frames": frames(outputs, many)}
    predictions = [prediction(task, inputs, output) for output in outputs.float().cpu()]
    return {"predictions": predictions} if many else predictions[0]


def prediction(task: BaseTask, inputs: dict[str, Any], output: torch.Tensor) -> dict[str, Any]:
    """Label and class probabilities, as predictions.csv labels a row; or the value in the target's units."""
    if isinstance(task, BinaryClassificationTask | ClassificationTask):
        binary = isinstance(task, BinaryClassificationTask)
        probabilities = torch.stack([1 - output, output]) if binary else output
        names = class_names(inputs, len(probabilities))
        threshold = float(getattr(task, "threshold", 0.5))  # BinaryClassificationTask's, as predictions.csv uses it
        chosen = int(probabilities[1] > threshold) if binary else int(probabilities.argmax())
        return {"label": names[chosen], "probabilities": dict(zip(names, probabilities.tolist(), strict=True))}
    values = output.reshape(-1).tolist()
    return {"value": values[0] if len(values) == 1 else values}


def class_names(inputs: dict[str, Any], count: int) -> list[str]:
    """The training label order saved with the data; "0".."n-1" when it does not match the net's outputs."""
    classes = inputs.get("classes")
    return list(classes) if classes is not None and len(classes) == count else [str(k) for k in range(count)]


def frames(outputs: torch.Tensor, many: bool) -> list[Any]:
    """(N, T, 1, H, W) in [0, 1] -> uint8 frames in the request's layout, rounded as predictions.npy is."""
    pixels = (outputs.float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).squeeze(2)  # (N, T, H, W)
    return pixels.transpose(0, 1).tolist() if many else pixels[0].tolist()

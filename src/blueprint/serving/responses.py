"""The task's predict_step outputs -> JSON answers, with the labels and units `blueprint predict` writes."""

from typing import Any

import torch

from blueprint.tasks import BinaryClassificationTask, ClassificationTask
from blueprint.tasks.base import BaseTask
from blueprint.tasks.labels import labelled_probabilities


def answer(task: BaseTask, inputs: dict[str, Any], outputs: torch.Tensor, many: bool) -> dict[str, Any]:
    """The task's own answer (frame prediction: frames), else one prediction per sample (`predictions` when the
    request sent many)."""
    own = task.serving_answer(outputs, many)
    if own is not None:
        return own
    outputs = outputs.float().cpu()
    if isinstance(task, BinaryClassificationTask | ClassificationTask):  # labelled as predictions.csv labels a row
        threshold = float(getattr(task, "threshold", 0.5))
        names, labels, probs = labelled_probabilities(outputs, inputs.get("classes"), threshold)
        predictions = [
            {"label": names[k], "probabilities": dict(zip(names, p, strict=True))}
            for k, p in zip(labels, probs.tolist(), strict=True)
        ]
    else:  # the value in the target's units
        predictions = [
            {"value": values[0] if len(values) == 1 else values}
            for values in outputs.reshape(len(outputs), -1).tolist()
        ]
    return {"predictions": predictions} if many else predictions[0]

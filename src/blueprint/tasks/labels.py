"""The classifiers' predict_step outputs as labels: one rule for predictions.csv and for `blueprint serve`."""

import torch


def labelled_probabilities(
    outputs: torch.Tensor, classes: list[str] | None, threshold: float = 0.5
) -> tuple[list[str], list[int], torch.Tensor]:
    """(class names, chosen class per row, (N, C) probabilities) from predict_step's outputs.

    Binary outputs (N,) = P(class 1) become two columns, class 1 chosen when P(class 1) > `threshold` (as the
    task's accuracy and F1 count it); otherwise the most probable class. Names that do not fit become "0".."C-1".
    """
    binary = outputs.dim() == 1
    probs = torch.stack([1 - outputs, outputs], 1) if binary else outputs
    count = probs.shape[1]
    names = list(classes) if classes is not None and len(classes) == count else [str(i) for i in range(count)]
    labels = (probs[:, 1] > threshold).long().tolist() if binary else probs.argmax(1).tolist()
    return names, labels, probs

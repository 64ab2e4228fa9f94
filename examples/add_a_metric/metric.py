"""A custom torchmetrics metric, the worked example of docs/add_a_metric.md."""

import torch
from torchmetrics import Metric


class ConfidentErrorRate(Metric):
    """Share of samples the model gets wrong while being at least `threshold` sure: the errors that hurt most."""

    higher_is_better = False

    def __init__(self, threshold: float = 0.9) -> None:
        super().__init__()
        self.threshold = threshold
        # Sum states add up across batches and across processes under DDP; compute() divides once at the end.
        self.add_state("confident_errors", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        confidence, predicted = torch.softmax(logits, dim=-1).max(dim=-1)
        self.confident_errors += ((predicted != targets) & (confidence >= self.threshold)).sum()
        self.total += targets.numel()

    def compute(self) -> torch.Tensor:
        return self.confident_errors.float() / self.total.clamp(min=1)

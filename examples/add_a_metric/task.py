"""ClassificationTask plus the ConfidentErrorRate metric, the worked example of docs/add_a_metric.md."""

from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from blueprint.tasks import ClassificationTask
from blueprint.tasks.base import default_optimizer
from examples.add_a_metric.metric import ConfidentErrorRate


class ClassificationWithConfidentErrors(ClassificationTask):
    """Also logs val/confident_error and test/confident_error."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
        label_smoothing: float = 0.0,
        confidence_threshold: float = 0.9,
    ) -> None:
        super().__init__(net, optimizer, scheduler, scheduler_interval, loss, label_smoothing)
        for stage_metrics in (self.val_metrics, self.test_metrics):  # a fresh metric object per stage
            stage_metrics.add_metrics({"confident_error": ConfidentErrorRate(confidence_threshold)})

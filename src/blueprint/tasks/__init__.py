"""LightningModules: what is learned and how it is measured. Tasks take an injected net and never touch data files."""

from blueprint.tasks.classification import ClassificationTask
from blueprint.tasks.frame_prediction import FramePredictionTask

__all__ = ["ClassificationTask", "FramePredictionTask"]

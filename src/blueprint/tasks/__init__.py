"""LightningModules: what is learned and how it is measured. Tasks take an injected net and never touch data files."""

from blueprint.tasks.binary_classification import BinaryClassificationTask
from blueprint.tasks.classification import ClassificationTask
from blueprint.tasks.frame_prediction import FramePredictionTask
from blueprint.tasks.regression import RegressionTask

__all__ = ["BinaryClassificationTask", "ClassificationTask", "FramePredictionTask", "RegressionTask"]

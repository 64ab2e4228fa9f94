"""LightningModules: what is learned and how it is measured. Tasks take an injected net and never touch data files."""

from blueprint.tasks.classification import ClassificationTask

__all__ = ["ClassificationTask"]

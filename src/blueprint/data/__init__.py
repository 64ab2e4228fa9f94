"""LightningDataModules and the in-memory batch loader."""

from blueprint.data.loader import InMemoryLoader
from blueprint.data.mnist import MNISTDataModule
from blueprint.data.tabular import TabularDataModule

__all__ = ["InMemoryLoader", "MNISTDataModule", "TabularDataModule"]

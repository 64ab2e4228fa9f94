"""LightningDataModules and the in-memory batch loader."""

from blueprint.data.loader import InMemoryLoader
from blueprint.data.mnist import MNISTDataModule

__all__ = ["InMemoryLoader", "MNISTDataModule"]

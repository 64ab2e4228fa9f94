"""LightningDataModules and the in-memory batch loader."""

from blueprint.data.loader import InMemoryLoader
from blueprint.data.mnist import MNISTDataModule
from blueprint.data.moving_mnist import MovingMNISTDataModule

__all__ = ["InMemoryLoader", "MNISTDataModule", "MovingMNISTDataModule"]

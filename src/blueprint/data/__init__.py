"""LightningDataModules and the in-memory batch loader."""

from blueprint.data.cifar10 import CIFAR10DataModule
from blueprint.data.image_folder import ImageFolderDataModule
from blueprint.data.loader import InMemoryLoader
from blueprint.data.mnist import MNISTDataModule
from blueprint.data.moving_mnist import MovingMNISTDataModule
from blueprint.data.streaming import StreamingDataModule
from blueprint.data.tabular import TabularDataModule

__all__ = [
    "CIFAR10DataModule",
    "ImageFolderDataModule",
    "InMemoryLoader",
    "MNISTDataModule",
    "MovingMNISTDataModule",
    "StreamingDataModule",
    "TabularDataModule",
]

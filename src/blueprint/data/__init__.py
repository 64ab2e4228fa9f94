"""LightningDataModules, and the Dataset their in-memory DataLoaders read whole batches from."""

from blueprint.data.batched import BatchedTensorDataset
from blueprint.data.cifar10 import CIFAR10DataModule
from blueprint.data.image_folder import ImageFolderDataModule
from blueprint.data.mnist import MNISTDataModule
from blueprint.data.moving_mnist import MovingMNISTDataModule
from blueprint.data.tabular import TabularDataModule

__all__ = [
    "BatchedTensorDataset",
    "CIFAR10DataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "MovingMNISTDataModule",
    "TabularDataModule",
]

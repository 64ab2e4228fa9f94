"""What runs on every training step on the data side: whole-batch indexing and per-sample random crop/flip."""

import hashlib
from array import array
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

BatchTransform = Callable[[Tensor, torch.Generator], Tensor]


def batch_generator(seed: int, indices: Sequence[int]) -> torch.Generator:
    """Randomness keyed by (seed, what identifies the batch: its sample indices, or a stream's (epoch, rank, batch)):
    a resumed run draws what the first run drew for the same batch, however far the loader was prefetched; a new
    epoch's shuffle gives new batches, new draws.
    """
    digest = hashlib.blake2b(array("q", [seed, *indices]).tobytes(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def index_tensor(indices: list[int], device: torch.device) -> Tensor:
    """Via an array: 6x faster than torch.as_tensor(list). non_blocking: a pageable copy to a GPU is staged at once."""
    return torch.frombuffer(array("q", indices), dtype=torch.int64).to(device, non_blocking=True)


def whole_batch(batch: Any) -> Any:
    """The DataLoader's collate_fn: `__getitems__` already returns the batch, so there is nothing to stack."""
    return batch


class BatchDataset(Dataset[tuple[Tensor, ...]]):
    """A map-style Dataset whose `__getitems__` returns a whole batch, a tuple of tensors (inputs first)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[0] for t in self.__getitems__([index]))

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        raise NotImplementedError


class BatchedTensorDataset(BatchDataset):
    """A TensorDataset that serves a whole batch with one `index_select` per tensor (DataLoader calls `__getitems__`).

    `transform` (training augmentation) maps the batch's inputs (the first tensor) with per-sample random draws from
    `batch_generator`; the tensors stay where they are (the training device), so a batch never crosses to it.
    """

    def __init__(self, tensors: Sequence[Tensor], transform: BatchTransform | None = None, seed: int = 0) -> None:
        if len({len(t) for t in tensors}) != 1:
            raise ValueError(f"all tensors must have the same length, got {sorted({len(t) for t in tensors})}")
        self.tensors, self.transform, self.seed = tuple(tensors), transform, seed

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        where = index_tensor(indices, self.tensors[0].device)
        batch = tuple(t.index_select(0, where) for t in self.tensors)
        if self.transform is None:
            return batch
        return self.transform(batch[0], batch_generator(self.seed, indices)), *batch[1:]


def random_crop(images: Tensor, padding: int, generator: torch.Generator, fill: float = 0.0) -> Tensor:
    """Pad (B, C, H, W) by `padding` and cut a random H x W window per sample: a random shift of up to +-padding.

    Two gathers (rows, then columns) with per-sample offsets: about 2x faster than one advanced-index gather.
    """
    if padding <= 0:
        return images
    batch, channels, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding), value=fill)
    offsets = torch.randint(0, 2 * padding + 1, (2, batch), generator=generator).to(images.device)
    rows = torch.arange(height, device=images.device)[None, :] + offsets[0][:, None]
    cols = torch.arange(width, device=images.device)[None, :] + offsets[1][:, None]
    picked_rows = padded.gather(2, rows[:, None, :, None].expand(batch, channels, height, width + 2 * padding))
    return picked_rows.gather(3, cols[:, None, None, :].expand(batch, channels, height, width))


def random_hflip(images: Tensor, generator: torch.Generator, p: float = 0.5) -> Tensor:
    """Mirror each sample left-right with probability p, independently."""
    flip = (torch.rand(images.shape[0], generator=generator) < p).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


class CropFlip:
    """A BatchTransform: random crop with padding, then an optional horizontal flip, drawn per sample.

    torchvision's v2 transforms draw one set of parameters per call, so on a batch every sample would move alike.
    """

    def __init__(self, padding: int = 0, hflip: bool = False, fill: float = 0.0) -> None:
        self.padding, self.hflip, self.fill = padding, hflip, fill

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        images = random_crop(images, self.padding, generator, self.fill)
        return random_hflip(images, generator) if self.hflip else images

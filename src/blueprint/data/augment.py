"""Batch augmentation with an independent random draw per sample (torchvision v2 draws one per batch)."""

import torch
from torch import Tensor
from torch.nn import functional as F


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
    """Callable used by InMemoryLoader: random crop with padding, then an optional horizontal flip."""

    def __init__(self, padding: int = 0, hflip: bool = False, fill: float = 0.0) -> None:
        self.padding = padding
        self.hflip = hflip
        self.fill = fill

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        images = random_crop(images, self.padding, generator, self.fill)
        return random_hflip(images, generator) if self.hflip else images

"""Moving MNIST rendering (Srivastava et al. 2015), vectorised: bouncing trajectories and max-combined digits."""

import math

import torch
from torch import Tensor


def trajectories(count: int, frames: int, digits: int, room: int, speed: float, generator: torch.Generator) -> Tensor:
    """Top-left corners (count, frames, digits, 2) in [0, room]: random start and direction, constant speed.

    Bouncing off the edges is a triangle wave of the unfolded straight path, so no per-step Python loop is needed.
    """
    start = torch.rand(count, 1, digits, 2, generator=generator) * room
    angle = torch.rand(count, 1, digits, generator=generator) * 2 * math.pi
    velocity = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1) * speed
    steps = torch.arange(frames, dtype=torch.float32).view(1, frames, 1, 1)
    unfolded = start + velocity * steps
    if room == 0:
        return torch.zeros_like(unfolded, dtype=torch.long)
    folded = torch.remainder(unfolded, 2 * room)
    return (room - (folded - room).abs()).round().long()


def render(digit_images: Tensor, corners: Tensor, canvas: int) -> Tensor:
    """Paste digits (count, digits, d, d) at corners (count, frames, digits, 2) onto (count, frames, canvas, canvas).

    Overlapping digits combine with max, as in the original dataset.
    """
    count, frames, num_digits, _ = corners.shape
    size = digit_images.shape[-1]
    device = digit_images.device
    corners = corners.to(device)
    offsets = torch.arange(size, device=device)
    out = torch.zeros(count, frames, canvas * canvas, dtype=digit_images.dtype, device=device)
    for k in range(num_digits):
        rows = corners[:, :, k, 0, None] + offsets  # (count, frames, d)
        cols = corners[:, :, k, 1, None] + offsets
        index = (rows[..., :, None] * canvas + cols[..., None, :]).flatten(2)
        values = digit_images[:, k].flatten(1)[:, None, :].expand(-1, frames, -1)
        out.scatter_reduce_(2, index, values, reduce="amax")
    return out.view(count, frames, canvas, canvas)


def moving_digits(
    pool: Tensor,
    count: int,
    frames: int,
    canvas: int,
    digits: int,
    speed: float,
    generator: torch.Generator,
) -> Tensor:
    """`count` sequences (count, frames, canvas, canvas) of `digits` digits drawn from `pool` (N, d, d) in [0, 1]."""
    choice = torch.randint(0, len(pool), (count, digits), generator=generator)
    corners = trajectories(count, frames, digits, canvas - pool.shape[-1], speed, generator)
    return render(pool[choice.to(pool.device)], corners, canvas)

"""Moving MNIST: sequences of bouncing real MNIST digits, split into input frames and frames to predict.

Its special cases in `blueprint stream` and `blueprint serve` are hooks of its data module (stream_parts,
stream_layout, stream_batch, decode_request), so those rooms import nothing of this family.
"""

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from blueprint.data.base import InMemoryDataModule, Split
from blueprint.data.batched import BatchDataset, batch_generator, index_tensor
from blueprint.data.mnist import embedded_digits
from blueprint.data.moving_digits import moving_digits
from blueprint.data.raw_inputs import BadRequest, numbers
from blueprint.data.splits import stratified_split
from blueprint.data.stream_parts import ROWS_PER_PART, StreamPart
from blueprint.errors import UserError

CHUNK = 256  # sequences rendered at once when building the fixed splits, to bound memory


def split_clip(frames: Tensor, input_frames: int) -> tuple[Tensor, Tensor]:
    """(B, T, H, W) uint8 or [0, 1] frames -> (inputs, targets) of shape (B, t, 1, H, W) in [0, 1]."""
    frames = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames
    frames = frames.unsqueeze(2)
    return frames[:, :input_frames], frames[:, input_frames:]


class StoredClips(BatchDataset):
    """Fixed uint8 sequences (val, test, the overfit batches) served as (inputs, targets)."""

    def __init__(self, frames: Tensor, input_frames: int) -> None:
        self.frames, self.input_frames = frames, input_frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        return split_clip(self.frames.index_select(0, index_tensor(indices, self.frames.device)), self.input_frames)


class FreshClips(BatchDataset):
    """Training: every batch renders new sequences from (seed, the batch's indices), so a resumed run renders the
    same ones and each epoch's shuffle new ones; the indices only name the batch.
    """

    def __init__(self, pool: Tensor, length: int, input_frames: int, frames: int, canvas: int, digits: int,
                 speed: float, seed: int) -> None:  # fmt: skip
        self.pool, self.length, self.input_frames, self.seed = pool, length, input_frames, seed
        self.frames, self.canvas, self.digits, self.speed = frames, canvas, digits, speed

    def __len__(self) -> int:
        return self.length

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        generator = batch_generator(self.seed, indices)
        clips = moving_digits(self.pool, len(indices), self.frames, self.canvas, self.digits, self.speed, generator)
        return split_clip(clips, self.input_frames)


@functools.cache
def digit_pools(digit_size: int, val_digits: int, test_digits: int, seed: int) -> dict[str, Tensor]:
    """The embedded MNIST digits as (N, d, d) in [0, 1], split exactly like MNISTDataModule (same sizes, same seed).

    Cached: every data module of a process with the same options shares one read-only copy.
    """
    features, labels = embedded_digits()
    images = torch.from_numpy(features.astype(np.float32) / 255.0).view(-1, 1, 28, 28)
    if digit_size != 28:
        images = F.interpolate(images, size=(digit_size, digit_size), mode="bilinear", antialias=True).clamp(0, 1)
    parts = stratified_split(labels, {"test": test_digits, "val": val_digits}, seed, option="data.{name}_digits={size}")
    return {name: images[torch.from_numpy(idx)].squeeze(1) for name, idx in parts.items()}


def load_public_npy(path: str, frames: int, frame_size: int) -> Tensor:
    """The published layout: uint8 array (frames, N, H, W) -> uint8 tensor (N, frames, H, W)."""
    if not Path(path).is_file():
        raise UserError(f"data.test_path {path!r} is not a file; give the path of a Moving MNIST .npy")
    array = np.load(path, mmap_mode="r")
    expected = f"(20, N, 64, 64)-style ({frames}, N, {frame_size}, {frame_size})"
    if array.dtype != np.uint8:
        raise UserError(f"data.test_path {path!r} has dtype {array.dtype}; expected uint8 frames of shape {expected}")
    if array.ndim != 4 or array.shape[0] != frames or array.shape[2:] != (frame_size, frame_size):
        raise UserError(
            f"data.test_path {path!r} has shape {tuple(array.shape)}; expected {expected} "
            "(set data.input_frames + data.target_frames and data.frame_size to match the file)"
        )
    return torch.from_numpy(np.ascontiguousarray(array.transpose(1, 0, 2, 3)))


class MovingMNISTDataModule(InMemoryDataModule):
    """Moving MNIST generated from the embedded digits; val/test use only held-out digits and are fixed by seed."""

    def __init__(
        self,
        frame_size: int = 64,
        num_digits: int = 2,
        digit_size: int = 28,
        input_frames: int = 10,
        target_frames: int = 10,
        speed: float = 3.6,
        train_sequences: int = 10000,
        val_sequences: int = 500,
        test_sequences: int = 1000,
        test_path: str | None = None,
        val_digits: int = 500,
        test_digits: int = 1000,
        batch_size: int = 16,
        eval_batch_size: int = 100,
        seed: int = 0,
        allow_split_change: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, allow_split_change)
        positive = {"input_frames": input_frames, "target_frames": target_frames, "num_digits": num_digits}
        positive |= {"digit_size": digit_size, "train_sequences": train_sequences}
        positive |= {"val_sequences": val_sequences, "test_sequences": test_sequences}
        for name, value in positive.items():
            if value < 1:
                raise UserError(f"data.{name} must be >= 1, got {value}")
        if frame_size < digit_size:
            raise UserError(f"data.frame_size {frame_size} is smaller than data.digit_size {digit_size}; enlarge it")
        if speed < 0:
            raise UserError(f"data.speed must be >= 0 pixels per frame, got {speed}")
        self.frame_size, self.num_digits, self.digit_size, self.speed = frame_size, num_digits, digit_size, speed
        self.input_frames, self.target_frames = input_frames, target_frames
        self.sequences = {"train": train_sequences, "val": val_sequences, "test": test_sequences}
        self.test_path, self.val_digits, self.test_digits = test_path, val_digits, test_digits
        self.input_shape = (input_frames, 1, frame_size, frame_size)
        self.pools: dict[str, Tensor] = {}

    def split_identity(self) -> dict[str, Any]:
        """Training renders from digits held out of val/test (seed, val_digits, test_digits); val is fixed by count."""
        digits = {"val_digits": self.val_digits, "test_digits": self.test_digits}
        return super().split_identity() | digits | {"val_sequences": self.sequences["val"]}

    def serving_inputs(self) -> dict[str, Any]:
        """uint8 frames scaled to [0, 1] as split_clip does; the net answers `target_frames` frames."""
        return {"kind": "frames", "shape": list(self.input_shape), "target_frames": self.target_frames}

    @property
    def total_frames(self) -> int:
        return self.input_frames + self.target_frames

    def fixed_sequences(self, split: str, total: int | None = None) -> Tensor:
        """`total` (default: all) of the split's sequences as uint8 (N, T, H, W), rendered from a per-split seed."""
        generator = torch.Generator().manual_seed(self.seed * 1000 + {"val": 1, "test": 2, "train": 3}[split])
        total = self.sequences[split] if total is None else total
        chunks = []
        for start in range(0, total, CHUNK):
            count = min(CHUNK, total - start)
            frames = moving_digits(
                self.pools[split], count, self.total_frames, self.frame_size, self.num_digits, self.speed, generator
            )
            chunks.append((frames * 255).round().to(torch.uint8))
        return torch.cat(chunks)

    def load_splits(self) -> dict[str, Split]:
        self.pools = dict(digit_pools(self.digit_size, self.val_digits, self.test_digits, self.seed))
        splits: dict[str, Split] = {"train": (torch.arange(self.sequences["train"]),)}  # slots: batches are rendered
        splits["val"] = (self.fixed_sequences("val"),)
        if self.test_path is not None:
            splits["test"] = (load_public_npy(self.test_path, self.total_frames, self.frame_size),)
        else:
            splits["test"] = (self.fixed_sequences("test"),)
        return splits

    def train_dataset(self) -> BatchDataset:
        """Fresh sequences every batch, on the training device; under `trainer.overfit_batches` the same few
        sequences every epoch, rendered once.
        """
        self.setup()
        overfit = self._overfit_batches()
        if overfit:
            batches = int(overfit) if overfit >= 1 else max(1, int(overfit * self.sequences["train"] / self.batch_size))
            return StoredClips(self.fixed_sequences("train", batches * self.batch_size), self.input_frames)
        pool = self.pools["train"].to(self._device())
        return FreshClips(
            pool, self.sequences["train"], self.input_frames, self.total_frames, self.frame_size, self.num_digits,
            self.speed, self.seed,
        )  # fmt: skip

    def eval_dataset(self, name: str) -> BatchDataset:
        (frames,) = self._split(name)
        return StoredClips(frames, self.input_frames)

    def stream_parts(self, split: str, train_samples: int | None = None) -> list[StreamPart]:
        """Training sequences, rendered fresh every epoch in memory, are rendered once by the writer processes, a part
        at a time, so any number of them (`train_samples`, else train_sequences) fits in bounded memory."""
        if split != "train":
            return super().stream_parts(split, train_samples)
        self.setup()
        total, size = train_samples or self.sequences["train"], ROWS_PER_PART // 4
        base = (self.seed * 1000 + 3) * 1_000_003
        starts = range(0, total, size)
        return [RenderedSequences(self, min(size, total - start), base + index) for index, start in enumerate(starts)]

    def stream_layout(self) -> dict[str, Any]:
        """Each stored sample is one uint8 sequence (T, H, W), split at `input_frames` when it is served."""
        return {"layout": "frames", "input_frames": self.input_frames}

    @classmethod
    def stream_batch(cls, batch: list[Tensor], stream: dict[str, Any]) -> tuple[Tensor, ...]:
        """uint8 sequences (B, T, H, W) -> (inputs, targets) of shape (B, t, 1, H, W) in [0, 1], as in memory."""
        return split_clip(batch[0], stream["input_frames"])

    @classmethod
    def decode_request(cls, value: Any, inputs: dict[str, Any]) -> tuple[Tensor, bool]:
        """Frames 0-255 in the public Moving MNIST layout: (T, N, H, W) for N sequences, or (T, H, W) for one."""
        time, _, height, width = inputs["shape"]
        sent = numbers(value, "frames", 0, 255)
        many = sent.ndim == 4
        array = sent if many or sent.ndim != 3 else sent[:, None]
        if array.ndim != 4 or array.shape[0] != time or array.shape[2:] != (height, width) or array.shape[1] == 0:
            raise BadRequest(
                f"frames has shape {list(sent.shape)}; this model takes {[time, height, width]} (frames, height, "
                f"width) or {[time, 'N', height, width]} for N sequences, pixels 0-255"
            )
        sequences = torch.from_numpy(array).float() / 255.0  # as split_clip scales uint8 frames
        return sequences.transpose(0, 1).unsqueeze(2), many


@dataclass(frozen=True)
class RenderedSequences:
    """A `blueprint stream` part: `count` fresh training sequences drawn from the generator seed `seed`."""

    module: MovingMNISTDataModule
    count: int
    seed: int

    def samples(self) -> Iterator[tuple[Tensor, ...]]:
        module, generator = self.module, torch.Generator().manual_seed(self.seed)
        frames = moving_digits(
            module.pools["train"], self.count, module.total_frames, module.frame_size, module.num_digits, module.speed,
            generator,
        )  # fmt: skip
        for sequence in (frames * 255).round().to(torch.uint8):
            yield (sequence.clone(),)

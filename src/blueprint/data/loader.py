"""In-memory batch loader: slices batches from device-resident tensors instead of per-sample __getitem__ + collate."""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

BatchTransform = Callable[[Tensor, torch.Generator], Tensor]


class InMemoryLoader:
    """Iterable of batches; reshuffles each epoch from (seed, epoch), so a run is reproducible and resumable.

    `transform` (e.g. augmentation) is applied to the first tensor of each batch, per sample, on its device.
    Under DDP each rank takes a disjoint shard of every epoch's permutation: equally sized when `drop_last` (training,
    where ranks must step together), otherwise every sample exactly once (evaluation: sizes may differ by one).
    """

    def __init__(
        self,
        tensors: Sequence[Tensor],
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        transform: BatchTransform | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1:
            raise ValueError(f"all tensors must have the same length, got {sorted(sizes)}")
        self.tensors = tuple(tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.transform = transform
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.batches_done = 0
        self.consumed: Callable[[], int] | None = None  # batches the consumer has trained on (it may prefetch)
        self._started = False
        self._resume_at: int | None = None

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch; a split smaller than the world is padded so every rank has one."""
        total = len(self.tensors[0])
        if self.world_size == 1:
            return total
        if self.drop_last:
            return total // self.world_size
        return len(range(self.rank, total, self.world_size)) if total >= self.world_size else 1

    @property
    def dataset(self) -> range:
        """For Lightning's BatchSizeFinder, which doubles the batch size while it is below len(dataset) (its only use).

        Half this rank's samples plus one, so it never doubles past the data: a batch larger than the split would
        leave no full batch to train on.
        """
        return range(self.num_samples // 2 + 1)

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def _epoch_order(self) -> Tensor:
        """This rank's sample indices for the current epoch."""
        total = len(self.tensors[0])
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(total, generator=generator)
        else:
            order = torch.arange(total)
        if self.world_size > 1:
            if self.drop_last:
                order = order[: self.num_samples * self.world_size]
            elif total < self.world_size:
                order = order.repeat(-(-self.world_size // total))[: self.world_size]
            order = order[self.rank :: self.world_size]
        return order.to(self.tensors[0].device)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        """Each started pass is the next epoch (even if the last one was cut short), or the restored position once.

        The bookkeeping runs at the first batch, so an `iter()` that is never consumed (Lightning's iterable check)
        does not count as an epoch.
        """
        if self._resume_at is not None:
            start, self._resume_at = self._resume_at, None
        else:
            start, self.epoch = 0, self.epoch + int(self._started)
        self._started = True
        self.batches_done = start
        epoch, order = self.epoch, self._epoch_order()
        for index in range(start, len(self)):
            self.batches_done = index + 1
            idx = order[index * self.batch_size : (index + 1) * self.batch_size]
            batch = tuple(t.index_select(0, idx) for t in self.tensors)
            if self.transform is not None:
                batch = (self.transform(batch[0], batch_generator(self.seed, epoch, self.rank, index)), *batch[1:])
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """Position in the stream: the epoch and how many of its batches were trained on (a finished epoch rolls over).

        `consumed`, when set, says how many batches were really used: Lightning fetches one batch ahead.
        """
        done = self.consumed() if self.consumed is not None else self.batches_done
        if done >= len(self):
            return {"epoch": self.epoch + 1, "batches_done": 0}
        return {"epoch": self.epoch, "batches_done": done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; the next iteration skips the batches already consumed."""
        self.epoch = int(state["epoch"])
        self._resume_at = int(state["batches_done"])


def batch_generator(seed: int, epoch: int, rank: int, index: int) -> torch.Generator:
    """Augmentation randomness from (seed, epoch, rank, batch) only, so a resumed epoch draws what the first drew."""
    key = 0
    for part in (seed, epoch, rank, index):
        key = (key * 1_000_003 + part) % 2**62
    return torch.Generator().manual_seed(key)

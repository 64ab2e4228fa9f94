"""torch DataLoaders over BatchedTensorDatasets: samplers that shard per rank and start a resumed epoch mid-way."""

import operator
from collections.abc import Iterator, Sized

import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, SequentialSampler

from blueprint.data.batched import whole_batch


class ResumesOnce(Sampler[int]):
    """A sampler whose next pass starts at sample `skip` (the trained part of a resumed epoch), later passes at 0.

    `handed_out` counts this pass's samples given to the loader so far, the skipped ones included.
    """

    dataset_length = 0  # the length of the dataset it was built for
    skip = 0
    order_length = 0
    rest: Iterator[int] = iter(())

    def __iter__(self) -> Iterator[int]:
        order = list(super().__iter__())
        self.order_length, self.rest, self.skip = len(order), iter(order[self.skip :]), 0
        return self.rest

    @property
    def handed_out(self) -> int:
        """Counted without a Python call per sample: a list iterator knows how many items it has left."""
        return self.order_length - operator.length_hint(self.rest)


class ResumableDistributedSampler(ResumesOnce, DistributedSampler):
    """Training order: shuffled from (seed, epoch), this rank's equal share; Lightning calls `set_epoch` each epoch.

    `num_replicas` and `rank` come from the trainer (1 and 0 without one), so no process group is needed; Lightning
    keeps a DistributedSampler it is given under DDP instead of injecting its own.
    """

    def __init__(self, dataset: Sized, seed: int, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(dataset, num_replicas, rank, shuffle=True, seed=seed, drop_last=True)  # type: ignore[arg-type]
        self.dataset_length = len(dataset)


class ResumableSequentialSampler(ResumesOnce, SequentialSampler):
    """The same samples in the same order every epoch (`trainer.overfit_batches`, which wants a SequentialSampler)."""

    epoch = 0

    def __init__(self, dataset: Sized) -> None:
        super().__init__(dataset)
        self.dataset_length = len(dataset)

    def set_epoch(self, epoch: int) -> None:
        """The order never changes; the epoch is kept for the checkpointed position."""
        self.epoch = epoch


ResumableSampler = ResumableDistributedSampler | ResumableSequentialSampler


def evaluation_sampler(dataset: Sized, num_replicas: int, rank: int) -> Sampler[int] | None:
    """Every sample once, split over the ranks (their sizes may differ by one); None: one process, in order.

    A split smaller than the world is padded by DistributedSampler instead, so every rank has a batch to step on.
    """
    if num_replicas == 1:
        return None
    if len(dataset) < num_replicas:
        return DistributedSampler(dataset, num_replicas, rank, shuffle=False)  # type: ignore[arg-type]
    return UnrepeatedDistributedSampler(dataset, num_replicas, rank, shuffle=False)


def every_rank_sampler(dataset: Sized, num_replicas: int) -> Sampler[int] | None:
    """Every sample in order on every rank: a DistributedSampler of one replica, which Lightning keeps under DDP
    instead of sharding the split (the prediction writers write rank 0's predictions, so it must see them all).
    """
    return None if num_replicas == 1 else UnrepeatedDistributedSampler(dataset, num_replicas=1, rank=0, shuffle=False)


def batched_loader(
    dataset: Dataset, batch_size: int, seed: int, sampler: Sampler[int] | None = None, drop_last: bool = False
) -> DataLoader:
    """A DataLoader whose batches are the dataset's `__getitems__` results, read in this process (the tensors are on
    the training device already).

    Its own generator: a DataLoader draws each iterator's base seed from it, else from the global RNG, and a resumed
    run's extra iterators would then shift every later dropout mask.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        collate_fn=whole_batch,
        generator=torch.Generator().manual_seed(seed),
    )

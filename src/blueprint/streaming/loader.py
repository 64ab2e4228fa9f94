"""LitData's StreamingDataLoader whose checkpointed position is the batches trained on, and per-batch augmentation."""

from collections.abc import Callable, Iterator
from typing import Any

import torch
from litdata import StreamingDataLoader, StreamingDataset
from torch import Tensor

from blueprint.data.batched import batch_generator

BatchFn = Callable[[list[Tensor], torch.Generator], tuple[Tensor, ...]]


class TrainedPositionLoader(StreamingDataLoader):
    """`state_dict` says how far training got, not how far the loader read ahead, so a resumed epoch is exact.

    Lightning fetches one batch ahead of the step it trains; LitData's own state counts every batch it yielded.
    `trained` (set by the DataModule) says how many batches of this epoch were trained on; `len(self)` or more
    means the epoch is over. `batch_fn` turns each collated batch into what the task gets, with a generator seeded
    by (seed, epoch, rank, batch index), so augmentation draws the same numbers in a resumed epoch.
    """

    def __init__(
        self, dataset: StreamingDataset, batch_size: int, num_workers: int, batch_fn: BatchFn, seed: int, rank: int
    ) -> None:
        # torch's DataLoader draws each iterator's base seed from `generator`, else from the global RNG: a resumed
        # epoch's extra iterator would then shift the dropout masks of every later step
        super().__init__(
            dataset, batch_size=batch_size, num_workers=num_workers, generator=torch.Generator().manual_seed(seed)
        )
        self.batch_fn = batch_fn
        self.seed = seed
        self.rank = rank
        self.trained: Callable[[], int] | None = None
        self.batches_yielded = 0  # of the current epoch
        self.resume_batch = 0  # where a restored epoch goes on
        self.resume_pending = False  # load_state_dict ran and no pass has started since

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        """A pass cut short (limit_train_batches) leaves LitData's `restore` set: only a fresh load may resume."""
        if not self.resume_pending:
            self.restore = False
        index = self.resume_batch if self.restore else 0
        self.resume_pending, self.resume_batch, self.batches_yielded = False, 0, index
        for batch in super().__iter__():
            self.batches_yielded = index + 1
            # A stream's batch is known by its place (epoch, rank, batch), not by sample indices
            yield self.batch_fn(batch, batch_generator(self.seed, (self.current_epoch, self.rank, index)))
            index += 1

    def state_dict(self) -> dict[str, Any]:
        """LitData's state, moved back to the last trained batch; a finished epoch (even a limited one) rolls over."""
        state = super().state_dict()
        done = self.trained() if self.trained is not None else self.batches_yielded
        epoch = self.current_epoch
        if done >= len(self):  # over: the next pass starts a new epoch
            done = 0
        elif done == self.batches_yielded:
            return state
        elif done == 0:  # this epoch started, nothing trained yet: as if the previous epoch had just ended
            epoch -= 1
        samples = done * self.batch_size
        state["num_samples_yielded"] = samples
        state["dataset"] = self.dataset.state_dict(samples, self.num_workers, self.batch_size)
        state["latest_worker_idx"] = (done - 1) % max(self.num_workers, 1)
        state["current_epoch"] = epoch
        return state

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        super().load_state_dict(obj)
        self.resume_pending = True
        self.resume_batch = int(obj["num_samples_yielded"]) // int(self.batch_size or 1)

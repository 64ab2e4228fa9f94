"""The in-memory data path: torch DataLoaders over BatchedTensorDataset, their samplers, per-sample augmentation."""

import torch
from torch.utils.data import DataLoader

from blueprint.data.batched import BatchedTensorDataset, CropFlip, random_crop
from blueprint.data.dataloaders import (
    ResumableDistributedSampler,
    batched_loader,
    evaluation_sampler,
    every_rank_sampler,
)


def _train_loader(data: torch.Tensor, batch_size: int, seed: int = 0, world_size: int = 1, rank: int = 0, **kw):
    dataset = BatchedTensorDataset([data, data * 2], **kw)
    sampler = ResumableDistributedSampler(dataset, seed, world_size, rank)
    return batched_loader(dataset, batch_size, seed, sampler, drop_last=True)


def _epoch(loader: DataLoader) -> torch.Tensor:
    return torch.cat([batch[0] for batch in loader])


def test_each_epoch_sees_every_full_batch_once_in_a_new_order() -> None:
    data = torch.arange(100)
    loader = _train_loader(data, batch_size=32, seed=1)
    assert isinstance(loader, DataLoader) and len(loader) == 3
    first = _epoch(loader)
    loader.sampler.set_epoch(1)  # Lightning does this before every epoch
    second = _epoch(loader)
    assert len(first) == len(second) == 96 and len(set(first.tolist())) == 96  # drop_last, no duplicates
    assert not torch.equal(first, second)
    for x, y in loader:
        assert torch.equal(y, x * 2)  # inputs and targets stay paired


def test_eval_order_keeps_the_last_partial_batch() -> None:
    data = torch.arange(100)
    loader = batched_loader(BatchedTensorDataset([data]), 32, seed=0)
    assert len(loader) == 4 and torch.equal(_epoch(loader), data)


def test_same_seed_same_batches_and_a_resumed_epoch_skips_what_was_trained() -> None:
    data = torch.arange(50)
    a, b = _train_loader(data, 8, seed=3), _train_loader(data, 8, seed=3)
    a.sampler.set_epoch(2), b.sampler.set_epoch(2)
    assert torch.equal(_epoch(a), _epoch(b))
    stream = iter(a)
    consumed = [next(stream)[0] for _ in range(3)]
    assert a.sampler.handed_out == 24  # the position a checkpoint records, without a trainer
    resumed = _train_loader(data, 8, seed=3)
    resumed.sampler.set_epoch(2)
    resumed.sampler.skip = 24
    rest_resumed = _epoch(resumed)
    assert torch.equal(rest_resumed, torch.cat([batch[0] for batch in stream]))
    assert len(torch.cat(consumed)) + len(rest_resumed) == 48
    assert len(_epoch(resumed)) == 48  # the skip applies once: the next pass is whole


def test_ranks_get_disjoint_equal_shards_that_cover_the_split() -> None:
    data = torch.arange(64)
    shards = [_epoch(_train_loader(data, 8, world_size=2, rank=r)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 32
    assert sorted(torch.cat(shards).tolist()) == list(range(64))


def test_random_crop_draws_per_sample_and_keeps_shape() -> None:
    images = torch.rand(1, 1, 28, 28).repeat(64, 1, 1, 1)
    shifted = random_crop(images, padding=2, generator=torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    distinct = {tuple(s.flatten().tolist()) for s in shifted}
    assert len(distinct) > 10  # one identical input, many different crops


def test_augmentation_differs_per_sample_and_repeats_for_the_same_batch() -> None:
    images = torch.rand(1, 3, 8, 8).repeat(32, 1, 1, 1)
    dataset = BatchedTensorDataset([images], CropFlip(padding=2, hflip=True), seed=5)
    (batch,) = dataset.__getitems__(list(range(16)))
    assert len({tuple(s.flatten().tolist()) for s in batch}) > 4  # identical inputs, different draws
    assert torch.equal(dataset.__getitems__(list(range(16)))[0], batch)  # a resumed run redraws the same
    assert not torch.equal(dataset.__getitems__(list(range(1, 17)))[0], batch)  # another batch, other draws
    assert torch.equal(BatchedTensorDataset([images]).__getitems__(list(range(16)))[0], images[:16])  # evaluation
    assert dataset[3][0].shape == (3, 8, 8)  # one sample, as a plain Dataset serves it


def test_evaluation_shards_cover_every_sample_exactly_once() -> None:
    """No padding for val/test under DDP: 85 samples on 2 ranks are 43 + 42, not 43 + 43 with one counted twice."""
    data = torch.arange(85)
    dataset = BatchedTensorDataset([data])
    shards = [_epoch(batched_loader(dataset, 10, 0, evaluation_sampler(dataset, 2, r))) for r in (0, 1)]
    assert [len(s) for s in shards] == [43, 42]
    assert torch.equal(torch.sort(torch.cat(shards)).values, data)
    tiny = BatchedTensorDataset([data[:2]])
    shares = [_epoch(batched_loader(tiny, 10, 0, evaluation_sampler(tiny, 3, r))) for r in range(3)]
    assert all(len(s) == 1 for s in shares)  # fewer samples than ranks: padded, so every rank has a batch
    assert evaluation_sampler(dataset, 1, 0) is None  # one process: the DataLoader's own SequentialSampler


def test_prediction_covers_the_whole_split_on_every_rank() -> None:
    """The prediction writers write rank 0's predictions: under DDP it must see every sample, in order."""
    data = torch.arange(85)
    dataset = BatchedTensorDataset([data])
    assert torch.equal(_epoch(batched_loader(dataset, 10, 0, every_rank_sampler(dataset, 2))), data)
    assert every_rank_sampler(dataset, 1) is None

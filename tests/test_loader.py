"""The in-memory loader: full coverage each epoch, fresh order per epoch, drop_last, per-sample augmentation."""

import torch

from blueprint.data.augment import CropFlip, random_crop
from blueprint.data.loader import InMemoryLoader


def _epoch(loader: InMemoryLoader) -> torch.Tensor:
    return torch.cat([batch[0] for batch in loader])


def test_each_epoch_sees_every_sample_once_in_a_new_order() -> None:
    data = torch.arange(100)
    loader = InMemoryLoader([data, data * 2], batch_size=32, shuffle=True, seed=1)
    assert len(loader) == 4
    first, second = _epoch(loader), _epoch(loader)
    assert sorted(first.tolist()) == list(range(100)) == sorted(second.tolist())
    assert not torch.equal(first, second)
    for x, y in InMemoryLoader([data, data * 2], batch_size=32, shuffle=True):
        assert torch.equal(y, x * 2)  # inputs and targets stay paired


def test_drop_last_and_eval_order() -> None:
    data = torch.arange(100)
    loader = InMemoryLoader([data], batch_size=32, shuffle=True, drop_last=True)
    assert len(loader) == 3 and all(len(b[0]) == 32 for b in loader)
    assert torch.equal(_epoch(InMemoryLoader([data], batch_size=32)), data)


def test_same_seed_same_batches_and_resume_position() -> None:
    data = torch.arange(50)
    a = InMemoryLoader([data], batch_size=8, shuffle=True, seed=3)
    b = InMemoryLoader([data], batch_size=8, shuffle=True, seed=3)
    assert torch.equal(_epoch(a), _epoch(b))
    stream = iter(a)
    consumed = [next(stream)[0] for _ in range(3)]
    resumed = InMemoryLoader([data], batch_size=8, shuffle=True, seed=3)
    resumed.load_state_dict(a.state_dict())
    rest_resumed = _epoch(resumed)
    rest_original = torch.cat([batch[0] for batch in stream])
    assert torch.equal(rest_resumed, rest_original)
    assert len(torch.cat(consumed)) + len(rest_resumed) == 50


def test_ranks_get_disjoint_equal_shards() -> None:
    data = torch.arange(64)
    shards = [_epoch(InMemoryLoader([data], 8, shuffle=True, seed=0, rank=r, world_size=2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 32
    assert set(shards[0].tolist()).isdisjoint(shards[1].tolist())


def test_random_crop_draws_per_sample_and_keeps_shape() -> None:
    images = torch.rand(1, 1, 28, 28).repeat(64, 1, 1, 1)
    shifted = random_crop(images, padding=2, generator=torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    distinct = {tuple(s.flatten().tolist()) for s in shifted}
    assert len(distinct) > 10  # one identical input, many different crops


def test_augmentation_runs_only_in_training_batches() -> None:
    images = torch.rand(16, 3, 8, 8)
    train = InMemoryLoader([images], 16, transform=CropFlip(padding=2, hflip=True))
    evaluation = InMemoryLoader([images], 16)
    assert not torch.equal(next(iter(train))[0], images)
    assert torch.equal(next(iter(evaluation))[0], images)


def test_evaluation_shards_cover_every_sample_exactly_once() -> None:
    """No padding for val/test under DDP: 85 samples on 2 ranks are 43 + 42, not 43 + 43 with one counted twice."""
    data = torch.arange(85)
    shards = [torch.cat([b[0] for b in InMemoryLoader([data], 10, rank=r, world_size=2)]) for r in (0, 1)]
    assert [len(s) for s in shards] == [43, 42]
    assert torch.equal(torch.sort(torch.cat(shards)).values, data)
    tiny = [torch.cat([b[0] for b in InMemoryLoader([data[:2]], 10, rank=r, world_size=3)]) for r in range(3)]
    assert all(len(s) == 1 for s in tiny)  # fewer samples than ranks: padded, so every rank has a batch

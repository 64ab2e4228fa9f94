"""Moving MNIST generation: bouncing digits inside the canvas, reproducible by seed, held-out digits, public .npy."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from blueprint.data.moving_digits import moving_digits, trajectories
from blueprint.data.moving_mnist import MovingMNISTDataModule
from blueprint.errors import UserError

SMALL = {"frame_size": 32, "digit_size": 14, "num_digits": 2, "input_frames": 4, "target_frames": 3}
SMALL |= {"train_sequences": 16, "val_sequences": 6, "test_sequences": 5, "batch_size": 4, "eval_batch_size": 4}


@pytest.fixture(scope="module")
def small_data() -> MovingMNISTDataModule:
    data = MovingMNISTDataModule(**SMALL)
    data.setup()
    return data


def test_trajectories_stay_inside_and_bounce_at_the_edges() -> None:
    room, speed = 20, 3.6
    corners = trajectories(200, 40, 2, room, speed, torch.Generator().manual_seed(0))
    assert corners.shape == (200, 40, 2, 2)
    assert corners.min() >= 0 and corners.max() <= room
    steps = corners.diff(dim=1).float()
    assert steps.abs().max() <= speed + 1  # constant speed (up to rounding)
    turned = (steps[:, 1:] * steps[:, :-1]) < 0  # the direction along an axis flipped at this frame
    at_turn = corners[:, 1:-1][turned]
    assert turned.any()
    assert ((at_turn <= speed + 1) | (at_turn >= room - speed - 1)).all()  # only next to an edge


def test_a_single_digit_is_never_clipped() -> None:
    pool = torch.rand(5, 14, 14)
    frames = moving_digits(pool, 8, 30, 32, 1, 3.6, torch.Generator().manual_seed(1))
    sums = frames.sum(dim=(-1, -2))
    assert torch.allclose(sums, sums[:, :1].expand_as(sums))  # the whole digit is on the canvas in every frame
    assert torch.allclose(frames.amax(dim=(-1, -2)), frames[:, :1].amax(dim=(-1, -2)).expand(8, 30))


def test_batches_have_the_requested_shapes(small_data: MovingMNISTDataModule) -> None:
    inputs, targets = next(iter(small_data.train_dataloader()))
    assert inputs.shape == (4, 4, 1, 32, 32) and targets.shape == (4, 3, 1, 32, 32)
    assert inputs.dtype == torch.float32 and inputs.min() >= 0 and inputs.max() <= 1 and inputs.max() > 0.5
    val_inputs, val_targets = next(iter(small_data.val_dataloader()))
    assert val_inputs.shape == (4, 4, 1, 32, 32) and val_targets.shape == (4, 3, 1, 32, 32)
    assert len(small_data.splits["test"][0]) == 5


def test_same_seed_same_sequences_and_fresh_training_sequences_each_epoch(small_data) -> None:
    again = MovingMNISTDataModule(**SMALL)
    again.setup()
    assert torch.equal(small_data.splits["val"][0], again.splits["val"][0])
    assert torch.equal(small_data.splits["test"][0], again.splits["test"][0])
    assert not torch.equal(small_data.splits["val"][0][:5], small_data.splits["test"][0])
    first = [b[0] for b in again.train_dataloader()]
    loader = again.train_dataloader()
    loader.sampler.set_epoch(1)  # what Lightning does before each epoch, as for any DistributedSampler
    second = [b[0] for b in loader]
    replay = MovingMNISTDataModule(**SMALL)
    assert all(torch.equal(a, b) for a, b in zip(first, [b[0] for b in replay.train_dataloader()], strict=True))
    assert not torch.equal(first[0], second[0])  # epoch 1 draws new sequences


def test_resumed_training_stream_renders_the_same_batches() -> None:
    data = MovingMNISTDataModule(**SMALL)
    stream = iter(data.train_dataloader())
    next(stream)
    state = data.state_dict()
    expected = next(stream)[0]
    resumed = MovingMNISTDataModule(**SMALL)
    resumed.load_state_dict(state)
    assert torch.equal(next(iter(resumed.train_dataloader()))[0], expected)


def test_val_and_test_digits_are_held_out(small_data: MovingMNISTDataModule) -> None:
    def keys(pool: torch.Tensor) -> set[bytes]:
        return {row.numpy().tobytes() for row in pool.flatten(1)}

    train = keys(small_data.pools["train"])
    assert len(small_data.pools["val"]) == 500 and len(small_data.pools["test"]) == 1000
    assert not train & keys(small_data.pools["val"]) and not train & keys(small_data.pools["test"])
    assert len(train) + 1500 == 5000


def test_public_npy_layout_is_the_test_split(tmp_path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, size=(7, 3, 32, 32), dtype=np.uint8)
    np.save(tmp_path / "mnist_test_seq.npy", frames)
    data = MovingMNISTDataModule(**SMALL, test_path=str(tmp_path / "mnist_test_seq.npy"))
    inputs, targets = next(iter(data.test_dataloader()))
    assert inputs.shape == (3, 4, 1, 32, 32) and targets.shape == (3, 3, 1, 32, 32)
    assert torch.allclose(inputs[1, 2, 0] * 255, torch.from_numpy(frames[2, 1]).float())
    assert torch.allclose(targets[2, 0, 0] * 255, torch.from_numpy(frames[4, 2]).float())


@pytest.mark.parametrize(
    ("array", "named"),
    [
        (np.zeros((7, 2, 32, 32), dtype=np.float32), "float32"),
        (np.zeros((20, 2, 32, 32), dtype=np.uint8), "(20, 2, 32, 32)"),
        (np.zeros((7, 2, 64, 64), dtype=np.uint8), "(7, 2, 64, 64)"),
    ],
)
def test_bad_npy_is_refused_naming_the_value(tmp_path, array: np.ndarray, named: str) -> None:
    np.save(tmp_path / "bad.npy", array)
    data = MovingMNISTDataModule(**SMALL, test_path=str(tmp_path / "bad.npy"))
    with pytest.raises(UserError, match=named.replace("(", r"\(").replace(")", r"\)")):
        data.setup()


@pytest.mark.parametrize(
    ("options", "named"),
    [({"frame_size": 20, "digit_size": 28}, "20"), ({"input_frames": 0}, "input_frames"), ({"speed": -1.0}, "speed")],
)
def test_bad_options_are_refused(options: dict, named: str) -> None:
    with pytest.raises(UserError, match=named):
        MovingMNISTDataModule(**options)


def test_overfit_batches_serve_the_same_sequences_every_epoch() -> None:
    """The overfit preset's check needs fixed batches; training sequences are otherwise drawn afresh each epoch."""
    data = MovingMNISTDataModule(**SMALL)
    data.trainer = SimpleNamespace(overfit_batches=2, global_rank=0, world_size=1)  # type: ignore[assignment]
    loader = data.train_dataloader()
    first, second = list(loader), list(loader)
    assert len(first) == 2
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.max() > 0


def test_overfit_batches_resume_at_the_batch_the_trainer_finished() -> None:
    """Lightning fetches a batch ahead; the saved position must count trained batches, as without overfit_batches."""
    data = MovingMNISTDataModule(**SMALL)
    progress = SimpleNamespace(current=SimpleNamespace(processed=1))  # one batch trained, the second prefetched
    fit_loop = SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress))
    data.trainer = SimpleNamespace(  # type: ignore[assignment]
        overfit_batches=2, global_rank=0, world_size=1, state=SimpleNamespace(fn="fit"), fit_loop=fit_loop,
        num_training_batches=2,
    )  # fmt: skip
    batches = iter(data.train_dataloader())
    next(batches), next(batches)
    assert data.state_dict()["train_loader"] == {"epoch": 0, "batches_done": 1}


def test_more_sequences_per_batch_than_training_sequences_is_refused() -> None:
    """Full batches only: otherwise Lightning trains on nothing and reports success."""
    data = MovingMNISTDataModule(**(SMALL | {"batch_size": 32}))
    with pytest.raises(UserError, match="data.batch_size=32 is larger than the 16 training samples"):
        data.train_dataloader()


def test_a_stream_renders_the_training_sequences_and_serves_clips_as_in_memory(small_data, tmp_path) -> None:
    """The DataModule's stream hooks: training sequences rendered in parts by the writer, clips split as in memory."""
    from blueprint.streaming import StreamingDataModule
    from blueprint.streaming.writer import write_stream

    info = write_stream(small_data, tmp_path / "stream", train_sequences=300, verbose=False)  # two parts of <= 256
    assert info.num_samples == {"train": 300, "val": 6, "test": 5}
    assert (info.layout, info.input_frames, info.stored_shape) == ("frames", 4, [7, 32, 32])
    streamed = StreamingDataModule(str(tmp_path / "stream"), batch_size=4, eval_batch_size=4)
    for got, expected in zip(streamed.val_dataloader(), small_data.val_dataloader(), strict=True):
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    inputs, targets = next(iter(streamed.train_dataloader()))
    assert inputs.shape == (4, 4, 1, 32, 32) and targets.shape == (4, 3, 1, 32, 32)
    assert float(inputs.min()) >= 0 and float(inputs.max()) <= 1

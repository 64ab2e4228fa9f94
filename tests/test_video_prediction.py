"""SimVP and the LSTM design end to end, and the training switches: scheduled sampling and the frame losses."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.callbacks import frame_grid
from blueprint.cli.command import cli_main
from blueprint.nets import ConvLSTMForecaster, SimVP
from blueprint.tasks.frame_losses import L1L2Loss, SSIMLoss
from tests.conftest import config, run_cli

FRAMES = 4  # SimVP predicts as many frames as it reads
TINY = [
    "--data.init_args.frame_size=32",
    "--data.init_args.digit_size=14",
    "--data.init_args.num_digits=1",
    f"--data.init_args.input_frames={FRAMES}",
    f"--data.init_args.target_frames={FRAMES}",
    "--data.init_args.train_sequences=24",
    "--data.init_args.val_sequences=16",
    "--data.init_args.test_sequences=4",
    "--model.init_args.optimizer.init_args.lr=0.01",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.max_time=null",
    "--trainer.max_epochs=2",
    "--trainer.log_every_n_steps=1",
    "--trainer.logger.init_args.log_graph=false",
    "--trainer.num_sanity_val_steps=0",
    "--test_after_fit=false",
]
RUNS = {  # config -> switches it is trained with here, so each switch runs through the real CLI once
    "moving_mnist_simvp.yaml": ["--model.init_args.loss=blueprint.tasks.frame_losses.L1L2Loss"],
    "moving_mnist_lstm.yaml": [
        "--model.init_args.net.init_args.channels=[8,16]",
        "--model.init_args.net.init_args.hidden_size=64",
        "--model.init_args.scheduled_sampling_steps=4",
        "--model.init_args.loss=blueprint.tasks.frame_losses.SSIMLoss",
    ],
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def tiny_fit(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Two tiny epochs (3 steps each) of a shipped config, with the task's own loss on val measured before training."""
    root = tmp_path_factory.mktemp("fit")
    args = ["-c", config(request.param), *TINY, *RUNS[request.param]]
    cli = cli_main([*args, f"--trainer.logger.init_args.save_dir={root}"], run=False)
    with torch.no_grad():
        batches = list(cli.datamodule.val_dataloader())
        before = sum(float(cli.model.loss_fn(cli.model.eval()(x), y)) * len(x) for x, y in batches) / 16
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return request.param, cli, before


def test_a_few_steps_lower_the_loss_and_log_frames(tiny_fit) -> None:
    name, cli, before = tiny_fit
    metrics = cli.trainer.callback_metrics
    assert float(metrics["val/loss"]) < 0.85 * before
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"images": 0, "scalars": 0}).Reload()
    grid = events.Images("val/frames")[-1]
    assert grid.height > 3 * 32 and grid.width > FRAMES * 32  # rows input / target / prediction, a frame a column
    if "lstm" in name:
        ratios = [event.value for event in events.Scalars("train/teacher_ratio")]
        assert ratios[0] == 1.0 and ratios[-1] == 0.0  # true frames fed back at step 0, none from step 4


def test_test_logs_the_frame_grid_with_its_rows_labelled(tiny_fit) -> None:
    _, cli, _ = tiny_fit
    cli.trainer.test(cli.model, datamodule=cli.datamodule)
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"images": 0}).Reload()
    grid = Image.open(io.BytesIO(events.Images("test/frames")[-1].encoded_image_string)).convert("L")
    pixels = np.asarray(grid, dtype=np.float32) / 255
    label_column = pixels[:, : frame_grid.LABEL_WIDTH]  # white words on black beside each row of frames
    row_height = 32 + 4  # a frame and make_grid's padding
    rows = [label_column[top : top + row_height] for top in range(0, grid.height - row_height + 1, row_height)]
    assert len(rows) >= 2 * 3  # input, target, prediction for each of 2 sequences
    assert all(0.02 < float((row > 0.5).mean()) < 0.5 for row in rows[:3])  # each of the first rows has a word


def test_predict_writes_the_future_frames_as_npy(tiny_fit) -> None:
    """The config's FrameWriter; the CLI's `predict --ckpt_path` round trip is tested on the ConvLSTM config."""
    _, cli, _ = tiny_fit
    cli.trainer.predict(cli.model, datamodule=cli.datamodule)
    frames = np.load(Path(cli.trainer.log_dir) / "predictions" / "predictions.npy")
    assert frames.shape == (FRAMES, 4, 32, 32) and frames.dtype == np.uint8


def test_simvp_maps_a_clip_to_as_many_future_frames_in_unit_range() -> None:
    net = SimVP(input_shape=(3, 1, 16, 16), out_features=3, hidden_spatial=4, hidden_temporal=8, temporal_layers=2)
    out = net(torch.rand(2, 3, 1, 16, 16))
    assert out.shape == (2, 3, 1, 16, 16) and out.min() >= 0 and out.max() <= 1
    out.mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="out_features 5 must equal the 3 input frames"):
        SimVP(input_shape=(3, 1, 16, 16), out_features=5)


def test_scheduled_sampling_feeds_the_true_frames_back_only_when_asked() -> None:
    net = ConvLSTMForecaster(input_shape=(2, 1, 8, 8), out_features=3, hidden_channels=(4,), patch=2)
    inputs, truth, other = torch.rand(3, 2, 1, 8, 8), torch.rand(3, 3, 1, 8, 8), torch.rand(3, 3, 1, 8, 8)
    with torch.no_grad():
        fed = net(inputs, truth, teacher_ratio=1.0)
        assert torch.equal(fed[:, 0], net(inputs)[:, 0])  # the first frame comes before anything is fed back
        assert not torch.allclose(fed[:, 1:], net(inputs)[:, 1:])
        assert not torch.allclose(fed[:, 1:], net(inputs, other, teacher_ratio=1.0)[:, 1:])
        assert torch.equal(net(inputs, truth, teacher_ratio=0.0), net(inputs))


@pytest.mark.parametrize("loss", [L1L2Loss(), SSIMLoss()])
def test_frame_losses_are_zero_only_for_the_true_frames(loss: torch.nn.Module) -> None:
    frames = torch.rand(2, 3, 1, 16, 16)
    assert float(loss(frames, frames)) == pytest.approx(0.0, abs=1e-5)
    assert float(loss(frames.flip(-1), frames)) > 0.01


def test_scheduled_sampling_on_a_net_that_feeds_nothing_back_is_one_clear_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "-c", config("moving_mnist_simvp.yaml"), *TINY, "--model.init_args.scheduled_sampling_steps=5")
    assert exit_info.value.code == 2
    assert "scheduled_sampling_steps=5" in capsys.readouterr().err

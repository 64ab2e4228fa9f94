"""Frame prediction end to end: net shapes, a short fit that learns, frame grids in TensorBoard, predict files."""

from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.callbacks.horizon_error import HorizonError
from blueprint.cli.command import cli_main
from blueprint.nets import ConvLSTMForecaster, LSTMFrameGenerator
from blueprint.tasks import FramePredictionTask
from tests.conftest import config, run_cli

TINY = [
    "--data.init_args.frame_size=32",
    "--data.init_args.digit_size=14",
    "--data.init_args.num_digits=1",
    "--data.init_args.input_frames=4",
    "--data.init_args.target_frames=3",
    "--data.init_args.train_sequences=64",
    "--data.init_args.val_sequences=16",
    "--data.init_args.test_sequences=8",
    "--trainer.enable_progress_bar=false",
    "--trainer.max_time=null",
]


@pytest.mark.parametrize("net", [ConvLSTMForecaster, LSTMFrameGenerator])
def test_nets_map_input_frames_to_future_frames_in_unit_range(net) -> None:
    model = net(input_shape=(3, 1, 16, 16), out_features=5)
    out = model(torch.randn(2, 3, 1, 16, 16))
    assert out.shape == (2, 5, 1, 16, 16)
    assert out.min() >= 0 and out.max() <= 1
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory: pytest.TempPathFactory):
    """A few epochs of the ConvLSTM config on tiny sequences, with val loss measured before training."""
    root = tmp_path_factory.mktemp("tiny_fit")
    args = [
        "-c",
        config("moving_mnist_convlstm.yaml"),
        *TINY,
        "--trainer.max_epochs=8",
        "--model.init_args.optimizer.init_args.lr=0.01",
    ]  # run=False: no subcommand
    cli = cli_main([*args, f"--trainer.logger.init_args.save_dir={root}"], run=False)
    with torch.no_grad():  # (trainer.validate here would leave inference-mode metric states behind)
        batches = list(cli.datamodule.val_dataloader())
        before = sum(float(torch.mean((cli.model.eval()(x) - y) ** 2)) * len(x) for x, y in batches) / 16
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, before


def test_short_training_lowers_val_loss(tiny_fit) -> None:
    cli, before = tiny_fit
    metrics = cli.trainer.callback_metrics
    after = float(metrics["val/loss"])
    assert after < 0.85 * before  # the untrained net already starts near black, so this is learned motion
    assert metrics["val/mse_per_frame"] < 0.8 * metrics["val/baseline_zeros_mse_per_frame"]
    assert metrics["val/mse_per_frame"] == pytest.approx(float(metrics["val/mse"]) * 32 * 32, rel=1e-3)


def test_event_file_holds_frame_grids_and_baselines(tiny_fit) -> None:
    cli, _ = tiny_fit
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"images": 0, "scalars": 0}).Reload()
    assert "val/frames" in events.Tags()["images"]
    images = events.Images("val/frames")
    assert len(images) == 8 and images[-1].height > 3 * 32 and images[-1].width > 4 * 32
    scalars = set(events.Tags()["scalars"])
    expected = {"train/loss", "val/ssim", "val/psnr", "val/mae", "val/baseline_zeros_mse_per_frame"}
    assert expected | {"val/baseline_copy_last_mse_per_frame", "val/mse_per_frame"} <= scalars


def test_error_by_horizon_has_a_point_per_predicted_frame_and_averages_to_mse_per_frame(tiny_fit) -> None:
    cli, _ = tiny_fit
    horizon = next(c for c in cli.trainer.callbacks if isinstance(c, HorizonError))
    per_step = horizon.squared_error / horizon.sequences  # the last validation epoch's line
    assert per_step.shape == (3,)  # one point per predicted frame
    assert float(per_step.mean()) == pytest.approx(float(cli.trainer.callback_metrics["val/mse_per_frame"]), rel=1e-4)


def test_predict_writes_npy_and_png_strips(tiny_fit, tmp_path: Path) -> None:
    cli, _ = tiny_fit
    best = cli.trainer.checkpoint_callback.best_model_path
    run_cli(
        "predict", "-c", config("moving_mnist_convlstm.yaml"), *TINY, "--trainer.logger=false", f"--ckpt_path={best}"
    )
    out = tmp_path / "predictions"  # the run folder is the working dir when there is no logger
    frames = np.load(out / "predictions.npy")
    assert frames.shape == (3, 8, 32, 32) and frames.dtype == np.uint8
    assert len(list(out.glob("sequence_*.png"))) == 8


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--model.init_args.net.init_args.input_shape=[4,1,64,64]"], "the data gives [4, 1, 32, 32]"),
        (["--model.init_args.net.init_args.out_features=5"], "out_features is 5 but the data gives 3"),
        (["--model.init_args.loss=torch.nn.CrossEntropyLoss"], "CrossEntropyLoss"),
        (["--data.init_args.frame_size=8"], "frame_size 8"),
        (["--data.init_args.input_frames=0"], "input_frames"),
    ],
)
def test_bad_input_exits_nonzero_naming_the_value(extra: list[str], named: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "-c", config("moving_mnist_convlstm.yaml"), *TINY, *extra)
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU"))],
)
def test_every_fitting_loss_runs_under_bf16_autocast(device: str) -> None:
    """BCELoss included: CUDA autocast raises on binary_cross_entropy unless the loss runs outside it."""
    net = LSTMFrameGenerator(input_shape=(2, 1, 16, 16), out_features=2, channels=(4,), hidden_size=8).to(device)
    inputs, targets = torch.rand(2, 2, 1, 16, 16, device=device), torch.rand(2, 2, 1, 16, 16, device=device)
    for loss in (torch.nn.MSELoss(), torch.nn.L1Loss(), torch.nn.BCELoss()):
        task = FramePredictionTask(net=net, loss=loss).to(device)
        with torch.autocast(device, dtype=torch.bfloat16):
            value, _, _ = task.shared_step((inputs, targets))
        assert value.dtype == torch.float32 and torch.isfinite(value)


def test_frame_grid_follows_the_run_precision_under_bf16_true(tmp_path: Path) -> None:
    """The grid runs the net outside a step: bf16-true weights need the inputs cast as the step does."""
    steps = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]
    bf16 = ["--trainer.precision=bf16-true", "--trainer.enable_model_summary=false"]
    cli = run_cli("fit", "-c", config("moving_mnist_convlstm.yaml"), *TINY, *steps, *bf16)
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"images": 0}).Reload()
    assert len(events.Images("val/frames")) >= 1

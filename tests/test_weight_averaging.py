"""configs/presets/ema.yaml: validation, pictures, the best checkpoint, test after fit, predict, serve and export all
use the averaged weights, not the trained ones."""

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from blueprint.data.mnist import MEAN, STD
from blueprint.export import command as export_command
from tests.conftest import CONFIGS, config, run_cli
from tests.fast import QUIET, TINY_NET, fast_args
from tests.serving import predicted, started

EMA = ["-c", str(CONFIGS / "presets" / "ema.yaml")]
KEEP = "--trainer.callbacks+=tests.serving.KeepPredictions"


class WeightsSeen(L.Callback):
    """The module's weights where a picture callback or the test would read them. Appended after the preset's
    callback, so its epoch hooks run after the average's (Lightning's callback swaps it back at epoch end)."""

    def __init__(self) -> None:
        self.at_validation_epoch_end: dict[str, torch.Tensor] = {}
        self.at_test_start: dict[str, torch.Tensor] = {}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.at_validation_epoch_end = {k: v.clone() for k, v in pl_module.state_dict().items()}

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.at_test_start = {k: v.clone() for k, v in pl_module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_validation_pictures_and_test_after_fit_see_the_average(tmp_path: Path) -> None:
    cli = run_cli(
        "fit", "-c", config("mnist_mlp.yaml"), *EMA, *fast_args(10), "--trainer.limit_train_batches=5",
        "--checkpoint.save_top_k=-1", "--test_after_fit=true",
        "--trainer.callbacks+=tests.test_weight_averaging.WeightsSeen",
    )  # fmt: skip
    seen = next(c for c in cli.trainer.callbacks if isinstance(c, WeightsSeen))
    best = torch.load(cli.trainer.checkpoint_callback.best_model_path, weights_only=True)
    last = torch.load(cli.trainer.checkpoint_callback.last_model_path, weights_only=True)
    assert last["global_step"] == 10 and not same(last["state_dict"], last["current_model_state"])
    assert same(seen.at_validation_epoch_end, last["state_dict"])  # what the last validation's pictures showed
    assert same(seen.at_test_start, best["state_dict"])  # test after fit: the best checkpoint's average
    assert not same(seen.at_test_start, best["current_model_state"])


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short mnist_cnn fit with the EMA preset; its last.ckpt, which Lightning writes when the fit ends (max_steps
    comes before any validation), after the average went into the module: the trained weights must still be in it."""
    root = tmp_path_factory.mktemp("ema_cnn")
    cli = run_cli(
        "fit", "-c", config("mnist_cnn.yaml"), *EMA, *fast_args(6, "mnist_cnn.yaml"),
        f"--trainer.logger.init_args.save_dir={root}", f"--trainer.default_root_dir={root}",
    )  # fmt: skip
    return Path(cli.trainer.checkpoint_callback.last_model_path)


def predict(ckpt: Path, root: Path):
    """`blueprint predict` on 16 test digits with the run's config (EMA preset included), outputs kept."""
    return run_cli(
        "predict", "-c", config("mnist_cnn.yaml"), *EMA, *TINY_NET["mnist_cnn.yaml"], *QUIET, f"--ckpt_path={ckpt}",
        "--trainer.logger=false", f"--trainer.default_root_dir={root}", "--data.init_args.eval_batch_size=16",
        "--trainer.limit_predict_batches=1", KEEP,
    )  # fmt: skip


@pytest.mark.slow  # a server takes 10-60 s to start on 2 loaded cores
def test_predict_serve_and_export_answer_with_the_average(ema_run: Path, tmp_path: Path) -> None:
    checkpoint = torch.load(ema_run, weights_only=True)
    assert not same(checkpoint["state_dict"], checkpoint["current_model_state"])
    trained = tmp_path / "trained_weights.ckpt"  # the same checkpoint with the trained weights in its state_dict
    torch.save({**checkpoint, "state_dict": checkpoint["current_model_state"]}, trained)
    averaged = predict(ema_run, tmp_path)
    assert (predicted(averaged) - predicted(predict(trained, tmp_path))).abs().max() > 1e-3
    digits = averaged.datamodule.splits["test"][0][:16]
    pixels = ((digits[:, 0] * STD + MEAN) * 255).round().to(torch.uint8)
    with started(ema_run, log=tmp_path / "server.log") as server:
        client = server.ready()
        answers = [client.predict({"image": p.tolist()}) for p in pixels]
    served = np.array([list(answer["probabilities"].values()) for _, answer, _ in answers])
    assert np.abs(served - predicted(averaged).numpy()).max() <= 1e-5
    export_command.main(["--ckpt_path", str(ema_run), "--exporter", "torchscript", "--batch_size", "8"])
    exported = torch.export.load(str(ema_run.parent / "model.pt2")).module()
    with torch.no_grad():
        assert (exported(digits) - predicted(averaged)).abs().max() <= 1e-5

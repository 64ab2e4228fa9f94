"""configs/presets/ema.yaml: a fit stopped by a signal (mid-epoch, or between validation batches while the average is
swapped in) and resumed with `--ckpt_path last` ends bit-identical to one never stopped, average included."""

import os
import signal
from pathlib import Path

import lightning as L
import pytest
import torch

from tests.conftest import CONFIGS, run_cli
from tests.reliability.helpers import assert_same_weights, callback_option, tiny_args, weights

# Two validation batches, so that a stop can come between them; every epoch's checkpoint kept, so that last.ckpt is
# written every epoch (Lightning 2.6 writes it only along with a top-k checkpoint)
EMA = (
    "-c",
    str(CONFIGS / "presets" / "ema.yaml"),
    "--data.init_args.eval_batch_size=32",
    "--trainer.limit_val_batches=2",
    "--checkpoint.save_top_k=-1",
)
SAVED = ("state_dict", "current_model_state", "averaging_state")  # the average, the trained weights, its counter


class SignalDuringValidation(L.Callback):
    """SIGTERM after the first validation batch of the given epoch, while the average is in the module."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int, *args) -> None:
        if not trainer.sanity_checking and trainer.current_epoch == self.epoch and batch_idx == 0:
            os.kill(os.getpid(), signal.SIGTERM)


def saved(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    checkpoint = torch.load(path, weights_only=True)
    return {key: checkpoint[key] for key in SAVED}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Reference: three epochs with the EMA preset, never stopped."""
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ema_reference"))
    try:
        cli = run_cli("fit", *tiny_args(*EMA))
        return {"weights": weights(cli.model), "saved": saved(Path(cli.trainer.checkpoint_callback.last_model_path))}
    finally:
        os.chdir(here)


DURING_VALIDATION = (
    f'--trainer.callbacks+={{"class_path": "{__name__}.SignalDuringValidation", "init_args": {{"epoch": 1}}}}'
)


@pytest.mark.parametrize(
    "stop",
    [callback_option("SignalAtStep", step=7), DURING_VALIDATION],
    ids=["mid-epoch", "between-validation-batches"],
)
def test_an_ema_fit_stopped_by_sigterm_resumes_exactly(uninterrupted: dict, tmp_path: Path, stop: str) -> None:
    reference = uninterrupted["saved"]
    average, trained = reference["state_dict"], reference["current_model_state"]
    assert not all(torch.equal(average[key], trained[key]) for key in average)  # two different sets of weights
    with pytest.raises(SystemExit) as stopped:
        run_cli("fit", *tiny_args(*EMA, stop))
    assert stopped.value.code == 143
    last = tmp_path / "logs/mnist_mlp/version_0/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] in (
        7,
        10,
    )  # at the stop, or after epoch 1's training steps
    resumed = run_cli("fit", *tiny_args(*EMA, "--ckpt_path=last"))
    assert resumed.trainer.global_step == 15
    assert_same_weights(weights(resumed.model), uninterrupted["weights"])  # the average, which ends the fit
    for key in SAVED:
        assert_same_weights(saved(last)[key], reference[key])

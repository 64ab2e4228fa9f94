"""A NaN loss stops training with a clear line naming the step, exit 1, and the last good checkpoint untouched."""

from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli
from tests.reliability.helpers import callback_option, tiny_args


def test_nan_loss_stops_at_that_step_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_cli("fit", *tiny_args(callback_option("PoisonWeightsAtStep", step=7)))
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "non-finite loss at step 7" in lines[0] and "debug.yaml" in lines[0]
    last = tmp_path / "logs/mnist_mlp/version_0/checkpoints/last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == 5  # written after epoch 0, not at the bad step
    assert all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values() if value.is_floating_point())
    assert f"the last good checkpoint is {last.relative_to(tmp_path)}" in lines[0]


def test_under_the_debug_preset_anomaly_detection_names_the_backward_op_that_made_the_nan() -> None:
    """The debug preset's promise: torch's anomaly mode raises in backward with the operation at fault."""
    debug = str(Path(__file__).resolve().parents[2] / "configs" / "presets" / "debug.yaml")
    with pytest.raises(RuntimeError, match=r"Function '\w+Backward\d*' returned nan values"):
        run_cli("fit", *tiny_args("-c", debug, callback_option("PoisonWeightsAtStep", step=1)))

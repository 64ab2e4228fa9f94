"""`blueprint export`: a real checkpoint becomes ONNX and a torch.export program that agree with PyTorch."""

from pathlib import Path

import pytest
import torch

from blueprint.export import command as export_command
from tests.conftest import config, run_cli
from tests.fast import QUIET, fast_args


@pytest.fixture
def checkpoint() -> Path:
    """A short real fit that saves last.ckpt and config.yaml under logs/mnist_mlp/version_0."""
    cli = run_cli(
        "fit",
        "-c",
        config("mnist_mlp.yaml"),
        "--trainer.max_steps=3",
        "--trainer.limit_val_batches=1",
        "--trainer.logger.init_args.log_graph=false",
        "--test_after_fit=false",
        "--model.init_args.net.init_args.hidden=[32]",
        *QUIET,
    )
    path = Path(cli.trainer.checkpoint_callback.last_model_path)
    assert path.is_file() and (path.parent.parent / "config.yaml").is_file()
    return path


@pytest.mark.parametrize("exporter", ["torchscript", pytest.param("dynamo", marks=pytest.mark.slow)])
def test_export_matches_pytorch_on_a_real_batch(checkpoint: Path, exporter: str, capsys) -> None:
    diffs = export_command.main(["--ckpt_path", str(checkpoint), "--exporter", exporter, "--batch_size", "8"])
    assert set(diffs) == {"onnx", "torch.export"} and max(diffs.values()) <= 1e-4
    assert (checkpoint.parent / "model.onnx").stat().st_size > 1000 and (checkpoint.parent / "model.pt2").is_file()
    assert "max abs difference" in capsys.readouterr().out


def test_export_exits_nonzero_when_outputs_disagree(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = export_command
    real = export.onnx_outputs
    monkeypatch.setattr(export, "onnx_outputs", lambda path, batch: real(path, batch) + 1e-2)
    with pytest.raises(SystemExit) as exit_info:
        export.main(["--ckpt_path", str(checkpoint), "--exporter", "torchscript"])
    assert exit_info.value.code == 1


def test_exported_regression_model_predicts_in_target_units() -> None:
    """The export returns what `blueprint predict` does: diabetes progression values (25-346), not z-scores."""
    cli = run_cli("fit", "-c", config("tabular_mlp_regression.yaml"), *fast_args(20, "tabular_mlp_regression.yaml"))
    last = Path(cli.trainer.checkpoint_callback.last_model_path)
    export_command.main(["--ckpt_path", str(last), "--exporter", "torchscript"])
    cli.datamodule.setup("test")
    batch = next(iter(cli.datamodule.test_dataloader()))[0][:16]
    task = cli.model.cpu().eval()
    task.load_state_dict(torch.load(last, weights_only=True)["state_dict"])
    exported = torch.export.load(str(last.parent / "model.pt2")).module()
    with torch.no_grad():
        values = exported(batch)
        assert torch.allclose(values, task.predict_values(batch), atol=1e-3)
    assert 50 < float(values.mean()) < 300

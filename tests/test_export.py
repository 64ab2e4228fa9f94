"""scripts/export.py: a real checkpoint becomes ONNX and a torch.export program that agree with PyTorch."""

from pathlib import Path

import pytest

from tests.conftest import config, run_cli
from tests.fast import QUIET
from tests.scripts import load_script


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
    diffs = load_script("export").main(["--ckpt", str(checkpoint), "--exporter", exporter, "--batch-size", "8"])
    assert set(diffs) == {"onnx", "torch.export"} and max(diffs.values()) <= 1e-4
    assert (checkpoint.parent / "model.onnx").stat().st_size > 1000 and (checkpoint.parent / "model.pt2").is_file()
    assert "max abs difference" in capsys.readouterr().out


def test_export_exits_nonzero_when_outputs_disagree(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = load_script("export")
    real = export.onnx_outputs
    monkeypatch.setattr(export, "onnx_outputs", lambda path, batch: real(path, batch) + 1e-2)
    with pytest.raises(SystemExit) as exit_info:
        export.main(["--ckpt", str(checkpoint), "--exporter", "torchscript"])
    assert exit_info.value.code == 1

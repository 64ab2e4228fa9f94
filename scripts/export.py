"""Checkpoint -> ONNX and torch.export program, checked against PyTorch on a real batch of the experiment's data.

    uv run python scripts/export.py --ckpt logs/mnist_cnn/version_0/checkpoints/last.ckpt

The exported model returns what `blueprint predict` does (class probabilities, or regression values in the target's
units). The model and data are rebuilt from the run's config.yaml (next to checkpoints/, or --config). Writes model.onnx
and model.pt2 to --out-dir (default: next to the checkpoint), prints the max absolute difference of each against
eager PyTorch and exits 1 when one is above --tol.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml

from blueprint.cli import cli_main


def build(config: Path):
    """Model and data from a run's config.yaml; its trainer and subcommand keys (ckpt_path, ...) do not matter here."""
    values = {k: v for k, v in yaml.safe_load(config.read_text()).items() if k in ("model", "data", "seed_everything")}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        yaml.safe_dump(values, file)
    try:
        return cli_main(["-c", file.name, "--trainer.logger=false"], run=False)
    finally:
        Path(file.name).unlink()


class Predictor(torch.nn.Module):
    """What `blueprint predict` returns: probabilities for classifiers, values in the target's units for regression."""

    def __init__(self, task: torch.nn.Module) -> None:
        super().__init__()
        self.task = task

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.task.predict_step((inputs,), 0)


def real_batch(datamodule, size: int) -> torch.Tensor:
    """The first `size` test inputs, exactly as the data module serves them."""
    datamodule.setup("test")
    return next(iter(datamodule.test_dataloader()))[0][:size].cpu()


def export_onnx(model: torch.nn.Module, batch: torch.Tensor, path: Path, exporter: str) -> None:
    """Batch dimension left dynamic. 'dynamo' is torch's current exporter (needs onnxscript); 'torchscript' the old."""
    if exporter == "dynamo":
        dims = ({0: torch.export.Dim("batch", min=1)},)
        torch.onnx.export(model, (batch,), str(path), dynamo=True, dynamic_shapes=dims, verbose=False)
    else:
        axes = {"input": {0: "batch"}, "output": {0: "batch"}}
        torch.onnx.export(
            model, (batch,), str(path), dynamo=False, input_names=["input"], output_names=["output"], dynamic_axes=axes
        )


def onnx_outputs(path: Path, batch: torch.Tensor) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]


def export_program(model: torch.nn.Module, batch: torch.Tensor, path: Path) -> torch.nn.Module:
    """torch.export's ExportedProgram, saved and loaded back; returns the reloaded module."""
    dims = ({0: torch.export.Dim("batch", min=1)},)
    torch.export.save(torch.export.export(model, (batch,), dynamic_shapes=dims), str(path))
    return torch.export.load(str(path)).module()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--config", type=Path, help="default: the run's config.yaml next to checkpoints/")
    parser.add_argument("--out-dir", type=Path, help="default: the checkpoint's folder")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--tol", type=float, default=1e-4, help="max abs difference allowed")
    parser.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo")
    opts = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sys.argv = sys.argv[:1]  # LightningCLI gets its args explicitly
    config = opts.config or opts.ckpt.parent.parent / "config.yaml"
    if not opts.ckpt.is_file() or not config.is_file():
        raise SystemExit(f"error: need a checkpoint and its config; not found: {opts.ckpt} / {config} (pass --config)")
    cli = build(config)
    cli.model.load_state_dict(torch.load(opts.ckpt, map_location="cpu", weights_only=True)["state_dict"])
    model = Predictor(cli.model).cpu().eval()
    batch = real_batch(cli.datamodule, opts.batch_size)
    out_dir = opts.out_dir or opts.ckpt.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        expected = model(batch)
        export_onnx(model, batch, out_dir / "model.onnx", opts.exporter)
        program = export_program(model, batch, out_dir / "model.pt2")
        diffs = {
            "onnx": float(np.abs(onnx_outputs(out_dir / "model.onnx", batch) - expected.numpy()).max()),
            "torch.export": float((program(batch) - expected).abs().max()),
        }
    for name, diff in diffs.items():
        print(f"{name}: max abs difference vs PyTorch on {len(batch)} real inputs = {diff:.3g} (tol {opts.tol:g})")
    print(f"wrote {out_dir / 'model.onnx'} and {out_dir / 'model.pt2'}")
    if any(diff > opts.tol for diff in diffs.values()):
        print("error: exported model disagrees with PyTorch beyond --tol", file=sys.stderr)
        raise SystemExit(1)
    return diffs


if __name__ == "__main__":
    main()

"""Checkpoint -> ONNX and torch.export program, checked against PyTorch on a real batch of the experiment's data.

    uv run blueprint export --ckpt_path logs/mnist_cnn/version_0/checkpoints/last.ckpt

The exported model returns what `blueprint predict` does (class probabilities, or regression values in the target's
units). The model and data are rebuilt from the run's config.yaml (next to checkpoints/, or --config). Writes model.onnx
and model.pt2 to --out_dir (default: next to the checkpoint), prints the max absolute difference of each against
eager PyTorch and exits 1 when one is above --tol. A bad argument (a missing, corrupt or foreign checkpoint, a
config that does not build) is one `error:` line and exit 2.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import onnxscript  # noqa: F401 - torch.onnx's dynamo exporter needs it: a missing `export` group is named at once
import torch
import yaml
from lightning.pytorch import LightningModule

from blueprint.checkpointing.loading import check_checkpoint_fits, read_checkpoint
from blueprint.cli.command import cli_main
from blueprint.cli.options import (
    OneLineParser,
    cli_refusal_as_user_error,
    fail,
    non_negative_float,
    one_line_on_user_error,
    positive_int,
)
from blueprint.errors import UserError

BUILT_FROM = ("model", "data", "seed_everything")  # the run's trainer and subcommand keys do not matter here


def run_config(path: Path) -> dict:
    """The keys of a run's config.yaml that rebuild its model and data; anything else there is a UserError."""
    if not path.is_file():
        raise UserError(f"config {path} not found; pass the run's config.yaml with --config")
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UserError(f"config {path} is not YAML ({type(err).__name__}); pass the run's config.yaml") from err
    if not isinstance(values, dict) or "model" not in values:
        raise UserError(f"config {path} has no `model:` section; pass the run's config.yaml with --config")
    return {key: value for key, value in values.items() if key in BUILT_FROM}


def build(values: dict, config: Path):
    """Model and data from a run's config values, through the CLI; a config it refuses is a UserError naming it."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        yaml.safe_dump(values, file)
    try:
        with cli_refusal_as_user_error(f"config {config}: "):
            return cli_main(["-c", file.name, "--trainer.logger=false"], run=False)
    finally:
        Path(file.name).unlink()


class Predictor(torch.nn.Module):
    """What `blueprint predict` returns: probabilities for classifiers, values in the target's units for regression."""

    def __init__(self, task: LightningModule) -> None:
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
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]


def export_program(model: torch.nn.Module, batch: torch.Tensor, path: Path) -> torch.nn.Module:
    """torch.export's ExportedProgram, saved and loaded back; returns the reloaded module."""
    dims = ({0: torch.export.Dim("batch", min=1)},)
    torch.export.save(torch.export.export(model, (batch,), dynamic_shapes=dims), str(path))
    return torch.export.load(str(path)).module()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(prog="blueprint export", description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt_path", type=Path, required=True)
    parser.add_argument("--config", type=Path, help="default: the run's config.yaml next to checkpoints/")
    parser.add_argument("--out_dir", type=Path, help="default: the checkpoint's folder")
    parser.add_argument("--batch_size", type=positive_int, default=16)
    parser.add_argument("--tol", type=non_negative_float, default=1e-4, help="max abs difference allowed")
    parser.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo")
    opts = parser.parse_args(argv)
    opts.config = opts.config or opts.ckpt_path.parent.parent / "config.yaml"
    opts.out_dir = opts.out_dir or opts.ckpt_path.parent
    if opts.out_dir.exists() and not opts.out_dir.is_dir():
        parser.error(f"--out_dir {opts.out_dir} is a file; pass a folder for model.onnx and model.pt2")
    return opts


def load_model(opts: argparse.Namespace) -> tuple[torch.nn.Module, torch.Tensor]:
    """The predictor with the checkpoint's weights, and a real batch; the checkpoint is read first, safely."""
    if not opts.ckpt_path.is_file():
        raise UserError(
            f"--ckpt_path {opts.ckpt_path} is not a file; pass a .ckpt from a run, e.g. checkpoints/last.ckpt"
        )
    checkpoint = read_checkpoint(opts.ckpt_path)  # weights_only=True; corrupt or foreign files are a UserError
    cli = build(run_config(opts.config), opts.config)
    check_checkpoint_fits(str(opts.ckpt_path), checkpoint, cli.model)
    cli.model.load_state_dict(checkpoint["state_dict"])
    return Predictor(cli.model).cpu().eval(), real_batch(cli.datamodule, opts.batch_size)


def export(opts: argparse.Namespace) -> dict[str, float]:
    """Writes both exports and returns each one's max abs difference against eager PyTorch."""
    model, batch = load_model(opts)
    out_dir = opts.out_dir
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
    return diffs


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Bad arguments end in one `error:` line (exit 2); outputs beyond --tol in one too (exit 1)."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    sys.argv = sys.argv[:1]  # LightningCLI gets its args explicitly
    with one_line_on_user_error():
        diffs = export(opts)
    if any(diff > opts.tol for diff in diffs.values()):
        fail(
            f"an export differs from PyTorch by more than --tol {opts.tol:g} (above); raise --tol if it is rounding", 1
        )
    return diffs

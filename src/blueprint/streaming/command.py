"""Write an experiment's data into LitData's optimized chunk format, to train from it with the streaming preset.

    uv run blueprint stream -c configs/mnist_cnn.yaml --out_dir data/streaming/mnist
    uv run blueprint fit -c configs/mnist_cnn.yaml -c configs/presets/streaming.yaml \\
        --data.init_args.root data/streaming/mnist

The experiment's own DataModule (with any `--data.init_args.*` overrides given here) loads the data, so the splits,
normalization and augmentation are exactly the in-memory path's. `--image_folder` writes a folder of images in
torchvision's ImageFolder layout instead (see docs/streaming.md). litdata.optimize shows a progress bar per split.
A bad argument is one `error:` line and exit 2; an --out_dir that already holds files is never written into.
A write stopped by Ctrl+C or SIGTERM exits 130 or 143, a failed one (a full disk) 1, each with one `error:` line and
nothing left at --out_dir, so the same command can simply run again.
"""

import argparse
import json
import sys
from pathlib import Path

from blueprint.cli.command import cli_main
from blueprint.cli.options import OneLineParser, cli_refusal_as_user_error, fail, one_line_on_user_error, positive_int
from blueprint.data.base import InMemoryDataModule
from blueprint.data.image_folder import ImageFolderDataModule
from blueprint.errors import UserError
from blueprint.streaming.writer import Interrupted, parse_chunk_bytes, stopped_by_signals, summary, write_stream


def chunk_bytes(text: str) -> int | str:
    """argparse type: checked before any data is loaded (litdata.optimize would refuse it only after)."""
    try:
        return parse_chunk_bytes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_args(argv: list[str]):
    parser = OneLineParser(prog="blueprint stream", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", action="append", default=[], help="experiment config (and presets)")
    parser.add_argument("--image_folder", help="a folder of class sub-folders of images (torchvision ImageFolder)")
    parser.add_argument("--image_size", type=positive_int, default=32, help="--image_folder: images resized to this")
    parser.add_argument("--out_dir", required=True, help="the stream folder to write; must not exist yet, or be empty")
    parser.add_argument("--num_workers", type=positive_int, default=1, help="litdata.optimize writer processes")
    parser.add_argument("--chunk_bytes", type=chunk_bytes, default="64MB", help="chunk file size: 64MB, 1GB or bytes")
    parser.add_argument("--train_sequences", type=positive_int, help="Moving MNIST: training sequences to render")
    opts, overrides = parser.parse_known_args(argv)
    if bool(opts.config) == bool(opts.image_folder):
        fail("give an experiment with -c <config>.yaml or a folder with --image_folder (exactly one of them)")
    bad = [arg for arg in overrides if not arg.startswith("--data.")]
    if bad:
        fail(f"unknown argument(s) {bad}; only --data.* overrides go to the experiment (options: --help)")
    opts.overrides = overrides
    return opts


def check_out(out: Path) -> None:
    """Nothing is ever written over: an --out_dir holding files is refused before any work."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out_dir '{out}' already exists and is not an empty folder; choose a new one or delete it")


def experiment_data(configs: list[str], overrides: list[str]) -> InMemoryDataModule:
    """The experiment's DataModule as `blueprint fit` would build it."""
    args = [arg for path in configs for arg in ("-c", path)] + overrides
    with cli_refusal_as_user_error(f"config {' '.join(configs)}: "):
        cli = cli_main([*args, "--trainer.logger=false"], run=False)
    module = cli.datamodule
    if not isinstance(module, InMemoryDataModule):
        raise UserError(
            f"config {' '.join(configs)} loads its data with {type(module).__name__}, which this command cannot read; "
            "give the experiment config without the streaming preset"
        )
    return module


def load(opts: argparse.Namespace) -> InMemoryDataModule:
    """The module whose splits are written: an image folder's, or the experiment's."""
    if opts.image_folder:
        return ImageFolderDataModule(opts.image_folder, image_size=opts.image_size)
    return experiment_data(opts.config, opts.overrides)


def last_line(err: BaseException) -> str:
    """LitData's RuntimeError carries a worker's whole traceback; its last line says what went wrong."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def main(argv: list[str] | None = None) -> dict:
    """Writes the stream and prints what it holds; a mistake is one `error:` line and exit 2."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    sys.argv = sys.argv[:1]  # LightningCLI gets its args explicitly
    out = Path(opts.out_dir)
    with one_line_on_user_error(), stopped_by_signals():
        check_out(out)
        try:
            info = write_stream(load(opts), out, opts.num_workers, opts.chunk_bytes, opts.train_sequences)
        except Interrupted as stopped:
            fail(f"stopped by {stopped} before '{out}' was complete; nothing was kept, run the same command again",
                 128 + stopped.signum)  # fmt: skip
        except (OSError, RuntimeError) as err:  # a full disk, or a writer process's error (LitData's RuntimeError)
            fail(f"writing '{out}' failed ({last_line(err)}); nothing was kept, fix that and run the command again", 1)
    written = summary(info)
    print(f"wrote {out}: {json.dumps(written)}")
    return written

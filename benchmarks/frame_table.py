"""One markdown row per finished frame-prediction run: its test figures, size, cost and how far it got.

    uv run python benchmarks/frame_table.py logs/moving_mnist_convlstm/version_0 logs/moving_mnist_simvp/version_0

Each run folder is a `blueprint fit` run (config.yaml + TensorBoard events, tested after fit). The net is rebuilt
from the run's config to count its parameters and its FLOPs on one sample (torch.utils.flop_counter); epochs are
the validation rounds logged, seconds per epoch the mean gap between them (longer on a loaded machine). A folder
that is not such a run is one `error:` line and exit 2.
"""

import importlib
import sys
from pathlib import Path

import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.flop_counter import FlopCounterMode

from blueprint.cli.options import OneLineParser, fail

HEADER = (
    "| run | MSE/frame | vs zeros | MAE/frame | SSIM | PSNR | params | GFLOPs/sample | epochs | s/epoch |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def net_cost(config: Path) -> tuple[int, float]:
    """Parameters and forward GFLOPs on one sample of the net the run's config builds (class_path + init_args)."""
    spec = yaml.safe_load(config.read_text())["model"]["init_args"]["net"]
    module, _, name = spec["class_path"].rpartition(".")
    net = getattr(importlib.import_module(module), name)(**spec.get("init_args", {})).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, *net.input_shape))
    return sum(p.numel() for p in net.parameters()), counter.get_total_flops() / 1e9


def row(run: Path) -> str:
    """The run's markdown row; MAE is per pixel x 4096 pixels = per 64x64 frame, like MSE/frame."""
    events = list(run.glob("events.out.tfevents.*"))
    if not (run / "config.yaml").is_file() or not events:
        fail(f"{run} holds no config.yaml and TensorBoard events; give a logs/<name>/version_N folder of a fit run")
    scalars = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
    tags = set(scalars.Tags()["scalars"])
    if "test/mse_per_frame" not in tags:
        fail(f"{run} has no test/mse_per_frame; it was not tested (test_after_fit) or is no frame-prediction run")

    def last(tag: str) -> float:
        return scalars.Scalars(tag)[-1].value

    rounds = [event.wall_time for event in scalars.Scalars("val/loss")]
    per_epoch = (rounds[-1] - rounds[0]) / (len(rounds) - 1) if len(rounds) > 1 else float("nan")
    params, gflops = net_cost(run / "config.yaml")
    mse, zeros = last("test/mse_per_frame"), last("test/baseline_zeros_mse_per_frame")
    pixels = mse / last("test/mse")
    cells = [
        f"{run.parent.name}/{run.name}",
        f"{mse:.1f}",
        f"{100 * (mse / zeros - 1):+.1f}%",
        f"{last('test/mae') * pixels:.1f}",
        f"{last('test/ssim'):.3f}",
        f"{last('test/psnr'):.2f}",
        f"{params / 1e6:.2f} M",
        f"{gflops:.2f}",
        str(len(rounds)),
        f"{per_epoch:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="logs/<name>/version_N folders of finished fit runs")
    args = parser.parse_args()
    rows = [row(run) for run in args.runs]
    print(HEADER, *rows, sep="\n")


if __name__ == "__main__":
    sys.exit(main())

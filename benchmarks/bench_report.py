"""Markdown report for benchmarks/bench.py: machine facts, seconds per epoch, the ratios the targets are stated in."""

import argparse
import datetime
import os
import platform
from pathlib import Path

import lightning
import torch

VARIANT_NAMES = {
    "a": "(a) plain loop, DataLoader(TensorDataset)",
    "b": "(b) plain loop, DataLoader(BatchedTensorDataset)",
    "c": "(c) blueprint fit (CLI, config as shipped)",
    "d": "(d) Trainer(barebones=True)",
}
RATIOS = [("c", "b"), ("c", "a"), ("d", "b"), ("b", "a")]


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else whatever platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines() -> list[str]:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (data and model on CPU)"
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores",
        f"- GPU: {gpu}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, lightning {lightning.__version__}",
    ]


def _ratio(top, bottom) -> str:
    """min wall / median wall / min CPU, each as top over bottom."""
    if top is None or bottom is None:
        return "-"
    return f"{top.best / bottom.best:.2f} / {top.median / bottom.median:.2f} / {top.best_cpu / bottom.best_cpu:.2f}"


def render(results: dict, delivery: dict[int, dict[str, float]], args: argparse.Namespace, argv: list[str]) -> str:
    """The whole report; `results` maps (config, precision, threads, variant) to a bench.Result."""
    settings = sorted({key[:3] for key in results}, key=lambda s: (s[0].stem, s[1], s[2]))
    lines = [
        "# Benchmarks",
        "",
        f"Generated {datetime.date.today()} by `uv run python benchmarks/bench.py {' '.join(argv)}`".rstrip() + ".",
        "",
        *machine_lines(),
        "",
        f"Each run trains {args.epochs} epoch(s) and validates after each; the first epoch of a run is dropped as",
        f"warm-up when there are more. {args.repeats} repeat(s), interleaved in one process (a, b, c, d of every",
        "setting, then again), so other load on the machine hits all variants alike. Min and median are over",
        "all measured epochs. Process CPU time is also given: it does not count time the process waits for a",
        "core, so it is steadier on a shared machine. (a) trains without the config's augmentation and LR",
        "schedule (as the source material does); (b) applies the augmentation (its loader's transform), (c) and",
        "(d) apply both. Every variant validates with the task's own validation step and metrics (for frame",
        "prediction that includes SSIM and PSNR). For a config that draws its batches",
        "as it goes (Moving MNIST), (a) gets one epoch of them drawn in advance and (b) uses the project's own",
        "loader. `config:N` in the command caps that config at N batches per epoch (train and val); every",
        "variant gets the same cap and the same thread count. samples/s uses the min wall time. Under bf16-mixed",
        "(a) and (b) use torch.autocast as the material does, which keeps one bf16 copy of each weight for the",
        "autocast region; Lightning 2.6.6 turns that cache off (its workaround for lost gradients when no_grad",
        "runs inside autocast), so a net that reuses a weight within one forward recasts it at every use: 2-4%",
        "of a ConvLSTM training step and ~7% of the LSTM's here, measured apart from this report.",
        "",
        "## Seconds per epoch",
        "",
        "| config | precision | threads | variant | s/epoch min | s/epoch median | CPU s/epoch min | samples/s |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for setting in settings:
        for variant, name in VARIANT_NAMES.items():
            result = results.get((*setting, variant))
            if result is None:
                continue
            rate = result.samples / result.best
            lines.append(
                f"| {setting[0].stem} | {setting[1]} | {setting[2]} | {name} | {result.best:.3f} | "
                f"{result.median:.3f} | {result.best_cpu:.3f} | {rate:,.0f} |"
            )
    lines += ["", "## Ratios of seconds per epoch: min wall / median wall / min process CPU time", ""]
    lines += ["| config | precision | threads | " + " | ".join(f"({t})/({b})" for t, b in RATIOS) + " |"]
    lines += ["|---|---|---|" + "---:|" * len(RATIOS)]
    for setting in settings:
        cells = " | ".join(_ratio(results.get((*setting, t)), results.get((*setting, b))) for t, b in RATIOS)
        lines.append(f"| {setting[0].stem} | {setting[1]} | {setting[2]} | {cells} |")
    lines += _precision_lines(results, settings)
    lines += [
        "",
        "## Batch delivery on MNIST-shaped batches (64 x 1 x 28 x 28, shuffled, no model)",
        "",
        "| threads | loader | ms/batch (min) | speed-up |",
        "|---|---|---:|---:|",
    ]
    for threads, per_batch in delivery.items():
        slowest = max(per_batch.values())
        for name, seconds in per_batch.items():
            lines.append(f"| {threads} | {name} | {seconds * 1e3:.3f} | {slowest / seconds:.1f}x |")
    return "\n".join(lines) + "\n"


def _precision_lines(results: dict, settings: list[tuple]) -> list[str]:
    """bf16-mixed against fp32 for the same config, threads and variant (below 1 means bf16 is faster)."""
    pairs = [(s, (s[0], "bf16-mixed", s[2])) for s in settings if s[1] == "32-true"]
    pairs = [(fp32, bf16) for fp32, bf16 in pairs if bf16 in settings]
    if not pairs:
        return []
    lines = ["", "## bf16-mixed / fp32 seconds per epoch (min wall / median wall / min CPU); below 1: bf16 is faster"]
    lines += ["", "| config | threads | (b) plain loop | (c) blueprint fit |", "|---|---|---:|---:|"]
    for fp32, bf16 in pairs:
        cells = [_ratio(results.get((*bf16, v)), results.get((*fp32, v))) for v in "bc"]
        lines.append(f"| {fp32[0].stem} | {fp32[2]} | {cells[0]} | {cells[1]} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(
        "error: bench_report.py only renders the report of bench.py; run: uv run python benchmarks/bench.py"
    )

"""Do the picture callbacks slow training? mnist_cnn with and without them, alternating, each run its own process.

    uv run python benchmarks/bench_pictures.py                      # 5 pairs of 11-epoch runs (about 3 minutes)
    uv run python benchmarks/bench_pictures.py --pairs 4 --epochs 6 --config configs/fashion_mnist_cnn.yaml

The default length, 11 epochs, holds 10 measured ones: a callback drawing every 10th epoch is counted at its
share.

Each run appends SamplesPerSecond (train/epoch_sec: a whole epoch, its validation and pictures included); the first
epoch is warm-up and left out. The "without" run replaces the config's callbacks by the same list minus the picture
callbacks. Prints per pair the mean epoch seconds and the process CPU seconds, then the ratios with / without.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.cli.options import OneLineParser, fail, positive_int

PICTURES = ("confusion_matrix", "confident_mistakes", "binary_curves", "regression_scatter", "horizon_error")
SPEED = "blueprint.callbacks.SamplesPerSecond"


def callbacks_without_pictures(config: Path) -> list:
    """defaults.yaml's callbacks and the config's own `callbacks+` list, without the picture callbacks (a list as the
    CLI option takes it, which replaces the defaults' list)."""
    defaults = config.parent / "defaults.yaml"
    listed = [*yaml.safe_load(defaults.read_text())["trainer"]["callbacks"]]
    listed += (yaml.safe_load(config.read_text()).get("trainer") or {}).get("callbacks+") or []
    kept = [c for c in listed if not any(p in json.dumps(c) for p in PICTURES)]
    return [*kept, SPEED]


def run(config: Path, epochs: int, folder: Path, pictures: bool) -> tuple[float, float]:
    """Mean wall seconds of epochs 2.., and the child's CPU seconds."""
    callbacks = (
        [f"--trainer.callbacks+={SPEED}"]
        if pictures
        else [f"--trainer.callbacks={json.dumps(callbacks_without_pictures(config))}"]
    )
    args = ["blueprint", "fit", "-c", str(config), f"--trainer.max_epochs={epochs}", "--test_after_fit=false",
            "--trainer.enable_progress_bar=false", f"--trainer.logger.init_args.save_dir={folder}"]  # fmt: skip
    args += callbacks
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(args, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        fail(f"blueprint fit exited {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    run_dir = max(folder.glob("*/version_*"), key=lambda p: p.stat().st_mtime)
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    seconds = [e.value for e in events.Scalars("train/epoch_sec")][1:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return statistics.mean(seconds), cpu


def main() -> None:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/mnist_cnn.yaml")
    parser.add_argument("--pairs", type=positive_int, default=5)
    parser.add_argument("--epochs", type=positive_int, default=11)
    options = parser.parse_args()
    config = Path(options.config)
    if not config.is_file():
        fail(f"--config {options.config!r} does not exist; give an experiment config such as configs/mnist_cnn.yaml")
    if options.epochs < 2:
        fail(f"--epochs {options.epochs}: the first epoch is warm-up; give 2 or more")
    ratios, cpu_ratios = [], []
    with tempfile.TemporaryDirectory() as folder:
        for pair in range(options.pairs):
            order = (True, False) if pair % 2 == 0 else (False, True)  # alternate who goes first
            measured = {pictures: run(config, options.epochs, Path(folder), pictures) for pictures in order}
            (with_s, with_cpu), (without_s, without_cpu) = measured[True], measured[False]
            ratios.append(with_s / without_s)
            cpu_ratios.append(with_cpu / without_cpu)
            print(f"pair {pair + 1}: epoch {with_s:.2f}s with / {without_s:.2f}s without = {ratios[-1]:.3f}; "
                  f"process CPU {with_cpu:.0f}s / {without_cpu:.0f}s = {cpu_ratios[-1]:.3f}", flush=True)  # fmt: skip
    epoch, cpu = statistics.median(ratios), statistics.median(cpu_ratios)
    print(f"median ratio with/without: epoch time {epoch:.3f}, CPU {cpu:.3f}")


if __name__ == "__main__":
    sys.exit(main())

"""What a preset costs or saves per epoch (default: configs/presets/compile.yaml), in separate processes, interleaved.

Each repeat runs `blueprint fit` once without and once with the preset, each in a new process (a compiled function's
caches live in its process), with the config as shipped but a few epochs and no test pass. A callback notes the time
at every training epoch's start, so an epoch is its training steps, validation and checkpoint. The first epoch pays
the compilation; the steady epoch is the median of the later ones. Each process gets an empty inductor cache
(TORCHINDUCTOR_CACHE_DIR), as a first run on a machine does; `--warm_cache` shares one, as later runs do.

    uv run python benchmarks/bench_compile.py --configs configs/mnist_cnn.yaml --epochs 5 --repeats 3 --threads 1
    uv run python benchmarks/bench_compile.py --configs configs/moving_mnist_simvp.yaml:20 --epochs 4 --repeats 3
    uv run python benchmarks/bench_compile.py --configs configs/mnist_cnn.yaml --preset configs/presets/ema.yaml

`config:N` caps each epoch at N training batches. Compare variants within one run: other load on the machine hits
both alike only because the processes alternate.
"""

import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

from blueprint.cli.options import OneLineParser, fail, positive_int

REPO = Path(__file__).resolve().parents[1]


class EpochClock(L.Callback):
    """Writes the wall time of each training epoch start, and of the end of training, to `path` as JSON."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stamps: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.stamps.append(time.perf_counter())

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.stamps.append(time.perf_counter())
        Path(self.path).write_text(json.dumps(self.stamps))


def epoch_seconds(
    config: str, batches: int | None, preset: str | None, epochs: int, env: dict[str, str]
) -> list[float]:
    """One `blueprint fit` in a new process (`env` added to its environment); the seconds of each of its epochs."""
    with tempfile.TemporaryDirectory() as folder:
        clock = Path(folder, "epochs.json")
        args = ["-c", str(REPO / config), *(["-c", str(REPO / preset)] if preset else [])]
        args += [f"--trainer.max_epochs={epochs}", "--test_after_fit=false", "--trainer.enable_progress_bar=false"]
        args += [f"--trainer.logger.init_args.save_dir={folder}", "--trainer.enable_model_summary=false"]
        args += [f"--trainer.limit_train_batches={batches}"] if batches else []
        args.append(
            f'--trainer.callbacks+={{"class_path": "bench_compile.EpochClock", "init_args": {{"path": "{clock}"}}}}'
        )
        env = {
            "TORCHINDUCTOR_CACHE_DIR": str(Path(folder, "inductor")),
            **env,
            "PYTHONPATH": str(Path(__file__).parent),
        }
        command = [sys.executable, "-m", "blueprint.cli", "fit", *args]
        done = subprocess.run(command, env={**os.environ, **env}, capture_output=True)
        if done.returncode != 0:
            last = (done.stderr.decode().strip().splitlines() or ["no output"])[-1]
            fail(f"blueprint fit -c {config} {'-c ' + preset if preset else ''} failed: {last}")
        stamps = json.loads(clock.read_text())
    return [b - a for a, b in itertools.pairwise(stamps)]


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", nargs="+", default=["configs/mnist_cnn.yaml", "configs/moving_mnist_simvp.yaml:20"]
    )
    parser.add_argument("--preset", default="configs/presets/compile.yaml")
    parser.add_argument("--epochs", type=positive_int, default=4, help="2 or more: the first one compiles")
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--warm_cache", action="store_true", help="one inductor cache for every process")
    parser.add_argument(
        "--threads", type=positive_int, help="torch threads per process (OMP_NUM_THREADS); default: torch's"
    )
    options = parser.parse_args(argv)
    if options.epochs < 2:
        fail(f"--epochs {options.epochs} leaves no epoch after the first, which compiles; give 2 or more")
    for path in [entry.partition(":")[0] for entry in options.configs] + [options.preset]:
        if not (REPO / path).is_file():
            fail(f"config {path} not found; give a path relative to the repository, e.g. configs/mnist_cnn.yaml")
    with tempfile.TemporaryDirectory() as shared:
        env = {"TORCHINDUCTOR_CACHE_DIR": shared} if options.warm_cache else {}
        env |= {"OMP_NUM_THREADS": str(options.threads)} if options.threads else {}
        for entry in options.configs:
            config, _, cap = entry.partition(":")
            runs: dict[str, list[list[float]]] = {"without": [], "with": []}
            for _ in range(options.repeats):
                for name, preset in (("without", None), ("with", options.preset)):
                    runs[name].append(epoch_seconds(config, int(cap) if cap else None, preset, options.epochs, env))
                    print(
                        f"{entry} {name} {options.preset}: epochs {[round(s, 2) for s in runs[name][-1]]}", flush=True
                    )
            threads = options.threads or "torch's default"
            print(f"\n{entry}, {options.repeats} processes each, {threads} threads, load {os.getloadavg()[0]:.1f}:")
            for name, epochs in runs.items():
                first = [e[0] for e in epochs]
                steady = [statistics.median(e[1:]) for e in epochs]
                print(
                    f"  {name:7} first epoch {statistics.median(first):6.2f} s ({min(first):.2f}-{max(first):.2f}),"
                    f" steady epoch {statistics.median(steady):6.2f} s ({min(steady):.2f}-{max(steady):.2f})"
                )


if __name__ == "__main__":
    main()

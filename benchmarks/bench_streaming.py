"""Benchmark: train from a Moving MNIST stream of several GB in bounded memory, against the in-memory loader.

    uv run python benchmarks/bench_streaming.py --out /tmp/moving_mnist_stream   # ~4.1 GB written (50,000 sequences)

1. Writes `--sequences` Moving MNIST sequences (20 frames of 64x64, uint8: 80 KiB each) with
   `blueprint stream`'s writer, unless --out already holds a stream (then it is reused, not rewritten).
2. Trains configs/moving_mnist_lstm.yaml for `--steps` steps, each run in its own process: once streaming from --out,
   once with the in-memory loader (MovingMNISTDataModule, sequences rendered in memory). Each process reports its
   training samples/s (after `--warmup` steps) and its peak RSS (resource.getrusage: the most resident memory it had).
Prints one JSON line per run and exits 1 when the streaming run's peak RSS reaches --max-rss-gb. Not a test:
it writes GBs and trains for minutes; record its figures in docs/streaming.md.
"""

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lightning as L

from blueprint.cli.options import OneLineParser, fail, positive_int

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "moving_mnist_lstm.yaml"
PRESET = REPO / "configs" / "presets" / "streaming.yaml"


class StepTimer(L.Callback):
    """Training samples per second between the end of step `warmup` and the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.samples, self.start, self.end = warmup, 0, 0.0, 0.0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        elif trainer.global_step > self.warmup:
            self.samples += len(batch[0])
            self.end = time.perf_counter()


def parse_args(argv: list[str]):
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/moving_mnist_stream", help="stream folder (kept for reruns)")
    parser.add_argument("--sequences", type=positive_int, default=50_000, help="training sequences to write")
    parser.add_argument("--steps", type=positive_int, default=100, help="training steps per run")
    parser.add_argument("--warmup", type=positive_int, default=10, help="steps left out of samples/s")
    parser.add_argument("--batch_size", type=positive_int, default=16)
    parser.add_argument("--num_workers", type=int, default=2, help="loader processes of the streaming run")
    parser.add_argument("--write_workers", type=positive_int, default=2, help="litdata.optimize processes")
    parser.add_argument(
        "--max-rss-gb", type=float, default=2.0, help="fail when the streaming run's peak RSS reaches it"
    )
    parser.add_argument("--child", choices=["stream", "memory"], help=argparse_hidden())
    return parser.parse_args(argv)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


def write(out: Path, sequences: int, workers: int) -> dict:
    """The stream, unless --out already holds one; its size on disk in GB."""
    from blueprint.data.moving_mnist import MovingMNISTDataModule
    from blueprint.streaming.writer import write_stream

    if not (out / "stream.json").is_file():
        if out.exists():
            fail(f"--out '{out}' exists but holds no finished stream; delete it or choose another folder")
        module = MovingMNISTDataModule(val_sequences=100, test_sequences=100)
        started = time.perf_counter()
        write_stream(module, out, num_workers=workers, train_sequences=sequences)
        print(json.dumps({"written_s": round(time.perf_counter() - started, 1)}), flush=True)
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    return {"stream": str(out), "size_gb": round(size / 1e9, 2), "free_gb": round(shutil.disk_usage(out).free / 1e9)}


def child(opts) -> None:
    """One training run in this process; prints its samples/s and peak RSS as JSON."""
    import tempfile

    from blueprint.cli.command import cli_main

    timer = StepTimer(opts.warmup)
    args = ["-c", str(CONFIG)]
    if opts.child == "stream":
        args += [
            "-c",
            str(PRESET),
            f"--data.init_args.root={opts.out}",
            f"--data.init_args.num_workers={opts.num_workers}",
        ]
    else:
        args += [f"--data.init_args.train_sequences={opts.steps * opts.batch_size}"]
    args += [
        f"--data.init_args.batch_size={opts.batch_size}",
        f"--trainer.max_steps={opts.steps}",
        "--trainer.max_time=null",
        "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.logger=false",
        "--trainer.callbacks=[]",
        "--test_after_fit=false",
    ]
    with tempfile.TemporaryDirectory() as here:
        import os

        os.chdir(here)
        cli = cli_main(args, run=False)
        cli.trainer.callbacks.append(timer)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    workers_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9  # the largest loader process
    rate = timer.samples / (timer.end - timer.start) if timer.end > timer.start else 0.0
    report = {
        "loader": opts.child,
        "samples_per_s": round(rate, 1),
        "peak_rss_gb": round(peak_gb, 3),
        "worker_peak_rss_gb": round(workers_gb, 3),
    }
    print(json.dumps(report))


def run_child(kind: str, argv: list[str]) -> dict:
    """A run in a fresh process, so its peak RSS is its own (not the writer's, not the other run's)."""
    result = subprocess.run(
        [sys.executable, __file__, *argv, "--child", kind], capture_output=True, text=True, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"loader"')]
    if result.returncode != 0 or not lines:
        fail(f"the {kind} run failed (exit {result.returncode}): {result.stderr.strip().splitlines()[-1:]}", 1)
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    opts = parse_args(argv)
    if opts.child:
        child(opts)
        return []
    stream = write(Path(opts.out), opts.sequences, opts.write_workers)
    print(json.dumps(stream), flush=True)
    results = [run_child("stream", argv), run_child("memory", argv)]
    for result in results:
        print(json.dumps(result | {"steps": opts.steps, "batch_size": opts.batch_size}), flush=True)
    if results[0]["peak_rss_gb"] >= opts.max_rss_gb:
        fail(f"the streaming run's peak RSS {results[0]['peak_rss_gb']} GB reached --max-rss-gb {opts.max_rss_gb}", 1)
    return results


if __name__ == "__main__":
    main()

"""How much does the template cost over a plain PyTorch loop? Four ways to train the same model, interleaved.

(a) the plain loop from the source material over DataLoader(TensorDataset); (b) the same loop over the project's
DataLoader(BatchedTensorDataset), which indexes whole batches on the device; (c) `blueprint fit` through the CLI
with the config as shipped (logging, progress bar, checkpoints); (d) the Trainer with barebones=True. Every variant
trains and validates once per epoch on the same model, data, batch size, precision and thread count. Runs are
interleaved (a, b, c, d, a, b, c, d, ...) in one process so that load from other processes hits every variant
alike; compare ratios, not absolute seconds.

    uv run python benchmarks/bench.py                                  # all configs, fp32 + bf16-mixed, 1 + 2 threads
    uv run python benchmarks/bench.py --configs configs/mnist_mlp.yaml --epochs 2 --repeats 3 --threads 2
    uv run python benchmarks/bench.py --configs configs/moving_mnist_convlstm.yaml:20   # cap that config at 20 batches

A bad argument (zero epochs, an unknown variant, no config that exists, a config the CLI refuses) is one `error:`
line and exit 2, before anything is timed.
"""

import argparse
import contextlib
import copy
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from bench_report import render  # benchmarks/bench_report.py, next to this file
from torch.utils.data import DataLoader, TensorDataset

from blueprint.callbacks import SamplesPerSecond
from blueprint.cli.command import cli_main
from blueprint.cli.options import (
    OneLineParser,
    cli_refusal_as_user_error,
    error_line,
    fail,
    positive_int,
    quiet_lightning_info,
)
from blueprint.cli.upstream_workarounds import remember_no_gpu
from blueprint.data.batched import BatchedTensorDataset, whole_batch
from blueprint.errors import UserError
from blueprint.tasks import ClassificationTask, FramePredictionTask

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = ["configs/mnist_mlp.yaml", "configs/mnist_cnn.yaml", "configs/moving_mnist_convlstm.yaml:25"]
VARIANTS = {
    "a": "plain loop, DataLoader(TensorDataset)",
    "b": "plain loop, DataLoader(BatchedTensorDataset)",
    "c": "blueprint fit (CLI, config as shipped)",
    "d": "Trainer(barebones=True)",
}
PRECISIONS = ("32-true", "bf16-mixed")  # the plain loops (a)/(b) autocast to bf16 or not at all: nothing else matches


@dataclass
class Result:
    """Seconds of every measured epoch, wall clock and process CPU time (a run's first epoch is warm-up)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    samples: int = 0

    def add(self, run: "Run") -> None:
        skip = 1 if len(run.wall) > 1 else 0
        self.wall += run.wall[skip:]
        self.cpu += run.cpu[skip:]
        self.samples = run.samples

    @property
    def best(self) -> float:
        return min(self.wall)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu)


@dataclass
class Run:
    """One training run's per-epoch seconds and its training samples per epoch."""

    wall: list[float]
    cpu: list[float]
    samples: int

    @classmethod
    def from_timer(cls, timer: SamplesPerSecond) -> "Run":
        return cls(timer.epoch_seconds(), timer.epoch_seconds(cpu=True), timer.epoch_samples[-1])


class Workload:
    """One config's model and data, built once through the CLI; every run starts from copies of the same weights."""

    def __init__(self, config: Path, limit_batches: int | None, fit_args: list[str] | None = None) -> None:
        with cli_refusal_as_user_error(f"{config}: "):
            cli = cli_main(
                ["-c", str(config), "--trainer.logger=false", "--trainer.enable_progress_bar=false"], run=False
            )
        if not isinstance(cli.model, ClassificationTask | FramePredictionTask):
            raise UserError(
                f"{config}: the plain loops (a)/(b) feed net outputs straight to the loss, which fits "
                f"ClassificationTask and FramePredictionTask configs, not {type(cli.model).__name__}"
            )
        self.config = config
        self.limit = limit_batches
        self.fit_args = fit_args or []
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.task = copy.deepcopy(cli.model)
        self.datamodule = cli.datamodule
        self.datamodule.setup("fit")
        self.batch_size = self.datamodule.batch_size
        self.eval_batch_size = self.datamodule.eval_batch_size
        self.renders_batches = len(self.datamodule.splits["train"]) < 2  # e.g. Moving MNIST draws sequences per batch
        if self.renders_batches:  # (a) gets one epoch of those batches, drawn once, as plain tensors
            self.train = self._drawn(copy.deepcopy(self.datamodule).train_dataloader())
            self.val = self._drawn(self.datamodule.val_dataloader())
        else:
            self.train = self.datamodule.splits["train"]
            self.val = self.datamodule.splits["val"]

    def _drawn(self, loader: Any) -> tuple[torch.Tensor, ...]:
        """The first `limit` batches of a loader, concatenated per tensor."""
        batches = [batch for _, batch in zip(range(self._limit(len(loader))), loader, strict=False)]
        return tuple(torch.cat(parts) for parts in zip(*batches, strict=True))

    def _limit(self, batches: int) -> int:
        return min(batches, self.limit) if self.limit else batches

    def plain(self, loader_kind: str, precision: str, epochs: int) -> Run:
        """(a)/(b): zero_grad, forward, loss, backward, step; then a no_grad pass over the validation split.

        Validation calls the task's validation_step and computes its metrics at the end, as (c) and (d) do: for
        frame prediction SSIM and PSNR are real work, not Trainer overhead.
        """
        task = copy.deepcopy(self.task).to(self.device)
        net, loss_fn = task.net, getattr(task, "compute_loss", task.loss_fn)
        optimizer = task.optimizer(net.parameters())
        train, val = self._loaders(loader_kind)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16"))
        run = Run([], [], 0)
        for _ in range(epochs):
            start, start_cpu, samples = time.perf_counter(), time.process_time(), 0
            net.train()
            for index, batch in enumerate(train):
                if index == self._limit(len(train)):
                    break
                inputs, targets = (t.to(self.device, non_blocking=True) for t in batch[:2])
                optimizer.zero_grad()
                with autocast:
                    loss = loss_fn(net(inputs), targets)
                loss.backward()
                optimizer.step()
                samples += len(inputs)
            net.eval()
            total = torch.zeros((), device=self.device)
            with torch.no_grad(), autocast:
                for index, batch in enumerate(val):
                    if index == self._limit(len(val)):
                        break
                    inputs, targets = (t.to(self.device, non_blocking=True) for t in batch[:2])
                    total += task.validation_step((inputs, targets), index).float()
                task.val_metrics.compute()
                task.val_metrics.reset()
            total.item()  # the validation loss a user would print; also waits for the device
            run.wall.append(time.perf_counter() - start)
            run.cpu.append(time.process_time() - start_cpu)
            run.samples = samples
        return run

    def _loaders(self, kind: str) -> tuple:
        if kind == "a":
            pin = self.device.type == "cuda"
            train_set, val_set = TensorDataset(*self.train), TensorDataset(*self.val)
            train = DataLoader(train_set, self.batch_size, shuffle=True, drop_last=True, pin_memory=pin)
            return train, DataLoader(val_set, self.eval_batch_size, pin_memory=pin)
        if self.renders_batches:  # the project's own loaders, from a fresh copy so every run draws the same batches
            datamodule = copy.deepcopy(self.datamodule)
            return datamodule.train_dataloader(), datamodule.val_dataloader()
        on_device = [tuple(t.to(self.device) for t in split) for split in (self.train, self.val)]
        train_set = BatchedTensorDataset(on_device[0], self.datamodule.train_transform())
        train = DataLoader(train_set, self.batch_size, shuffle=True, drop_last=True, collate_fn=whole_batch)
        return train, DataLoader(BatchedTensorDataset(on_device[1]), self.eval_batch_size, collate_fn=whole_batch)

    def cli_fit(self, precision: str, epochs: int) -> Run:
        """(c): the real `blueprint fit` in-process, logging into a temp dir, with a SamplesPerSecond timer appended.

        A CPUThreads callback goes last, so a config that pins its thread count runs with the bench's count too.
        """
        args = ["fit", "-c", str(self.config), f"--trainer.max_epochs={epochs}", f"--trainer.precision={precision}"]
        clock = '{"class_path": "blueprint.callbacks.SamplesPerSecond", "init_args": {"log": false}}'
        pin = {"num_threads": torch.get_num_threads()}
        threads = json.dumps({"class_path": "blueprint.callbacks.threads.CPUThreads", "init_args": pin})
        args += ["--test_after_fit=false", *self.fit_args, f"--trainer.callbacks+={clock}"]  # a timer that logs nothing
        args += [f"--trainer.callbacks+={threads}"]
        if self.limit:
            args += [f"--trainer.limit_train_batches={self.limit}", f"--trainer.limit_val_batches={self.limit}"]
        captured = io.StringIO()  # the progress bar draws into `captured`, not the terminal
        with tempfile.TemporaryDirectory() as tmp:  # logs and checkpoints go there; relative data paths still work
            where = [f"--trainer.default_root_dir={tmp}", f"--trainer.logger.init_args.save_dir={tmp}"]
            try:
                with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
                    cli = cli_main([*args, *where])
            except SystemExit as err:  # the CLI printed its reason into `captured`; --fit_args is the likely cause
                reason = error_line(captured.getvalue()) or captured.getvalue()[-2000:]
                raise UserError(f"(c) `blueprint fit -c {self.config}` failed: {reason}; check --fit_args") from err
        timer = next(c for c in cli.trainer.callbacks if isinstance(c, SamplesPerSecond))
        return Run.from_timer(timer)

    def barebones(self, precision: str, epochs: int) -> Run:
        """(d): the Trainer's floor: no logger, progress bar, checkpoints; the task's self.log becomes a no-op."""
        task = copy.deepcopy(self.task)
        task.log = task.log_dict = lambda *args, **kwargs: None
        timer = SamplesPerSecond(log=False)
        limits = {"limit_train_batches": self.limit, "limit_val_batches": self.limit} if self.limit else {}
        trainer = L.Trainer(
            barebones=True, max_epochs=epochs, precision=precision, devices=1, callbacks=[timer], **limits
        )
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            trainer.fit(task, datamodule=copy.deepcopy(self.datamodule))
        return Run.from_timer(timer)

    def run(self, variant: str, precision: str, epochs: int) -> Run:
        if variant in "ab":
            return self.plain(variant, precision, epochs)
        return self.cli_fit(precision, epochs) if variant == "c" else self.barebones(precision, epochs)


def loader_delivery(repeats: int, samples: int = 8192, batch_size: int = 64) -> dict[str, float]:
    """Seconds to deliver one shuffled epoch of MNIST-shaped batches (min over interleaved repeats)."""
    images, labels = torch.randn(samples, 1, 28, 28), torch.randint(0, 10, (samples,))
    dataset = TensorDataset(images, labels)
    loaders = {
        "DataLoader(TensorDataset)": DataLoader(dataset, batch_size, shuffle=True, drop_last=True),
        "DataLoader(BatchedTensorDataset)": DataLoader(
            BatchedTensorDataset((images, labels)), batch_size, shuffle=True, drop_last=True, collate_fn=whole_batch
        ),
    }
    best = dict.fromkeys(loaders, float("inf"))
    for _ in range(max(repeats, 3)):
        for name, loader in loaders.items():
            start = time.perf_counter()
            for _batch in loader:
                pass
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: seconds / (samples // batch_size) for name, seconds in best.items()}


def config_and_cap(spec: str, default_cap: int | None) -> tuple[Path, int | None]:
    """`configs/x.yaml:20` -> (absolute path, 20): long epochs are capped so every config fits one bench run."""
    name, _, cap = spec.rpartition(":")
    if not cap.isdigit():
        name, cap = spec, ""
    if cap and int(cap) < 1:
        raise UserError(f"--configs {spec}: the batch cap after ':' must be 1 or more, e.g. {name}:20")
    path = Path(name)
    return (path if path.is_absolute() else REPO / path), (int(cap) if cap else default_cap)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Counts must be >= 1 and variants a subset of abcd: zero epochs or repeats would leave nothing to time."""
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", nargs="+", default=DEFAULT_CONFIGS, help="config files, each optionally `:N` to cap its batches"
    )
    parser.add_argument("--epochs", type=positive_int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--repeats", type=positive_int, default=3, help="interleaved repeats of every variant")
    parser.add_argument("--threads", type=positive_int, nargs="+", default=[1, 2], help="torch.set_num_threads values")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS), help="precisions")
    parser.add_argument("--variants", default="abcd", help="subset of a, b, c, d")
    parser.add_argument("--limit_batches", type=positive_int, default=None, help="cap batches per epoch (quick checks)")
    parser.add_argument("--fit_args", nargs="*", default=[], help="extra `blueprint fit` options for (c)")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"), help="Markdown report path")
    args = parser.parse_args(argv)
    if not args.variants or set(args.variants) - set(VARIANTS):
        parser.error(f"--variants {args.variants!r}: use one or more of the letters a, b, c, d, e.g. --variants ab")
    if Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a folder; pass a file path, e.g. {Path(args.out) / 'benchmarks.md'}")
    return args


def workloads_of(args: argparse.Namespace) -> dict[Path, Workload]:
    """Every --configs file that exists, built once; missing ones are skipped, but at least one must be there."""
    caps = dict(config_and_cap(spec, args.limit_batches) for spec in args.configs)
    for missing in [c for c in caps if not c.is_file()]:
        print(f"skipping {missing}: no such config")
    if not any(c.is_file() for c in caps):
        raise UserError(
            f"none of --configs {' '.join(args.configs)} exists; pass config files, e.g. configs/mnist_mlp.yaml"
        )
    return {c: Workload(c, cap, args.fit_args) for c, cap in caps.items() if c.is_file()}


def measure(workloads: dict[Path, Workload], args: argparse.Namespace) -> tuple[dict, dict[int, dict[str, float]]]:
    """Every variant of every setting, interleaved (a b c d of every setting, then again); then batch delivery."""
    settings = [(c, p, t) for c in workloads for p in args.precision for t in args.threads]
    results = {(*s, v): Result() for s in settings for v in args.variants}
    for repeat in range(args.repeats):
        for config, precision, threads in settings:
            for variant in args.variants:
                torch.set_num_threads(threads)  # again before each variant: a run may leave another count behind
                run = workloads[config].run(variant, precision, args.epochs)
                results[(config, precision, threads, variant)].add(run)
            print(f"repeat {repeat + 1}/{args.repeats} {config.stem} {precision} threads={threads} done", flush=True)
    delivery = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        delivery[threads] = loader_delivery(args.repeats)
    return results, delivery


def bench(args: argparse.Namespace, argv: list[str]) -> Path:
    """Times every variant of every setting and writes the report."""
    remember_no_gpu()  # as `blueprint fit` does; process-wide, so every variant gets it
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")
    threads_before = torch.get_num_threads()
    try:
        with quiet_lightning_info(logging.ERROR):  # an in-process caller (a test) gets its log levels back
            results, delivery = measure(workloads_of(args), args)
    finally:  # after a failed run too: an in-process caller keeps its thread count
        torch.set_num_threads(threads_before)
    text = render(results, delivery, args, argv)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return out


def main(argv: list[str] | None = None) -> Path:
    """Bad arguments and refused configs or --fit_args end in one `error:` line and exit 2."""
    args = parse_args(argv)
    try:
        return bench(args, sys.argv[1:] if argv is None else argv)
    except UserError as err:
        fail(str(err))


if __name__ == "__main__":
    main()

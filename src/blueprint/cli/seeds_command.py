"""One experiment over several seeds (and, for tables, k stratified folds): each test metric as mean ± std.

    uv run blueprint seeds -c configs/mnist_mlp.yaml --seeds 3
    uv run blueprint seeds -c configs/tabular_mlp_multiclass.yaml --folds 5

Every run is a real `blueprint fit` (with its test pass) under <out_dir>/seed_S (or seed_S_fold_K), where <out_dir>
defaults to <logger save_dir>/<logger name>/seeds. The table (mean ± sample std, then each run's value) is printed and
written next to the runs as results.md and results.csv; `tensorboard --logdir <out_dir>/hparams` shows the runs side
by side in the HPARAMS tab. `--seeds N` runs seeds 0..N-1 (seed_everything); `--folds K` tests on each of K stratified
folds of a TabularDataModule table (KFold for regression); both together run every pair. Args after `--` go to
every run. A bad argument is one `error:` line and exit 2, before any run starts; a used --out_dir is refused.
"""

import argparse
import csv
import statistics
import sys
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from blueprint.cli.command import cli_main
from blueprint.cli.options import (
    OneLineParser,
    cli_refusal_as_user_error,
    one_line_on_user_error,
    whole_number_at_least,
)
from blueprint.errors import UserError

Run = dict[str, int]  # {"seed": S} or {"seed": S, "fold": K}


def at_least_two(text: str) -> int:
    """argparse type for --seeds/--folds: one run has no spread to report."""
    return whole_number_at_least(text, 2, "a spread needs 2 runs or more")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options before `--` are this script's; everything after it goes to every run."""
    run_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = OneLineParser(prog="blueprint seeds", description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", action="append", required=True, help="experiment config(s), composed")
    parser.add_argument("--seeds", type=at_least_two, help="run seeds 0..N-1 (default 3 without --folds)")
    parser.add_argument("--folds", type=at_least_two, help="test on each of K stratified folds (tables only)")
    parser.add_argument("--out_dir", type=Path, help="default: <logger save_dir>/<logger name>/seeds")
    opts = parser.parse_args(argv)
    if opts.seeds is None and opts.folds is None:
        opts.seeds = 3
    opts.run_args = run_args
    return opts


def planned_runs(opts: argparse.Namespace) -> list[Run]:
    """Every seed, or every fold (at the config's seed), or every (seed, fold) pair."""
    seeds = range(opts.seeds) if opts.seeds else [None]
    folds = range(opts.folds) if opts.folds else [None]
    runs = [{"seed": seed, "fold": fold} for seed in seeds for fold in folds]
    return [{key: value for key, value in run.items() if value is not None} for run in runs]


def run_name(run: Run) -> str:
    return "_".join(f"{key}_{value}" for key, value in run.items())


def run_args(opts: argparse.Namespace, run: Run) -> list[str]:
    """The config files, the run's seed and fold, then the user's args after `--`."""
    args = [arg for c in opts.config for arg in ("-c", c)]
    if "seed" in run:
        args.append(f"--seed_everything={run['seed']}")
    if "fold" in run:
        args += [f"--data.init_args.folds={opts.folds}", f"--data.init_args.fold={run['fold']}"]
    return [*args, *opts.run_args]


def default_out_dir(opts: argparse.Namespace) -> Path:
    """Checks the config with the first run's args (a bad key or --folds on non-table data fails here)."""
    first = planned_runs(opts)[0]
    prefix = "--folds needs a data module with data.folds (TabularDataModule): " if opts.folds else ""
    with cli_refusal_as_user_error(prefix):
        cli = cli_main(run_args(opts, first), run=False)
    if "test_after_fit" in cli.config and cli.config.test_after_fit is False:
        raise UserError("test_after_fit is false, but the runs are compared by their test metrics; drop that setting")
    logger_args = getattr(cli.config.trainer.logger, "init_args", None)
    if logger_args is None or "save_dir" not in logger_args:
        raise UserError("the config has no TensorBoard logger (trainer.logger) to name the runs folder: pass --out_dir")
    return Path(logger_args.save_dir) / str(logger_args.name or "default") / "seeds"


def fit(opts: argparse.Namespace, run: Run) -> dict[str, float]:
    """One `blueprint fit` (test after fit) logged to <out_dir>/<run name>; its test metrics."""
    logger = [
        "--trainer.logger=lightning.pytorch.loggers.TensorBoardLogger",
        f"--trainer.logger.init_args.save_dir={opts.out_dir.parent}",
        f"--trainer.logger.init_args.name={opts.out_dir.name}",
        f"--trainer.logger.init_args.version={run_name(run)}",
    ]
    print(f"--- {run_name(run)} ---", flush=True)
    cli = cli_main(["fit", *run_args(opts, run), *logger])
    metrics = {key: float(value) for key, value in cli.trainer.callback_metrics.items() if key.startswith("test/")}
    if not metrics:
        raise UserError(f"run {run_name(run)} logged no test/ metric to compare; check trainer.limit_test_batches")
    return metrics


def summary(results: list[tuple[Run, dict[str, float]]]) -> list[list[str]]:
    """Rows of metric, mean ± std, n, then each run's value; header first."""
    header = ["metric", "mean ± std", "n", *(run_name(run) for run, _ in results)]
    rows = [header]
    for metric in sorted({key for _, metrics in results for key in metrics}):
        values = [metrics[metric] for _, metrics in results if metric in metrics]
        spread = f"{statistics.mean(values):.4f} ± {statistics.stdev(values) if len(values) > 1 else 0:.4f}"
        each = [f"{metrics.get(metric, float('nan')):.4f}" for _, metrics in results]
        rows.append([metric, spread, str(len(values)), *each])
    return rows


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def write_tables(rows: list[list[str]], out_dir: Path, title: str) -> None:
    """results.md (for a report) and results.csv (mean and std as separate numbers) next to the runs."""
    lines = [f"{title}\n", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    with (out_dir / "results.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["metric", "mean", "std", "n", *rows[0][3:]])
        for row in rows[1:]:
            mean, std = row[1].split(" ± ")
            writer.writerow([row[0], mean, std, *row[2:]])


def log_hparams(results: list[tuple[Run, dict[str, float]]], out_dir: Path) -> None:
    """One HPARAMS row per run: its seed and fold against its test metrics."""
    with SummaryWriter(out_dir / "hparams") as writer:
        for run, metrics in results:
            scalars = {f"seeds/{key}": value for key, value in metrics.items()}
            writer.add_hparams(dict(run), scalars, run_name=run_name(run))


def repeat(opts: argparse.Namespace) -> list[list[str]]:
    """Checks the arguments, runs every seed/fold, prints and writes the table."""
    opts.out_dir = opts.out_dir or default_out_dir(opts)
    if opts.out_dir.exists() and not opts.out_dir.is_dir():
        raise UserError(f"--out_dir {opts.out_dir} is a file; pass a new folder")
    if opts.out_dir.exists() and any(opts.out_dir.iterdir()):
        raise UserError(f"--out_dir {opts.out_dir} holds earlier runs; pass a new --out_dir or move those away")
    results = [(run, fit(opts, run)) for run in planned_runs(opts)]
    rows = summary(results)
    title = f"{len(results)} runs of {' + '.join(opts.config)} {' '.join(opts.run_args)}".rstrip()
    print(f"\n{title}: test metrics as mean ± sample std over the runs, then each run")
    print_table(rows)
    write_tables(rows, opts.out_dir, title)
    log_hparams(results, opts.out_dir)
    print(f"tables: {opts.out_dir / 'results.md'}, results.csv   runs: tensorboard --logdir {opts.out_dir}/hparams")
    return rows


def main(argv: list[str] | None = None) -> list[list[str]]:
    """Bad arguments end in one `error:` line and exit 2, whether argparse, the checks here or the CLI finds them."""
    opts = parse_args(list(sys.argv[1:] if argv is None else argv))
    sys.argv = sys.argv[:1]  # LightningCLI gets its args explicitly; it warns when sys.argv holds others
    with one_line_on_user_error():
        return repeat(opts)

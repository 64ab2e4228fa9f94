"""One experiment over several seeds (and, for tables, k stratified folds): each test metric as mean ± std.

    uv run blueprint seeds -c configs/mnist_mlp.yaml --seeds 3
    uv run blueprint seeds -c configs/mnist_mlp.yaml --seeds 3 --vary init,data --trainer.max_epochs 5
    uv run blueprint seeds -c configs/tabular_mlp_multiclass.yaml --folds 5

Every run is a real `blueprint fit` (with its test pass) under <out_dir>/seed_S (or seed_S_fold_K), where <out_dir>
defaults to <logger save_dir>/<logger name>/seeds. `--seeds N` runs seeds 0..N-1; `--vary` says what a seed changes:
`init` (default) sets seed_everything (weight init, dropout) and keeps the config's data.seed, so every run trains
on the same batches and is tested on the same rows; `data` sets data.seed (the split the data module draws, batch
order, augmentation draws); `init,data` both. `--folds K` tests on each of K stratified folds of a TabularDataModule
table (KFold for regression); with --seeds, every pair. Every other option goes to every run as `blueprint fit`
takes it (-c files, --trainer.max_epochs 3, ...; after `--`, all of them). The table (mean ± sample std, n, each
run's value) and what varied are printed and written as seeds_summary.md and seeds_summary.csv;
`tensorboard --logdir <out_dir>` shows the runs, each with its seed, in the HPARAMS tab. A bad argument or option is
one `error:` line and exit 2, before any run starts; a used --out_dir is refused.
"""

import argparse
import csv
import statistics
import sys
from pathlib import Path
from typing import Any

from blueprint.cli.command import cli_main
from blueprint.cli.loggers import tensorboard_run_options
from blueprint.cli.options import (
    OneLineParser,
    cli_refusal_as_user_error,
    one_line_on_user_error,
    whole_number_at_least,
)
from blueprint.errors import UserError

Run = dict[str, int]  # {"seed": S} or {"seed": S, "fold": K}
# What --vary may name: the setting a run's seed goes to
SEEDED = {"init": "seed_everything", "data": "data.init_args.seed"}
SUMMARY = "seeds_summary"  # <out_dir>/seeds_summary.md and .csv: the files that mark a folder of seeds runs


def at_least_two(text: str) -> int:
    """argparse type for --seeds/--folds: one run has no spread to report."""
    return whole_number_at_least(text, 2, "a spread needs 2 runs or more")


def what_varies(text: str) -> tuple[str, ...]:
    """argparse type for --vary: init, data or both, comma-separated."""
    parts = tuple(dict.fromkeys(part.strip() for part in text.split(",")))
    if not all(part in SEEDED for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not init, data or init,data; say what a seed changes")
    return parts


def parse_args(argv: list[str]) -> argparse.Namespace:
    """This command's options; every other argument (and all after `--`) goes to every run, in its order."""
    after = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = OneLineParser(
        prog="blueprint seeds",
        usage="%(prog)s -c CONFIG [-c CONFIG ...] [--seeds N] [--folds K] [--vary WHAT] [--out_dir DIR] [fit options]",
        description=__doc__.splitlines()[0],
        epilog="-c files and other options go to every run as `blueprint fit` takes them, checked before any run.",
        allow_abbrev=False,  # --seed must not mean --seeds: it goes to the runs (and fails there, as in fit)
    )
    parser.add_argument("--seeds", type=at_least_two, metavar="N", help="run seeds 0..N-1 (default 3 without --folds)")
    parser.add_argument(
        "--vary", type=what_varies, metavar="WHAT", help="what a seed changes: init (default), data, or init,data"
    )
    parser.add_argument(
        "--folds", type=at_least_two, metavar="K", help="test on each of K stratified folds (tables only)"
    )
    parser.add_argument("--out_dir", type=Path, metavar="DIR", help="default: <logger save_dir>/<logger name>/seeds")
    opts, fit_args = parser.parse_known_args(argv)
    if opts.vary is not None and opts.seeds is None:
        parser.error(f"--vary {','.join(opts.vary)} says what --seeds changes; add --seeds N")
    if opts.seeds is None and opts.folds is None:
        opts.seeds = 3
    opts.vary = opts.vary or ("init",)
    opts.fit_args = [*fit_args, *after]
    configs = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    configs.add_argument("-c", "--config", action="append")
    opts.config = configs.parse_known_args(opts.fit_args)[0].config
    if not opts.config:
        parser.error("no experiment given; name its config: -c configs/<experiment>.yaml")
    return opts


def planned_runs(opts: argparse.Namespace) -> list[Run]:
    """Every seed, or every fold (at the config's seeds), or every (seed, fold) pair."""
    seeds = range(opts.seeds) if opts.seeds else [None]
    folds = range(opts.folds) if opts.folds else [None]
    runs = [{"seed": seed, "fold": fold} for seed in seeds for fold in folds]
    return [{key: value for key, value in run.items() if value is not None} for run in runs]


def run_name(run: Run) -> str:
    return "_".join(f"{key}_{value}" for key, value in run.items())


def set_per_run(opts: argparse.Namespace) -> dict[str, str]:
    """The settings this command gives each run, by the option of this command that decides them."""
    keys = {SEEDED[part]: "--seeds with --vary " + ",".join(opts.vary) for part in opts.vary} if opts.seeds else {}
    if opts.folds:
        keys |= {"data.init_args.folds": "--folds", "data.init_args.fold": "--folds"}
    return keys


def run_args(opts: argparse.Namespace, run: Run) -> list[str]:
    """The user's -c files and options in their order, then the run's seed(s) and fold, which come last to win."""
    args = list(opts.fit_args)
    if "seed" in run:
        args += [f"--{SEEDED[part]}={run['seed']}" for part in opts.vary]
    if "fold" in run:
        args += [f"--data.init_args.folds={opts.folds}", f"--data.init_args.fold={run['fold']}"]
    return args


def check_not_set_twice(opts: argparse.Namespace) -> None:
    """An option naming a setting each run gets from this command would be overridden without a word."""
    keys = set_per_run(opts)
    for arg in (arg for arg in opts.fit_args if arg.startswith("--")):
        key = arg.split("=")[0].removeprefix("--")
        key = key.replace("data.", "data.init_args.", 1) if key.startswith("data.") and "init_args" not in key else key
        if key in keys:
            raise UserError(f"{arg.split('=')[0]} is what {keys[key]} sets for each run; drop it")


# A refusal naming a setting this command adds: what the option needs
NEEDS = {
    "data.init_args.fold": "--folds needs a data module with data.folds (TabularDataModule)",
    "data.init_args.seed": "--vary data needs a data module with data.seed",
}


def check_runs(opts: argparse.Namespace) -> Any:
    """The first run's config, parsed and built as `fit` would (a bad option fails here, before any run)."""
    check_not_set_twice(opts)
    try:
        with cli_refusal_as_user_error():
            cli = cli_main(run_args(opts, planned_runs(opts)[0]), run=False)
    except UserError as err:
        need = next((need for key, need in NEEDS.items() if str(err).startswith(key)), None)
        raise UserError(f"{need}: {err}" if need else str(err)) from None
    if "test_after_fit" in cli.config and cli.config.test_after_fit is False:
        raise UserError("test_after_fit is false, but the runs are compared by their test metrics; drop that setting")
    return cli.config


def default_out_dir(config: Any) -> Path:
    """<logger save_dir>/<logger name>/seeds, beside the experiment's own runs."""
    logger_args = getattr(config.trainer.logger, "init_args", None)
    if logger_args is None or "save_dir" not in logger_args:
        raise UserError("the config has no TensorBoard logger (trainer.logger) to name the runs folder: pass --out_dir")
    return Path(logger_args.save_dir) / str(logger_args.name or "default") / "seeds"


def what_varied(opts: argparse.Namespace, config: Any) -> str:
    """What changed between the runs and what stayed as the config set it, for the printed and written summary."""
    varied, fixed = [], []
    seeds = f"0..{opts.seeds - 1}" if opts.seeds else ""
    init = config.seed_everything  # the first run's: the config's own unless the runs set it
    if seeds and "init" in opts.vary:
        varied.append(f"model init (seed_everything {seeds})")
    elif isinstance(init, int) and not isinstance(init, bool):
        fixed.append(f"model init (seed_everything={init})")
    else:  # Lightning draws a seed for `true`, and `false` seeds nothing: it differs in every run either way
        varied.append(f"model init (seed_everything={str(init).lower()}: unseeded)")
    data_seed = config.data.get("init_args", {}).get("seed")
    if seeds and "data" in opts.vary:
        varied.append(f"data split and batch order (data.seed {seeds})")
    elif data_seed is not None:
        fixed.append(f"data split and batch order (data.seed={data_seed})")
    if opts.folds:
        varied.append(f"test fold ({opts.folds} folds)")
    return f"varied: {', '.join(varied)}" + (f"; fixed: {', '.join(fixed)}" if fixed else "")


def fit(opts: argparse.Namespace, run: Run) -> dict[str, float]:
    """One `blueprint fit` (test after fit) logged to <out_dir>/<run name>; its test metrics."""
    logger = tensorboard_run_options(opts.out_dir.parent, opts.out_dir.name, run_name(run))
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


def write_summary(rows: list[list[str]], out_dir: Path, title: str, varied: str) -> None:
    """seeds_summary.md (for a report) and seeds_summary.csv (mean and std as separate numbers) next to the runs."""
    lines = [f"{title}\n", f"{varied}\n", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    (out_dir / f"{SUMMARY}.md").write_text("\n".join(lines) + "\n")
    with (out_dir / f"{SUMMARY}.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["metric", "mean", "std", "n", "varied", *rows[0][3:]])
        for row in rows[1:]:
            mean, std = row[1].split(" ± ")
            writer.writerow([row[0], mean, std, row[2], varied, *row[3:]])


def repeat(opts: argparse.Namespace) -> list[list[str]]:
    """Checks the arguments, runs every seed/fold, prints and writes the table."""
    config = check_runs(opts)
    opts.out_dir = opts.out_dir or default_out_dir(config)
    if opts.out_dir.exists() and not opts.out_dir.is_dir():
        raise UserError(f"--out_dir {opts.out_dir} is a file; pass a new folder")
    if opts.out_dir.exists() and any(opts.out_dir.iterdir()):
        raise UserError(f"--out_dir {opts.out_dir} holds earlier runs; pass a new --out_dir or move those away")
    results = [(run, fit(opts, run)) for run in planned_runs(opts)]
    rows = summary(results)
    title = f"{len(results)} runs of blueprint fit {' '.join(opts.fit_args)}"
    varied = what_varied(opts, config)
    print(f"\n{title}\n{varied}\ntest metrics as mean ± sample std over the {len(results)} runs, then each run:")
    print_table(rows)
    write_summary(rows, opts.out_dir, title, varied)
    summary_file = opts.out_dir / f"{SUMMARY}.md"
    print(f"summary: {summary_file} (and .csv)   runs: tensorboard --logdir {opts.out_dir}")
    return rows


def main(argv: list[str] | None = None) -> list[list[str]]:
    """Bad arguments end in one `error:` line and exit 2, whether argparse, the checks here or the CLI finds them."""
    opts = parse_args(list(sys.argv[1:] if argv is None else argv))
    sys.argv = sys.argv[:1]  # LightningCLI gets its args explicitly; it warns when sys.argv holds others
    with one_line_on_user_error():
        return repeat(opts)

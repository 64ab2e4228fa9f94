"""`blueprint runs [FOLDER] [--sort METRIC] [--csv FILE]`: a table of the runs under logs/, to compare and pick from."""

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from blueprint.cli.options import OneLineParser
from blueprint.cli.run_index import Run, find_runs, read_run
from blueprint.errors import UserError

LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse", "error")  # --sort puts the smallest first for these, else the largest


def parse(args: list[str]) -> argparse.Namespace:
    parser = OneLineParser(prog="blueprint runs", description=__doc__)
    parser.add_argument(
        "folder", nargs="?", default="logs", help="logs folder, one experiment's or one run (default: logs)"
    )
    parser.add_argument("--sort", metavar="METRIC", help="a column to sort by, best first: best, test/acc, ...")
    parser.add_argument("--csv", metavar="FILE", help="also write the table to FILE as CSV")
    return parser.parse_args(args)


def table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: name, start, status, the options that differ between the runs, metrics, best checkpoint."""
    keys = sorted({key for run in runs for key in run.options})
    differing = [key for key in keys if len({repr(run.options.get(key)) for run in runs}) > 1]
    tests = sorted({tag for run in runs for tag in run.tests})
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.name, "started": run.started, "status": run.status}
        row |= {key: run.options.get(key, "") for key in differing}
        row |= {"monitor": run.monitor, "best": run.best if run.best is not None else math.nan}
        row |= {tag: run.tests.get(tag, math.nan) for tag in tests}
        row |= {"best_checkpoint": run.best_checkpoint, "note": "; ".join(run.problems)}
        rows.append(row)
    return pd.DataFrame(rows)


def sort(frame: pd.DataFrame, metric: str, runs: list[Run]) -> pd.DataFrame:
    """Best first: smallest first for losses and errors (and for `best` when every run minimizes), else largest."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    if metric not in frame.columns:
        raise UserError(f"--sort {metric!r} is not a column of this table; choose one of: {', '.join(numeric)}")
    if metric == "best":
        ascending = all(run.monitor_mode == "min" for run in runs)
    else:
        ascending = any(word in metric.rsplit("/", 1)[-1] for word in LOWER_IS_BETTER)
    return frame.sort_values(metric, ascending=ascending, na_position="last", kind="stable")


def check_csv_target(path: str | None) -> None:
    """Checked before the table is built: pandas would fail only at the end, with a traceback."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise UserError(f"--csv {path} is a folder; pass a file path, e.g. {target / 'runs.csv'}")
    if not target.parent.is_dir():
        raise UserError(f"--csv {path}: folder {target.parent} does not exist; create it or pick another path")


def main(args: list[str]) -> int:
    """Prints the table; exit 2 with one `error:` line for a missing or empty folder, a bad option or config.yaml."""
    options = parse(args)
    try:
        check_csv_target(options.csv)
        root = Path(options.folder)
        runs = [read_run(folder, root) for folder in find_runs(root)]
        frame = table(runs)
        if options.sort:
            frame = sort(frame, options.sort, runs)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_colwidth", 60):
        print(frame.to_string(index=False, na_rep="-"))
    if options.csv:
        frame.to_csv(options.csv, index=False)
        print(f"wrote {len(frame)} runs to {options.csv}")
    broken = [run.config_error for run in runs if run.config_error]
    if broken:  # listed above with the rest; the exit status tells scripts one needs fixing
        print(f"error: {broken[0]}" + (f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""), file=sys.stderr)
        return 2
    return 0

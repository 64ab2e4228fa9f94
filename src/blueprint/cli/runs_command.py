"""`blueprint runs [FOLDER] [--sort METRIC] [--csv FILE]`: a table of the runs under logs/, to compare and pick from.

The terminal shows one table per experiment (logs/<experiment>/version_N) with the options that differ within it,
fitted to the terminal's width; --csv writes every run in one table with all its columns.
"""

import argparse
import math
import sys
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from blueprint.cli.fitted_table import output_width, table_lines
from blueprint.cli.options import OneLineParser
from blueprint.cli.run_index import FIT, Run, find_runs, read_run
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


def differing_options(runs: list[Run]) -> list[str]:
    keys = sorted({key for run in runs for key in run.options})
    return [key for key in keys if len({repr(run.options.get(key)) for run in runs}) > 1]


def table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: name, start, status, commit, the options that differ between the runs, metrics, best
    checkpoint."""
    differing = differing_options(runs)
    tests = sorted({tag for run in runs for tag in run.tests})
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.name, "started": run.started, "status": run.status}
        row |= {"commit": run.commit, "dirty": "" if run.dirty is None else run.dirty}
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


def shown(value: Any) -> str:
    """A cell as the terminal shows it: 4 significant digits, `-` for no value, one line."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return " ".join(str(value).split()) if value is not None else ""


def group_table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """One experiment's rows of `table` as the terminal shows them: the run's folder name, a short commit (`+` when
    dirty), `best <monitor>` when the runs share a monitor, the best checkpoint's file name (in <run>/checkpoints/);
    a column none of them fills is left out."""
    frame = table(runs)
    frame["run"] = [Path(name).name for name in frame["run"]]
    frame["commit"] = [
        commit[:7] + ("+" if dirty else "") if commit else ""
        for commit, dirty in zip(frame["commit"], frame.pop("dirty"), strict=True)
    ]
    frame["best_checkpoint"] = [Path(path).name for path in frame["best_checkpoint"]]
    monitors = set(frame["monitor"])
    if len(monitors) == 1:
        frame = frame.drop(columns="monitor").rename(columns={"best": f"best {monitors.pop()}"})
    cells = frame.map(shown)
    kept = [name for name in cells.columns if name == "run" or cells[name].astype(bool).any()]
    return kept, cells[kept].values.tolist()


def grouped_lines(runs: list[Run], width: int) -> list[str]:
    """A title line and a fitted table per experiment, experiments by name, runs in the given order."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.group].append(run)
    lines: list[str] = []
    for group in sorted(groups):
        count = len(groups[group])
        lines += [*([""] if lines else []), f"{group}: {count} run{'s' if count > 1 else ''}"]
        lines += table_lines(*group_table(groups[group]), width)
    return lines


def others_lines(others: list[Run], width: int) -> list[str]:
    """Folders that hold no training run, by kind: `not runs, left out: predict: mnist_mlp/version_3; ...`."""
    if not others:
        return []
    kinds: dict[str, list[str]] = defaultdict(list)
    for run in others:
        kinds[run.kind].append(run.name)
    text = "; ".join(f"{kind}: {named(names)}" for kind, names in sorted(kinds.items()))
    return textwrap.wrap(f"not runs, left out: {text}", width, subsequent_indent="  ", break_on_hyphens=False)


def named(names: list[str], most: int = 5) -> str:
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


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
        found = [read_run(folder, root) for folder in find_runs(root)]
        runs = [run for run in found if run.kind == FIT]
        others = [run for run in found if run.kind != FIT]
        if not runs:
            raise UserError(
                f"no training runs under {str(root)!r}, only {', '.join(f'{r.name} ({r.kind})' for r in others)}; "
                "train one first: uv run blueprint fit -c configs/<experiment>.yaml"
            )
        frame = table(runs)
        if options.sort:
            frame = sort(frame, options.sort, runs)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    width = output_width()
    lines = grouped_lines([runs[i] for i in frame.index], width)
    print("\n".join([*lines, *([""] if others else []), *others_lines(others, width)]))
    if options.csv:
        frame.to_csv(options.csv, index=False)
        print(f"wrote {len(frame)} runs to {options.csv}")
    broken = [run.config_error for run in runs if run.config_error]
    if broken:  # listed above with the rest; the exit status tells scripts one needs fixing
        print(f"error: {broken[0]}" + (f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""), file=sys.stderr)
        return 2
    return 0

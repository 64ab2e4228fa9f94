"""Optuna hyperparameter search over any config keys; every trial is a real `blueprint fit`, poor ones are pruned.

    uv run blueprint sweep -c configs/mnist_mlp.yaml --trials 20 \\
        --param model.init_args.optimizer.init_args.lr=loguniform:1e-4:1e-1 \\
        --set model.init_args.optimizer.class_path=torch.optim.SGD \\
        --param model.init_args.optimizer.init_args.momentum=uniform:0.85:0.99 \\
        --best_config best.yaml -- --trainer.max_epochs=5

`--param KEY=DIST:ARGS` searches KEY (DIST: loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH, choice:A,B,C);
`--set KEY=VALUE` fixes KEY in every trial and in the best config; args after `--` go to every trial only (speed
limits, say). Trials log to <study_dir>/trials/trial_NNN; the HPARAMS tab of <study_dir>/hparams compares them.
The best trial's full config is written to --best_config (default <study_dir>/best.yaml, with its study), ready for
`blueprint fit -c`, with Optuna's optimization-history and parameter-importance figures next to it.

The study lives in --storage (default: <study_dir>/study.db, SQLite), so every sweep is resumable: the same command
again continues it (finished trials are kept), and more workers, here or on other machines with the same --storage
and --study_name, share it: `--trials` counts the trials of all workers. A trial stopped by SIGTERM/SIGINT is marked
failed and queued again, and the worker exits 143/130; each worker writes the best config when it finishes.
A bad argument (a malformed --param, bounds in the wrong order, an unknown key, a storage Optuna cannot open, a study
name taken by another search space) is one `error:` line and exit 2; a search space the CLI refuses stops the sweep
at its first trial.
"""

import argparse
import json
import math
import os
import signal
import socket
import sys
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import yaml
from torch.utils.tensorboard import SummaryWriter

from blueprint.checkpointing.atomic_io import write_atomically
from blueprint.cli.command import cli_main
from blueprint.cli.loggers import tensorboard_run_options
from blueprint.cli.options import OneLineParser, cli_refusal_as_user_error, fail, one_line_on_user_error, positive_int
from blueprint.errors import TrainingStopped, UserError
from blueprint.sweeps.study import (
    Direction,
    fail_dead_trials,
    open_storage,
    open_study,
    places_taken,
    retry_later,
    space_key,
    stop_when_all_taken,
    takes_a_place,
)

DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
EXAMPLE_PARAM = "model.init_args.optimizer.init_args.lr=loguniform:1e-4:1e-1"


STOP_CODES = {128 + signal.SIGTERM: "SIGTERM", 128 + signal.SIGINT: "SIGINT"}  # how blueprint's clean stop exits


class TrialFailed(Exception):
    """A trial whose loss diverged, or a later trial whose sampled values the CLI refused: the sweep goes on."""


class NotNeeded(Exception):
    """Another worker took the last place just before this trial started; it is left failed, uncounted."""


class SweepStopped(Exception):
    """SIGTERM/SIGINT stopped a trial mid-fit: it is marked failed and queued again, and this worker exits."""

    def __init__(self, number: int, code: int) -> None:
        super().__init__(f"trial {number} stopped by {STOP_CODES[code]}")
        self.number, self.code = number, code


class OptunaPruning(L.Callback):
    """Reports the monitored val metric to Optuna after each validation and stops the fit if the trial is pruned."""

    def __init__(self, trial: optuna.Trial, monitor: str, mode: str) -> None:
        self.trial, self.monitor, self.mode = trial, monitor, mode
        self.best: float | None = None
        self.pruned = False
        self.validations = 0

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        score = float(value)
        better = max if self.mode == "max" else min
        self.best = score if self.best is None else better(self.best, score)
        self.trial.report(score, step=self.validations)  # by validation: trials sweeping batch_size still line up
        self.validations += 1
        if self.trial.should_prune():
            self.pruned = trainer.should_stop = True


def parse_param(spec: str) -> tuple[str, str, list[str]]:
    """'key=loguniform:1e-4:1e-1' -> ('key', 'loguniform', ['1e-4', '1e-1']); checked before any trial runs."""
    key, _, rest = spec.partition("=")
    dist, _, args = rest.partition(":")
    if not key or dist not in DISTRIBUTIONS or not args:
        names = ", ".join(DISTRIBUTIONS)
        raise UserError(f"--param {spec!r}: use KEY=DIST:ARGS with DIST one of {names}, e.g. {EXAMPLE_PARAM}")
    if dist == "choice":
        return key, dist, args.split(",")
    check_bounds(spec, dist, args.split(":"))
    return key, dist, args.split(":")


def check_bounds(spec: str, dist: str, bounds: list[str]) -> None:
    """Optuna would raise mid-sweep on bounds it cannot sample: two numbers, LOW <= HIGH, LOW > 0 for loguniform."""
    number = int if dist == "int" else float
    try:
        low, high = (number(bound) for bound in bounds)  # a count other than two is a ValueError too
    except ValueError:
        kind = "whole numbers" if dist == "int" else "numbers"
        raise UserError(f"--param {spec!r}: {dist} takes LOW:HIGH, two {kind}, e.g. {dist}:1:8") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UserError(f"--param {spec!r}: LOW and HIGH must be finite numbers")
    if low > high:
        raise UserError(f"--param {spec!r}: LOW {bounds[0]} is above HIGH {bounds[1]}; swap them")
    if dist == "loguniform" and low <= 0:
        raise UserError(f"--param {spec!r}: loguniform samples log(value), so LOW must be > 0, e.g. 1e-5")


def suggest(trial: optuna.Trial, key: str, dist: str, args: list[str]) -> Any:
    if dist == "choice":
        return trial.suggest_categorical(key, [yaml.safe_load(a) for a in args])
    if dist == "int":
        return trial.suggest_int(key, int(args[0]), int(args[1]))
    return trial.suggest_float(key, float(args[0]), float(args[1]), log=dist == "loguniform")


def config_args(configs: list[str], sets: list[str], params: dict[str, Any]) -> list[str]:
    values = [f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in params.items()]
    return [arg for c in configs for arg in ("-c", c)] + [f"--{s}" for s in sets] + values


def run_trial(trial: optuna.Trial, opts: argparse.Namespace, specs: list[tuple[str, str, list[str]]]) -> float:
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # first: a queued copy names a dead one
    if places_taken(trial.study, before=trial.number) >= opts.trials:  # workers raced for the last place
        trial.study.stop()
        raise NotNeeded()
    params = {key: suggest(trial, key, dist, args) for key, dist, args in specs}
    logger = tensorboard_run_options(opts.study_dir, "trials", f"trial_{trial.number:03d}")
    try:
        with cli_refusal_as_user_error():
            cli = cli_main([*config_args(opts.config, opts.set, params), *opts.trial_args, *logger], run=False)
        pruning = OptunaPruning(trial, cli.model.monitor, cli.model.monitor_mode)
        cli.trainer.callbacks.append(pruning)  # type: ignore[attr-defined]  # set by Lightning's callback connector
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    except SystemExit as stop:
        if not (isinstance(stop.code, int) and stop.code in STOP_CODES):
            raise
        raise SweepStopped(trial.number, stop.code) from None
    except UserError as err:
        if trial.number == 0:  # the search space itself is wrong: stop here rather than repeat it for every trial
            raise UserError(f"the first trial {params} was refused, so the sweep stopped: {err}") from None
        raise trial_failed(trial, f"refused {params}: {err}") from err
    except TrainingStopped as err:
        raise trial_failed(trial, str(err)) from err
    if pruning.best is None:
        raise UserError(
            f"trial {trial.number} logged no {cli.model.monitor}, which the sweep compares trials by; "
            "let trials validate (check limit_val_batches and check_val_every_n_epoch)"
        )
    trial.set_user_attr("best", pruning.best)
    log_hparams(opts.study_dir, trial.number, params, {f"sweep/{cli.model.monitor}": pruning.best}, pruning.pruned)
    if pruning.pruned:
        raise optuna.TrialPruned()
    return pruning.best


def trial_failed(trial: optuna.Trial, reason: str) -> TrialFailed:
    """One line per failed trial, instead of Optuna's logged traceback (its logging is set to ERROR)."""
    print(f"trial {trial.number} failed: {reason}", file=sys.stderr)
    trial.set_user_attr("failed", reason)  # failed for its values: it counts towards --trials, unlike a stopped one
    return TrialFailed(reason)


def print_table(study: optuna.Study, monitor: str) -> None:
    keys = sorted({k for t in study.trials for k in t.params})
    header = ["trial", "state", monitor, *(k.rsplit(".", 1)[-1] for k in keys)]
    rows = [
        [str(t.number), state_name(t), f"{t.user_attrs.get('best', math.nan):.4f}"]
        + [f"{t.params[k]:.4g}" if isinstance(t.params.get(k), float) else str(t.params.get(k)) for k in keys]
        for t in study.trials
        if state_name(t) != "not needed"
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def state_name(trial: optuna.trial.FrozenTrial) -> str:
    """complete, pruned, running, waiting, fail (its values), stopped (queued again) or not needed (a race lost)."""
    if not takes_a_place(trial):
        return "not needed" if not trial.params else "stopped"
    return trial.state.name.lower()


def log_hparams(study_dir: Path, number: int, params: dict[str, Any], metrics: dict[str, float], pruned: bool) -> None:
    """The trial's HPARAMS row, written by the worker that ran it: the swept values against the best monitored value."""
    with SummaryWriter(study_dir / "hparams" / f"trial_{number:03d}") as writer:
        writer.add_hparams(params, {**metrics, "sweep/pruned": float(pruned)}, run_name=".")


def write_best_config(opts: argparse.Namespace, study: optuna.Study, path: Path) -> None:
    """The best trial's fully resolved config (without the trial-only args), as `blueprint fit -c` reads it."""
    cli = cli_main(config_args(opts.config, opts.set, study.best_params), run=False)
    finished = sum(t.state.is_finished() and state_name(t) != "not needed" for t in study.trials)
    header = f"# Best of {finished} trials by `blueprint sweep`: {opts.monitor} = {study.best_value}\n"
    text = header + cli.parser.dump(cli.config, skip_none=False)
    write_atomically(path, lambda temp: temp.write_text(text))  # another worker may write it at the same time


def save_figures(study: optuna.Study, path: Path, monitor: str) -> list[Path]:
    """Optuna's optimization history and parameter importances, next to the best config."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

    plots: dict[str, Callable[..., Any]] = {"history": plot_optimization_history}
    if sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) >= 2:  # importances compare trials
        plots["importance"] = plot_param_importances
    written = []
    for name, plot in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            axes = plot(study, target_name=monitor)
        figure = axes.figure
        target = path.with_name(f"{path.stem}_{name}.png")
        write_atomically(target, partial(figure.savefig, format="png", bbox_inches="tight"))
        plt.close("all")
        written.append(target)
    return written


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options before `--` are the sweep's; everything after it goes to every trial."""
    trial_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = OneLineParser(prog="blueprint sweep", description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", action="append", required=True, help="experiment config(s), composed")
    parser.add_argument("--param", action="append", default=[], help="KEY=DIST:ARGS to search")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE fixed in every trial")
    parser.add_argument("--trials", type=positive_int, default=20, help="trials in all, over every worker")
    parser.add_argument("--seed", type=int, default=0, help="seed of Optuna's sampler")
    parser.add_argument("--study_dir", type=Path, default=Path("logs/sweep"))
    parser.add_argument("--best_config", type=Path, help="default: <study_dir>/best.yaml, with the study it came from")
    parser.add_argument("--storage", help="sqlite:///FILE, a database URL or a journal file (<study_dir>/study.db)")
    parser.add_argument("--study_name", default="sweep", help="the study in --storage that every worker joins")
    opts = parser.parse_args(argv)
    opts.best_config = opts.best_config or opts.study_dir / "best.yaml"
    opts.trial_args = trial_args
    return opts


def search_space(opts: argparse.Namespace) -> list[tuple[str, str, list[str]]]:
    """The parsed --param specs; a malformed, duplicated or missing one is a UserError before any trial runs."""
    specs = [parse_param(p) for p in opts.param]
    if not specs:
        raise UserError(f"give at least one --param KEY=DIST:ARGS to search, e.g. --param {EXAMPLE_PARAM}")
    keys = [key for key, _, _ in specs]
    for key in keys:
        if keys.count(key) > 1:
            raise UserError(f"--param {key} is given {keys.count(key)} times; search each key once")
    return specs


def check_paths(opts: argparse.Namespace) -> None:
    """Refuse a file as --study_dir, or a folder as --best_config, now rather than after the last trial."""
    if opts.study_dir.exists() and not opts.study_dir.is_dir():
        raise UserError(f"--study_dir {opts.study_dir} is a file; pass a new folder")
    if opts.best_config.is_dir():
        raise UserError(
            f"--best_config {opts.best_config} is a folder; pass a file path, e.g. {opts.best_config / 'best.yaml'}"
        )
    folder = opts.best_config.parent
    if folder != opts.study_dir and not folder.is_dir():  # the study folder is made when the study opens
        raise UserError(f"--best_config {opts.best_config}: folder {folder} does not exist; create it or pick another")


def sweep(opts: argparse.Namespace) -> optuna.Study:
    """Checks every argument, runs the trials, prints the table and writes the best config."""
    specs = search_space(opts)
    check_paths(opts)
    with cli_refusal_as_user_error():
        probe = cli_main(config_args(opts.config, opts.set, {}) + opts.trial_args, run=False).model
    opts.monitor = probe.monitor
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # its failed-trial warnings carry tracebacks; ours are lines
    direction: Direction = "maximize" if probe.monitor_mode == "max" else "minimize"
    space = space_key(opts.param, opts.set, probe.monitor)
    storage = open_storage(opts.storage, opts.study_dir)
    study = open_study(storage, opts.study_name, space, direction, opts.seed)
    fail_dead_trials(study)
    if places_taken(study) < opts.trials:
        try:
            study.optimize(
                lambda trial: run_trial(trial, opts, specs),
                catch=(TrialFailed, NotNeeded),
                callbacks=[stop_when_all_taken(opts.trials)],
            )
        except SweepStopped as stop:
            retry_later(study, stop.number)
            fail(f"{stop}: it is queued again; run the same command to continue the sweep", code=stop.code)
        except UserError:
            if len(study.trials) == 1:  # the first trial was refused: leave no study behind to block a corrected one
                optuna.delete_study(study_name=opts.study_name, storage=storage)
            raise
    print_table(study, opts.monitor)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        fail("no trial completed (see the table and the lines above); no best config written", code=1)
    write_best_config(opts, study, opts.best_config)
    figures = save_figures(study, opts.best_config, opts.monitor)
    print(f"best {opts.monitor} = {study.best_value:.4f} (trial {study.best_trial.number})")
    print(f"best config: {opts.best_config}   train it: uv run blueprint fit -c {opts.best_config}")
    print(f"figures: {', '.join(str(f) for f in figures)}")
    return study


def main(argv: list[str] | None = None) -> optuna.Study:
    """Bad arguments end in one `error:` line and exit 2, whether argparse, the checks here or the CLI finds them."""
    opts = parse_args(list(sys.argv[1:] if argv is None else argv))
    sys.argv = sys.argv[:1]  # LightningCLI gets its args explicitly; it warns when sys.argv holds others
    with one_line_on_user_error():
        return sweep(opts)

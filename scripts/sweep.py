"""Optuna hyperparameter search over any config keys; every trial is a real `blueprint fit`, poor ones are pruned.

    uv run python scripts/sweep.py -c configs/mnist_mlp.yaml --trials 20 \\
        --param model.init_args.optimizer.init_args.lr=loguniform:1e-4:1e-1 \\
        --set model.init_args.optimizer.class_path=torch.optim.SGD \\
        --param model.init_args.optimizer.init_args.momentum=uniform:0.85:0.99 \\
        --out best.yaml -- --trainer.max_epochs=5

`--param KEY=DIST:ARGS` searches KEY (DIST: loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH, choice:A,B,C);
`--set KEY=VALUE` fixes KEY in every trial and in the best config; args after `--` go to every trial only (speed
limits, say). Trials log to <study-dir>/trials/trial_NNN; the HPARAMS tab of <study-dir>/hparams compares them.
The best trial's full config is written to --out, ready for `blueprint fit -c best.yaml`. A bad argument (a malformed
--param, bounds in the wrong order, an unknown key) is one `error:` line and exit 2; a search space the CLI refuses
stops the sweep at its first trial.
"""

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import yaml
from torch.utils.tensorboard import SummaryWriter

from blueprint.cli import cli_main
from blueprint.errors import TrainingStopped, UserError
from one_line_errors import OneLineParser, cli_refusal_as_user_error, fail, positive_int, quiet_lightning_info

DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
EXAMPLE_PARAM = "model.init_args.optimizer.init_args.lr=loguniform:1e-4:1e-1"


class TrialFailed(Exception):
    """A trial whose loss diverged, or a later trial whose sampled values the CLI refused: the sweep goes on."""


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
        value = float(value)
        better = max if self.mode == "max" else min
        self.best = value if self.best is None else better(self.best, value)
        self.trial.report(value, step=self.validations)  # by validation: trials sweeping batch_size still line up
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
    params = {key: suggest(trial, key, dist, args) for key, dist, args in specs}
    logger = [
        "--trainer.logger=lightning.pytorch.loggers.TensorBoardLogger",
        f"--trainer.logger.init_args.save_dir={opts.study_dir}",
        "--trainer.logger.init_args.name=trials",
        f"--trainer.logger.init_args.version=trial_{trial.number:03d}",
    ]
    try:
        with cli_refusal_as_user_error():
            cli = cli_main([*config_args(opts.config, opts.set, params), *opts.trial_args, *logger], run=False)
        pruning = OptunaPruning(trial, cli.model.monitor, cli.model.monitor_mode)
        cli.trainer.callbacks.append(pruning)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
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
    if pruning.pruned:
        raise optuna.TrialPruned()
    return pruning.best


def trial_failed(trial: optuna.Trial, reason: str) -> TrialFailed:
    """One line per failed trial, instead of Optuna's logged traceback (its logging is set to ERROR)."""
    print(f"trial {trial.number} failed: {reason}", file=sys.stderr)
    return TrialFailed(reason)


def print_table(study: optuna.Study, monitor: str) -> None:
    keys = sorted({k for t in study.trials for k in t.params})
    header = ["trial", "state", monitor, *(k.rsplit(".", 1)[-1] for k in keys)]
    rows = [
        [str(t.number), t.state.name.lower(), f"{t.user_attrs.get('best', math.nan):.4f}"]
        + [f"{t.params[k]:.4g}" if isinstance(t.params.get(k), float) else str(t.params.get(k)) for k in keys]
        for t in study.trials
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def log_hparams(study: optuna.Study, study_dir: Path, monitor: str) -> None:
    """One HPARAMS row per finished or pruned trial: the swept values against the best monitored value."""
    with SummaryWriter(study_dir / "hparams") as writer:
        for t in study.trials:
            if "best" in t.user_attrs:
                metrics = {f"sweep/{monitor}": t.user_attrs["best"], "sweep/pruned": float(t.state.name == "PRUNED")}
                writer.add_hparams(t.params, metrics, run_name=f"trial_{t.number:03d}")


def write_best_config(opts: argparse.Namespace, params: dict[str, Any], path: Path) -> None:
    """The best trial's fully resolved config (without the trial-only args), as `blueprint fit -c` reads it."""
    cli = cli_main(config_args(opts.config, opts.set, params), run=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Best of {len(opts.study.trials)} trials by scripts/sweep.py: {opts.monitor} = {opts.study.best_value}\n"
    )
    path.write_text(header + cli.parser.dump(cli.config, skip_none=False))


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options before `--` are the sweep's; everything after it goes to every trial."""
    trial_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", action="append", required=True, help="experiment config(s), composed")
    parser.add_argument("--param", action="append", default=[], help="KEY=DIST:ARGS to search")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE fixed in every trial")
    parser.add_argument("--trials", type=positive_int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of Optuna's sampler")
    parser.add_argument("--study-dir", type=Path, default=Path("logs/sweep"))
    parser.add_argument("--out", type=Path, default=Path("logs/sweep/best.yaml"))
    opts = parser.parse_args(argv)
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
    """Refuse a used --study-dir, or a folder as --out, now rather than after the last trial."""
    if opts.study_dir.exists() and not opts.study_dir.is_dir():
        raise UserError(f"--study-dir {opts.study_dir} is a file; pass a new folder")
    if (opts.study_dir / "trials").exists():
        raise UserError(f"{opts.study_dir / 'trials'} holds an earlier sweep; pass a new --study-dir")
    if opts.out.is_dir():
        raise UserError(f"--out {opts.out} is a folder; pass a file path, e.g. {opts.out / 'best.yaml'}")


def sweep(opts: argparse.Namespace) -> optuna.Study:
    """Checks every argument, runs the trials, prints the table and writes the best config."""
    specs = search_space(opts)
    check_paths(opts)
    with cli_refusal_as_user_error():
        probe = cli_main(config_args(opts.config, opts.set, {}) + opts.trial_args, run=False).model
    opts.monitor = probe.monitor
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # its failed-trial warnings carry tracebacks; ours are lines
    opts.study = optuna.create_study(
        direction="maximize" if probe.monitor_mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=opts.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    opts.study.optimize(lambda trial: run_trial(trial, opts, specs), n_trials=opts.trials, catch=(TrialFailed,))
    print_table(opts.study, opts.monitor)
    log_hparams(opts.study, opts.study_dir, opts.monitor)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in opts.study.trials):
        fail("no trial completed (see the table and the lines above); no best config written", code=1)
    write_best_config(opts, opts.study.best_params, opts.out)
    print(f"best {opts.monitor} = {opts.study.best_value:.4f} (trial {opts.study.best_trial.number})")
    print(f"best config: {opts.out}   train it: uv run blueprint fit -c {opts.out}")
    return opts.study


def main(argv: list[str] | None = None) -> optuna.Study:
    """Bad arguments end in one `error:` line and exit 2, whether argparse, the checks here or the CLI finds them."""
    opts = parse_args(list(sys.argv[1:] if argv is None else argv))
    sys.argv = sys.argv[:1]  # LightningCLI gets its args explicitly; it warns when sys.argv holds others
    try:
        with quiet_lightning_info():
            return sweep(opts)
    except UserError as err:
        fail(str(err))


if __name__ == "__main__":
    main()

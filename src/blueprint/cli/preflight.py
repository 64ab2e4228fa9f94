"""Checks and resolutions done before a run writes anything: resume target, log dir, checkpoint, optimizer."""

import math
import os
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from torch.optim.lr_scheduler import OneCycleLR

from blueprint.checkpointing.loading import SPECIAL_CKPT_PATHS, check_checkpoint_fits, read_checkpoint
from blueprint.checkpointing.run_dirs import (
    check_fixed_version_is_new,
    check_writable,
    logger_args,
    next_config_name,
    resolve_last,
)
from blueprint.cli.links import NET_KEYS
from blueprint.cli.loggers import prepare_loggers
from blueprint.data.base import InMemoryDataModule
from blueprint.errors import UserError

MAX_SEED = 2**32 - 1  # numpy's largest seed, which seed_everything passes on


def check_seed(seed: Any) -> None:
    """numpy takes seeds 0 to 2**32 - 1; Lightning would pass a larger one on and end in numpy's traceback."""
    if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed_everything={seed} is outside 0..{MAX_SEED}, the seeds numpy accepts; pick one in range")


def prepare_config(config: Any, subcommand: str, save_config_kwargs: dict[str, Any]) -> None:
    """Before instantiation: `last` -> the newest run's last.ckpt (logged in the same run folder); refuse bad ones."""
    expand_path_options(config)
    check_seed(config.get("seed_everything"))
    keep_sync_batchnorm_to_gpus(config.trainer)
    if subcommand == "fit":
        check_trains_something(config.trainer)
        check_writable(config)
        check_fixed_version_is_new(config)
    if "weights_only" in config and config.weights_only is None:
        config.weights_only = True  # checkpoints are plain data; never unpickle code
    if config.get("ckpt_path") == "last":
        path, version = resolve_last(config, subcommand)
        config.ckpt_path = path
        logger = logger_args(config)
        if subcommand == "fit" and version is not None and logger is not None:
            logger.version = version
            save_config_kwargs["config_filename"] = next_config_name(config, version)
    prepare_loggers(config)
    path = config.get("ckpt_path")
    if path == "best":
        raise UserError(
            "--ckpt_path best names the best checkpoint of a fit in this same process; pass that file's path "
            "instead (logs/<name>/version_N/checkpoints/best-*.ckpt), or `last`"
        )
    if not path and subcommand != "fit":
        rank_zero_warn(
            f"{subcommand} without --ckpt_path runs the model as the config builds it, with freshly initialized "
            "weights; pass --ckpt_path <file>.ckpt (or `last`) to use trained ones"
        )
    if path and path not in SPECIAL_CKPT_PATHS:
        hparams = read_checkpoint(path).get("hyper_parameters", {})
        check_same_model(str(path), hparams, config.get("model"))
        warn_replaced_task_args(str(path), hparams, config.get("model"), subcommand)


PATH_KEY_ENDINGS = ("dir", "path", "csv", "file")  # save_dir, dirpath, ckpt_path, data_dir, predict_csv, ...


def expand_path_options(config: Any, where: str = "") -> None:
    """`~` and `${VAR}` in every path option, expanded once here, so the logger and the checkpoints agree.

    TensorBoardLogger expands its save_dir while ModelCheckpoint and `--ckpt_path last` did not, which split one
    run over two folders. An unset variable is refused rather than left as a literal `${VAR}` folder.
    """
    items = config.items() if hasattr(config, "items") else enumerate(config)
    for key, value in list(items):
        name = f"{where}.{key}" if where else str(key)
        is_path = str(key).endswith(PATH_KEY_ENDINGS) and key != "class_path"
        if isinstance(value, str) and is_path and ("~" in value or "$" in value):
            expanded = os.path.expanduser(os.path.expandvars(value))
            if "$" in expanded:
                raise UserError(
                    f"{name}={value!r} names an environment variable that is not set; set it, or write the path out"
                )
            config[key] = expanded
        elif hasattr(value, "items") or isinstance(value, list):
            expand_path_options(value, name)


def check_trains_something(trainer_config: Any) -> None:
    """max_epochs 0 (or max_steps 0) fits nothing, then tests untrained weights and exits 0: refuse it."""
    for option in ("max_epochs", "max_steps"):
        if trainer_config.get(option) == 0:
            raise UserError(
                f"trainer.{option}=0 trains nothing; set it to 1 or more, or evaluate a checkpoint with "
                "`blueprint test -c <config> --ckpt_path <file>`"
            )


def keep_sync_batchnorm_to_gpus(trainer_config: Any) -> None:
    """SyncBatchNorm runs on GPUs only: on CPU (the ddp preset's test run) each process keeps its own statistics.

    Without this, `trainer.sync_batchnorm: true` on CPU fails at the first forward pass.
    """
    accelerator = trainer_config.get("accelerator")
    on_cpu = accelerator == "cpu" or (accelerator in (None, "auto") and not torch.cuda.is_available())
    if trainer_config.get("sync_batchnorm") and on_cpu:
        rank_zero_warn(
            "trainer.sync_batchnorm is off on CPU (SyncBatchNorm runs on GPUs only): each process keeps its own "
            "BatchNorm statistics, so ranks may validate slightly different models"
        )
        trainer_config.sync_batchnorm = False


def _plain(value: Any) -> Any:
    """Config values as plain comparable data (Namespaces -> dicts, tuples -> lists)."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def check_same_model(path: str, hparams: dict[str, Any], model_config: Any) -> None:
    """Lightning rebuilds the model from the checkpoint's hparams; refuse silently swapping the configured one."""
    configured = _plain(model_config) or {}
    fix = "use the config the checkpoint was trained with (config.yaml in its run folder) or another checkpoint"
    saved_class, config_class = hparams.get("_class_path"), configured.get("class_path")
    if saved_class and config_class and saved_class.rsplit(".", 1)[-1] != config_class.rsplit(".", 1)[-1]:
        raise UserError(f"ckpt_path {path!r} holds a {saved_class}, but the config builds {config_class}; {fix}")
    saved_net, config_net = _plain(hparams.get("net")), configured.get("init_args", {}).get("net")
    if not isinstance(saved_net, dict) or not isinstance(config_net, dict):
        return
    if saved_net.get("class_path") != config_net.get("class_path"):
        raise UserError(
            f"ckpt_path {path!r} holds a net {saved_net.get('class_path')}, but the config builds "
            f"{config_net.get('class_path')}; {fix}"
        )
    saved_args, config_args = saved_net.get("init_args", {}), config_net.get("init_args", {})
    for key in sorted(set(saved_args) & set(config_args)):
        if key in NET_KEYS and config_args[key] is None:
            continue  # left to the data link; the data must then agree with the checkpoint's value
        if saved_args[key] != config_args[key]:
            raise UserError(
                f"ckpt_path {path!r} was trained with model.net {key}={saved_args[key]}, but the config sets "
                f"{key}={config_args[key]}; {fix}"
            )


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    """{"optimizer.init_args.lr": 0.001, ...}: nested config dicts as dotted keys."""
    if not isinstance(value, dict):
        return {prefix: value}
    return {k: v for key, item in value.items() for k, v in _leaves(item, f"{prefix}.{key}").items()}


def warn_replaced_task_args(path: str, hparams: dict[str, Any], model_config: Any, subcommand: str) -> None:
    """Lightning rebuilds the task from the checkpoint's hparams, overriding the config and command line: say so.

    Only for values that differ (a net that differs is refused by check_same_model); the optimizer and schedule
    matter only to `fit`.
    """
    config_args = (_plain(model_config) or {}).get("init_args", {})
    ignored = {"net"} if subcommand == "fit" else {"net", "optimizer", "scheduler", "scheduler_interval"}
    replaced = []
    for key in sorted(set(hparams) & set(config_args) - ignored):
        saved, configured = _leaves(_plain(hparams[key]), key), _leaves(config_args[key], key)
        replaced += [
            f"model.{k}: {saved.get(k)} from the checkpoint, not {configured.get(k)}"
            for k in saved | configured
            if saved.get(k) != configured.get(k)
        ]
    if replaced:
        rank_zero_warn(
            f"ckpt_path {path!r}: the model is rebuilt with the checkpoint's hyperparameters, not the config: "
            + "; ".join(replaced)
        )


def check_optimizer(model: Any) -> None:
    """Build the injected optimizer on a dummy parameter, so a negative lr fails now, not after setup."""
    factory = getattr(model, "optimizer", None)
    if not callable(factory):
        return
    try:
        factory([torch.nn.Parameter(torch.zeros(1))])
    except (ValueError, TypeError) as err:
        raise UserError(f"model.optimizer: {err}; fix it under model.init_args.optimizer.init_args") from err


def check_schedule_has_an_end(model: Any, trainer_config: Any) -> None:
    """A schedule sized by the run (OneCycleLR without total_steps) cannot size an endless run (max_epochs=-1)."""
    factory = getattr(model, "scheduler", None)
    endless = trainer_config.get("max_epochs") == -1 and trainer_config.get("max_steps") in (None, -1)
    if not callable(factory) or not endless:
        return
    try:
        factory(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    except ValueError as err:
        if "total_steps" in str(err):
            raise UserError(
                "the LR schedule is sized by the run's length, but trainer.max_epochs=-1 never ends; set "
                "trainer.max_epochs or trainer.max_steps, or the schedule's own total_steps"
            ) from err


def check_before_fit(datamodule: Any, checkpoint: dict[str, Any] | None) -> None:
    """Refused now, before a run folder exists, not at the first epoch or the restore: a training split smaller than
    one batch, and a resume on another data split than its checkpoint's."""
    if not isinstance(datamodule, InMemoryDataModule) or "train" not in datamodule.splits:
        return
    datamodule.check_batch_fits(len(datamodule.splits["train"][0]))
    if checkpoint is not None and not datamodule.allow_split_change:  # allowed: warned at the restore
        state = checkpoint.get(type(datamodule).__qualname__)  # where Lightning saves its state_dict
        datamodule.check_split_matches(state.get("split") if isinstance(state, dict) else None)


def check_before_run(config: Any, model: torch.nn.Module, datamodule: Any, fitting: bool = False) -> None:
    """After instantiation, before the trainer writes logs: the optimizer builds, data loads, the checkpoint fits
    (read once for every check), and a fit's data suits it."""
    check_optimizer(model)
    check_schedule_has_an_end(model, config.trainer)
    if isinstance(datamodule, InMemoryDataModule) and not getattr(datamodule, "download", False):
        datamodule.setup()  # missing or broken data fails here, not after a run folder was created
    path = config.get("ckpt_path")
    checkpoint = read_checkpoint(path) if path and path not in SPECIAL_CKPT_PATHS else None
    if checkpoint is not None:
        check_checkpoint_fits(str(path), checkpoint, model)
    if fitting:
        check_before_fit(datamodule, checkpoint)


def check_resumed_one_cycle(trainer: L.Trainer, path: str | None) -> None:
    """Before a fit resumed from `path` writes anything: its restored OneCycleLR must cover the run.

    Runs once the optimizers are built (for each schedule's interval) and before the checkpoint restores them.
    `path` is the run's --ckpt_path: a finder that ran first (BatchSizeFinder) leaves its own in trainer.ckpt_path.
    """
    if not path or path in SPECIAL_CKPT_PATHS or math.isinf(trainer.estimated_stepping_batches):
        return
    saved = read_checkpoint(path).get("lr_schedulers", [])
    for config, state in zip(trainer.lr_scheduler_configs, saved, strict=False):
        needed = trainer.estimated_stepping_batches if config.interval == "step" else trainer.max_epochs
        if isinstance(config.scheduler, OneCycleLR) and needed is not None and needed > state["total_steps"]:
            raise UserError(
                f"the checkpoint's OneCycleLR was built for {state['total_steps']} {config.interval}s but this "
                f"run takes {needed:.0f} (trainer.max_epochs raised for the resume?); a one-cycle schedule cannot be "
                "stretched: resume with the run's original max_epochs, or start a new run"
            )

"""The `blueprint` command: LightningCLI with fit/validate/test/predict, shared defaults and one-line errors."""

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

from blueprint.checkpointing.model_checkpoint import ModelCheckpointSavingLast
from blueprint.checkpointing.run_lock import release_run_locks
from blueprint.cli.config_files import check_config_files, class_named
from blueprint.cli.links import link_data_and_model
from blueprint.cli.parser import OneLineErrorParser, missing_optional_package, root_message
from blueprint.cli.preflight import check_before_run, keep_sync_batchnorm_to_gpus, prepare_config
from blueprint.cli.save_config import SaveConfigToRun
from blueprint.cli.upstream_workarounds import remember_no_gpu
from blueprint.errors import TrainingStopped, UserError

# Trainer, logger, checkpoint and progress-bar settings every experiment shares; loaded before any -c file
DEFAULTS = Path(__file__).resolve().parents[3] / "configs" / "defaults.yaml"
SUBCOMMANDS = ("fit", "validate", "test", "predict")
# gloo's (and NCCL's) words when another rank died in the middle of a collective
LOST_PEER = ("Connection reset by peer", "Connection closed by peer", "Broken pipe")
NO_GPU = "No supported gpu backend found"  # Lightning's whole message for --trainer.accelerator gpu without one


class BlueprintCLI(LightningCLI):
    """LightningCLI plus `--test_after_fit`, a `checkpoint` section, and checks before anything is written."""

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        kwargs.setdefault("allow_abbrev", False)  # a typo must fail, not set some other option
        return super().init_parser(**kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="After fit, evaluate the best checkpoint on the test split (fit subcommand only).",
        )
        # Lightning's "forced callback": every run keeps best and last checkpoints; the task says what to monitor
        parser.add_lightning_class_args(ModelCheckpointSavingLast, "checkpoint")
        link_data_and_model(parser)  # net sizes from the data, checkpoint.monitor/mode from the task

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Before Lightning reads hparams from `--ckpt_path`: resolve `last`, refuse unsafe or foreign checkpoints."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand:
            prepare_config(self.config[subcommand], subcommand, self.save_config_kwargs)
        else:  # run=False (scripts and tests build the objects only)
            keep_sync_batchnorm_to_gpus(self.config.trainer)

    def instantiate_classes(self) -> None:
        """Errors raised while building model/data/trainer from config surface as one clean line."""
        try:
            super().instantiate_classes()
        except ValueError as err:
            raise (missing_optional_package(str(err)) or UserError(root_message(err))) from err

    def before_instantiate_classes(self) -> None:
        """Lightning refuses a progress bar with `--trainer.enable_progress_bar false` and a LearningRateMonitor with
        `--trainer.logger false`: those switches drop the configured callback."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        callbacks = config.trainer.get("callbacks") or []
        if config.trainer.get("enable_progress_bar") is False:
            callbacks = [c for c in callbacks if not names_a(c, ProgressBar)]
        if config.trainer.get("logger") is False:
            callbacks = [c for c in callbacks if not names_a(c, LearningRateMonitor)]
        if config.trainer.get("callbacks"):
            config.trainer.callbacks = callbacks

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The trainer holds exactly the callbacks the config lists (see configs/defaults.yaml)."""
        trainer = super().instantiate_trainer(**kwargs)
        config = self.config_init[self.subcommand]["trainer"] if self.subcommand else self.config_init["trainer"]
        if config.get("fast_dev_run"):  # Lightning 2.6 still writes last.ckpt when a dry run ends
            for callback in trainer.checkpoint_callbacks:
                if isinstance(callback, ModelCheckpoint):
                    callback.save_last = False
        return trainer

    def _check_compatible(self, fitting: bool = False) -> None:
        """Data/model mismatches fail before the trainer writes anything under logs/."""
        check = getattr(self.model, "check_compatible", None)
        if check is not None:
            check(self.datamodule)
        check_before_run(self.config[self.subcommand], self.model, self.datamodule, fitting=fitting)
        if not fitting:  # scoped to this command by cli_main
            # --ckpt_path restores the fit's ModelCheckpoint state into this run's new folder, and Lightning warns
            # that the best-k bookkeeping is not carried over: it matters to a resumed fit, not to an evaluation
            warnings.filterwarnings("ignore", message="The dirpath has changed from", category=UserWarning)

    before_validate = before_test = before_predict = _check_compatible

    def before_fit(self) -> None:
        self._check_compatible(fitting=True)

    def after_fit(self) -> None:
        """Report test metrics of the best checkpoint right after training, as `blueprint test` would."""
        if not self.config.fit.get("test_after_fit", False) or self.trainer.interrupted:
            return
        callback = self.trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", "") if callback is not None else ""
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, weights_only=True)


def names_a(callback: Any, kind: type) -> bool:
    """A callback entry of the config (class_path and init_args) naming `kind` or a subclass of it."""
    cls = class_named(str(getattr(callback, "class_path", "")))
    return isinstance(cls, type) and issubclass(cls, kind)


class HideLoggerTip(logging.Filter):
    """Lightning 2.6 advertises a cloud logger at every Trainer start; a template's output should be the run's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip" not in record.getMessage()


def silence_upstream_noise() -> None:
    """Each default run printed a wall of upstream notices before its first epoch; hide exactly those."""
    # Remove when Lightning stops using torch's deprecated LeafSpec (Lightning 2.6.6 with torch >= 2.10)
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )
    # log_graph traces the net with torch.jit.trace, which torch 2.10+ flags as deprecated on every call
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace(_method)?` is deprecated", category=FutureWarning)
    tip_logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")  # rank_zero_info writes through it
    if not any(isinstance(f, HideLoggerTip) for f in tip_logger.filters):
        tip_logger.addFilter(HideLoggerTip())


def cli_main(args: ArgsType = None, run: bool = True) -> BlueprintCLI:
    """Entry point used by the console script and by tests (pass `args` to drive it in-process)."""
    remember_no_gpu()
    silence_upstream_noise()
    defaults = {"default_config_files": [str(DEFAULTS)]}
    try:
        check_config_files(args if isinstance(args, list | tuple) else None, [DEFAULTS])
        with warnings.catch_warnings():  # the warning filters a command adds end with it
            return BlueprintCLI(
                LightningModule,
                LightningDataModule,
                subclass_mode_model=True,
                subclass_mode_data=True,
                auto_configure_optimizers=False,
                parser_class=OneLineErrorParser,
                parser_kwargs={name: defaults for name in SUBCOMMANDS} if run else defaults,
                save_config_callback=SaveConfigToRun,
                args=args,
                run=run,
            )
    except (UserError, MisconfigurationException) as err:
        hint = "; this machine has no GPU: use --trainer.accelerator auto (or cpu)" if NO_GPU in str(err) else ""
        print(f"error: {err}{hint}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingStopped as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    except RuntimeError as err:
        reason = next((phrase for phrase in LOST_PEER if phrase in str(err)), None)
        if reason is None:
            raise
        print(
            f"error: another process of this distributed run ended ({reason}), so this one stopped too; once every "
            "process can run again, `--ckpt_path last` resumes from the last checkpoint",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    finally:
        release_run_locks()  # a resumed run's folder is free again when the command ends, in-process calls included

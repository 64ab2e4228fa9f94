"""The `blueprint` command: LightningCLI with fit/validate/test/predict, composable -c configs and clear errors."""

import os
import sys
from typing import Any, NoReturn

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from blueprint.callbacks.fault_tolerance import fault_tolerance_callbacks
from blueprint.errors import TrainingStopped, UserError
from blueprint.hook_dispatch import skip_noop_callback_hooks
from blueprint.preflight import check_before_run, prepare_config
from blueprint.runtime import drop_sync_batchnorm_on_cpu, remember_no_gpu
from blueprint.schedules import check_resumed_one_cycle

PROGRESS_REFRESH_STEPS = 20
NO_GPU = "No supported gpu backend found"  # Lightning's whole message for --trainer.accelerator gpu without one


class OneLineErrorParser(LightningArgumentParser):
    """A mistake prints one `error:` line (jsonargparse spreads bad values over several) and a tip, not the usage."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        super().error(" ".join(message.split()), ex)

    def print_usage(self, file: Any = None) -> None:
        """Called before an error only: the ~45 lines of options would bury it; a tip points at --help instead."""


class SaveConfigToRun(SaveConfigCallback):
    """Writes the resolved config.yaml into the run folder; a run without a logger has none, so it writes nothing.

    `fit` writes it at fit start, after the checks a resumed run can only make once its optimizers are built: a
    refused resume adds no config_resume_K.yaml to the run's folder (Lightning logs hyperparameters right after).
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if trainer.logger is not None and stage != "fit":
            super().setup(trainer, pl_module, stage)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        check_resumed_one_cycle(trainer, self.config.get("ckpt_path"))  # `last` is resolved to its file by now
        if trainer.logger is not None:
            super().setup(trainer, pl_module, "fit")


class BlueprintCLI(LightningCLI):
    """Adds `--test_after_fit` and rejects abbreviated options (a typo must fail, not set something else)."""

    def init_parser(self, **kwargs) -> LightningArgumentParser:
        kwargs.setdefault("allow_abbrev", False)
        return super().init_parser(**kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="After fit, evaluate the best checkpoint on the test split (fit subcommand only).",
        )

    def _parse_ckpt_path(self) -> None:
        """Before Lightning reads hparams from `--ckpt_path`: resolve `last`, refuse unsafe or foreign checkpoints."""
        subcommand = self.config.get("subcommand")
        if subcommand:
            prepare_config(self.config[subcommand], subcommand, self.save_config_kwargs)
        super()._parse_ckpt_path()

    def instantiate_classes(self) -> None:
        """Errors raised while building model/data/trainer from config surface as one clean line."""
        try:
            super().instantiate_classes()
        except ValueError as err:
            raise UserError(_root_message(err)) from err

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        """Default to a progress bar that redraws every 20 steps: redrawing every step can double epoch time.

        Every run also gets the fault-tolerance callbacks; under fast_dev_run nothing is saved.
        """
        configured = config.get("callbacks") or []
        has_bar = any(isinstance(c, ProgressBar) for c in [*configured, *callbacks])
        if config.get("enable_progress_bar") is not False and not has_bar:
            callbacks = [*callbacks, TQDMProgressBar(refresh_rate=PROGRESS_REFRESH_STEPS)]
        callbacks = [*callbacks, *fault_tolerance_callbacks()]
        trainer = super()._instantiate_trainer(config, callbacks)
        drop_sync_batchnorm_on_cpu(trainer)
        if config.get("fast_dev_run"):  # Lightning 2.6 still writes last.ckpt when a dry run ends
            for callback in trainer.checkpoint_callbacks:
                if isinstance(callback, ModelCheckpoint):
                    callback.save_last = False
        return trainer

    def _check_compatible(self) -> None:
        """Data/model mismatches fail before the trainer writes anything under logs/."""
        check = getattr(self.model, "check_compatible", None)
        if check is not None:
            check(self.datamodule)
        check_before_run(self.config[self.subcommand], self.model, self.datamodule)

    before_fit = before_validate = before_test = before_predict = _check_compatible

    def after_fit(self) -> None:
        """Report test metrics of the best checkpoint right after training, as `blueprint test` would."""
        if not self.config.fit.get("test_after_fit", False) or self.trainer.interrupted:
            return
        callback = self.trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", "") if callback is not None else ""
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, weights_only=True)


def _root_message(err: Exception) -> str:
    """jsonargparse wraps constructor errors in 'Does not validate against any of the Union subtypes'; unwrap."""
    reasons = [
        line.strip()[2:]
        for line in str(err).splitlines()
        if line.strip().startswith("- ") and "Expected a <class 'NoneType'>" not in line
    ]
    return "; ".join(reasons) if reasons else str(err)


def cli_main(args: list[str] | None = None, run: bool = True) -> BlueprintCLI:
    """Entry point used by the console script and by tests (pass `args` to drive it in-process)."""
    remember_no_gpu()
    skip_noop_callback_hooks()
    try:
        return BlueprintCLI(
            LightningModule,
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            parser_class=OneLineErrorParser,
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


def main() -> None:
    """Console script `blueprint`; class_path can also name modules under the working directory (e.g. examples/)."""
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # appended, as a fallback: it never shadows installed packages
    cli_main()


if __name__ == "__main__":
    main()

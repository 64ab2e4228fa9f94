"""The `blueprint` command: LightningCLI's fit/validate/test/predict, and the commands around a run.

Each command is a module with `main(argv)`, imported only when named, so `blueprint --help` and `blueprint runs`
start without Lightning and a fork that drops a room (serving/, sweeps/, ...) deletes its line here.
"""

import importlib
import os
import sys

from blueprint.errors import missing_group

# LightningCLI's own subcommands, handled by blueprint.cli.command
TRAINING = {
    "fit": "train, then test the best checkpoint",
    "validate": "evaluate a checkpoint on the validation split",
    "test": "evaluate a checkpoint on the test split",
    "predict": "write a checkpoint's predictions into a new run folder",
}
# name: (module whose main(argv) runs it, what it does)
COMMANDS = {
    "runs": ("blueprint.cli.runs_command", "a table of the runs under logs/: status, options, metrics"),
    "seeds": ("blueprint.cli.seeds_command", "one experiment over seeds (or folds): test metrics as mean ± std"),
    "sweep": ("blueprint.sweeps.command", "an Optuna hyperparameter search that several workers can share"),
    "serve": ("blueprint.serving.command", "a checkpoint behind an HTTP endpoint (LitServe)"),
    "export": ("blueprint.export.command", "a checkpoint as ONNX and torch.export files, checked against PyTorch"),
    "stream": ("blueprint.streaming.command", "write an experiment's data as a LitData stream"),
}


def usage() -> str:
    lines = ["usage: blueprint COMMAND [options]   (blueprint COMMAND --help lists a command's options)", ""]
    lines += [f"  {name:<10}{about}" for name, about in TRAINING.items()]
    lines += [f"  {name:<10}{about}" for name, (_, about) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Console script `blueprint`; class_path can also name modules under the working directory (e.g. examples/)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        raise SystemExit(0 if args else 2)
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # appended, as a fallback: it never shadows installed packages
    name = args[0]
    if name in COMMANDS:
        try:
            command = importlib.import_module(COMMANDS[name][0])
        except ModuleNotFoundError as err:
            missing = missing_group(err.name, f"blueprint {name}")
            if missing is None:
                raise
            print(f"error: {missing}", file=sys.stderr)
            raise SystemExit(2) from None
        result = command.main(args[1:])
        raise SystemExit(result if isinstance(result, int) else 0)
    if name not in TRAINING and not name.startswith("-"):
        choices = ", ".join([*TRAINING, *COMMANDS])
        print(f"error: {name!r} is not a blueprint command; choose one of: {choices}", file=sys.stderr)
        raise SystemExit(2)
    from blueprint.cli.command import cli_main  # imports Lightning: only the training commands pay for it

    cli_main(None if argv is None else args)  # None: LightningCLI reads sys.argv itself


if __name__ == "__main__":
    main()

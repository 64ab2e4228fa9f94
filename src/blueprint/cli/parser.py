"""Parse errors as one line: jsonargparse spreads a bad value over many lines and prints 45 lines of usage first."""

import importlib.util
import re
from typing import Any, NoReturn

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser

from blueprint.cli.links import check_given_values, linking
from blueprint.errors import UserError, missing_group


class OneLineErrorParser(LightningArgumentParser):
    """A mistake prints one `error:` line and a tip pointing at --help, not the usage."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        whole = " ".join(message.split())
        reason = innermost_reason(whole)
        super().error(str(missing_optional_package(reason) or missing_optional_package(whole) or reason), ex)

    def print_usage(self, file: Any = None) -> None:
        """Called before an error only: the ~45 lines of options would bury it; a tip points at --help instead."""

    def instantiate(self, namespace: Namespace, *args: Any, **kwargs: Any) -> Namespace:
        """The data links see the task being built, and a linked value set by hand must equal the linked one."""
        with linking(namespace):
            try:
                built = super().instantiate(namespace, *args, **kwargs)
            except ValueError as err:  # a link wraps the data's UserError (e.g. a bad CSV) in its own message
                cause = err.__cause__
                while cause is not None and not isinstance(cause, UserError):
                    cause = cause.__cause__
                if cause is None:
                    raise
                raise cause from err
        check_given_values(namespace, built)
        return built


MAX_ERROR_CHARS = 400  # a huge value quoted whole would bury the message


def innermost_reason(message: str) -> str:
    """'Parser key "model": Does not validate against any of the Union subtypes ... Option 'hiden' is not accepted'
    -> "model.net (blueprint.nets.MLP): Option 'hiden' is not accepted": the option the user wrote, and why."""
    linked = re.search(r"argument (?:\w+\()?([\w.]+)\)? --> ([\w.]+): ", message)
    given = re.search(r'Linked "([\w.]+)" must be given via "([\w.]+)"', message)
    if given:
        return f"{given.group(1)} cannot be set: blueprint links it from {given.group(2)} (src/blueprint/cli/links.py)"
    if linked:  # jsonargparse refuses a link target on the command line with a bare "invalid value"
        return (
            f"{linked.group(2)} cannot be set: blueprint links it from {linked.group(1)} (src/blueprint/cli/links.py)"
        )
    if "Union subtypes" in message:
        keys = re.findall(r'Parser key "([^"]+)"', message)
        classes = list(re.finditer(r"class_path '([^']+)': ", message))
        unknown = re.search(r"Option '([^']+)' is not accepted", message)
        if keys and unknown:
            option = ".init_args.".join([*keys, unknown.group(1)])
            return f"{option}: no such option (the options are listed by --help)"
        if keys and classes:
            reason = message[classes[-1].end() :].split(" - Expected a <class 'NoneType'>")[0]
            message = f"{'.'.join(keys)} ({classes[-1].group(1)}): {reason}"
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 3] + "..."


def missing_optional_package(reason: str) -> UserError | None:
    """A class from an optional dependency group that is not installed: the error names the group to add."""
    named = re.search(r"^([^:]+): No module named '([\w.]+)'", reason)
    if named:  # e.g. the streaming preset's DataModule without litdata
        return missing_group(named.group(2), named.group(1))
    if "MLFlowLogger" in reason and importlib.util.find_spec("mlflow") is None:  # Lightning's class imports it lazily
        return missing_group("mlflow", "trainer.logger (lightning.pytorch.loggers.MLFlowLogger)")
    return None


def root_message(err: Exception) -> str:
    """jsonargparse wraps constructor errors in 'Does not validate against any of the Union subtypes'; unwrap."""
    reasons = [
        line.strip()[2:]
        for line in str(err).splitlines()
        if line.strip().startswith("- ") and "Expected a <class 'NoneType'>" not in line
    ]
    return "; ".join(reasons) if reasons else str(err)

"""Parse errors as one line: jsonargparse spreads a bad value over many lines and prints 45 lines of usage first."""

from typing import Any, NoReturn

from lightning.pytorch.cli import LightningArgumentParser


class OneLineErrorParser(LightningArgumentParser):
    """A mistake prints one `error:` line and a tip pointing at --help, not the usage."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        super().error(" ".join(message.split()), ex)

    def print_usage(self, file: Any = None) -> None:
        """Called before an error only: the ~45 lines of options would bury it; a tip points at --help instead."""


def root_message(err: Exception) -> str:
    """jsonargparse wraps constructor errors in 'Does not validate against any of the Union subtypes'; unwrap."""
    reasons = [
        line.strip()[2:]
        for line in str(err).splitlines()
        if line.strip().startswith("- ") and "Expected a <class 'NoneType'>" not in line
    ]
    return "; ".join(reasons) if reasons else str(err)

"""The argparse side of the commands around a run (runs, seeds, sweep, serve, export, stream) and benchmarks/.

A bad argument gets one `error:` line on stderr and exit 2, as LightningCLI's fit/validate/test/predict answer.
Imports nothing heavy: `blueprint runs --help` starts without Lightning.
"""

import argparse
import contextlib
import io
import logging
import math
import sys
from collections.abc import Iterator
from typing import NoReturn

from blueprint.errors import UserError


def fail(message: str, code: int = 2) -> NoReturn:
    """The one line a user sees for a mistake they can fix; `message` names the value and the fix."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage, then `prog: error: ...`; the mistake alone on one line is easier to read."""

    def error(self, message: str) -> NoReturn:
        fail(f"{' '.join(message.split())} (options: {self.prog} --help)")


def whole_number_at_least(text: str, minimum: int, why: str) -> int:
    """argparse type body: a whole number >= minimum, else one message saying why the minimum."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= {minimum}; {why}")
    return value


def positive_int(text: str) -> int:
    """argparse type for counts and sizes, where 0 would silently do nothing or crash later."""
    return whole_number_at_least(text, 1, "give 1 or more")


def non_negative_float(text: str) -> float:
    """argparse type for tolerances: a negative or NaN bound could never be met."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0; give e.g. 1e-4")
    return value


def error_line(output: str) -> str | None:
    """The last `error: ...` line `blueprint` printed (without the prefix), if any."""
    lines = [line.removeprefix("error: ") for line in output.splitlines() if line.startswith("error: ")]
    return lines[-1] if lines else None


@contextlib.contextmanager
def cli_refusal_as_user_error(prefix: str = "") -> Iterator[None]:
    """cli_main prints its `error:` line and a --help tip that names this script, not the CLI; keep just the line.

    Around cli_main(..., run=False): its refusal becomes a UserError (prefixed), which the script's main prints once.
    """

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    except SystemExit:
        line = error_line(captured.getvalue())
        if line is None:
            sys.stderr.write(captured.getvalue())
            raise
        raise UserError(prefix + line) from None
    except BaseException:
        sys.stderr.write(captured.getvalue())
        raise
    sys.stderr.write(captured.getvalue())  # warnings of a config that was accepted still reach the user


@contextlib.contextmanager
def quiet_lightning_info(least: int = logging.WARNING) -> Iterator[None]:
    """Lightning's INFO lines on stderr (GPU available, seed set, a tip) would surround the one error line; inside,
    its loggers show `least` and above, and get their own levels back after."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), least))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def one_line_on_user_error() -> Iterator[None]:
    """A script's body: a UserError raised inside ends it with one `error:` line and exit 2, without INFO noise."""

    try:
        with quiet_lightning_info():
            yield
    except UserError as err:
        fail(str(err))

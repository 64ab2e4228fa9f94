"""Errors a user can trigger through config or data; the CLI prints them as one line, no traceback."""


class UserError(ValueError):
    """A mistake in config, data or checkpoint that the user can fix; the message names the value and the fix."""


class TrainingStopped(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says where, what was kept and what to try."""

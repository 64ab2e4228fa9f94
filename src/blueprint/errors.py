"""Errors a user can trigger through config or data; the CLI prints them as one line, no traceback."""


class UserError(ValueError):
    """A mistake in config, data or checkpoint that the user can fix; the message names the value and the fix."""


class TrainingStopped(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says where, what was kept and what to try."""


# The optional dependency groups of pyproject.toml, by the package a missing import names
OPTIONAL_PACKAGES = {
    "litserve": "serve",
    "litdata": "stream",
    "optuna": "sweep",
    "mlflow": "mlflow",
    "onnx": "export",
    "onnxruntime": "export",
    "onnxscript": "export",
}


def missing_group(package: str | None, needed_by: str) -> UserError | None:
    """The one-line error for an optional package that is not installed, naming its dependency group; else None."""
    top = (package or "").split(".")[0]
    group = OPTIONAL_PACKAGES.get(top)
    if group is None:
        return None
    return UserError(
        f"{needed_by} needs {top}, which is not installed: add the `{group}` dependency group "
        f"(uv sync --group {group}, or list it in pyproject.toml's [tool.uv] default-groups)"
    )

"""Values from a user's data quoted short in error messages, so a megabyte field or a wide header stays one line."""

from collections.abc import Iterable
from typing import Any

import numpy as np

MAX_QUOTED = 80  # characters of one quoted value, "..." included
MAX_LISTED = 10  # items shown of a quoted list


def quoted(value: Any, limit: int = MAX_QUOTED) -> str:
    """repr(value) cut to `limit` characters with "...": enough to find the value, never the whole field."""
    text = repr(value.item() if isinstance(value, np.generic) else value)  # numpy scalars as plain numbers
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quoted_list(values: Iterable[Any], limit: int = MAX_LISTED) -> str:
    """The first `limit` items, each quoted short, and how many more there are."""
    items = list(values)
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return "[" + ", ".join(quoted(item) for item in items[:limit]) + more + "]"

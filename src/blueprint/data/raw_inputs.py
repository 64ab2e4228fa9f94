"""Raw values a client sends (`blueprint serve`'s JSON), checked before they become tensors; bad ones are refused.

Here, not in serving/, so a data module's own request decoder (`decode_request`) can use them.
"""

import math
from typing import Any

import numpy as np


class BadRequest(ValueError):
    """Input the server refuses with HTTP 400; the message names the value and the fix, on one line."""


def numbers(value: Any, name: str, low: float = -math.inf, high: float = math.inf) -> np.ndarray:
    """A nested JSON list of finite numbers within [low, high] as float64; anything else is a BadRequest."""
    if not isinstance(value, list):
        raise BadRequest(f"{name} must be a nested list of numbers, got {type(value).__name__}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise BadRequest(f"{name} is not a rectangular nested list of numbers (uneven rows, or not numbers)") from None
    if not np.isfinite(array).all():
        raise BadRequest(f"{name} holds a non-finite number ({array[~np.isfinite(array)][0]}); send finite values")
    if array.size and (array.min() < low or array.max() > high):
        raise BadRequest(f"{name} holds values in [{array.min():g}, {array.max():g}]; send values in [{low}, {high}]")
    return array

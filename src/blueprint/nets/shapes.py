"""Early shape checks: a mismatch between data and net fails before the first step, naming both numbers."""

from collections.abc import Sequence

from blueprint.errors import UserError


def check_equal(what: str, data_value: object, net_value: object, net_arg: str, fix: object = None) -> None:
    """Raise a UserError naming the data value, the net value and the net argument to change.

    `blueprint` links the argument from the data, so a mismatch means a net built by hand in Python; `fix` is the
    value that argument should get (the data's value when omitted).
    """
    if data_value != net_value:
        raise UserError(
            f"shape mismatch: the data gives {what} = {data_value} but the net expects {net_value}; "
            f"build the net with {net_arg}={data_value if fix is None else fix} (the blueprint command sets it "
            "from the data: leave it out of configs)"
        )


def image_shape(input_shape: Sequence[int], net: str) -> tuple[int, int, int]:
    """(C, H, W) from a net's `input_shape`, or a clear error for any other length."""
    if len(input_shape) != 3:
        raise ValueError(f"{net} takes images: input_shape must be (C, H, W), got {tuple(input_shape)}")
    channels, height, width = (int(n) for n in input_shape)
    return channels, height, width

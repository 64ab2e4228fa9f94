"""Early shape checks: a mismatch between data and net fails before the first step, naming both numbers."""

from blueprint.errors import UserError


def check_equal(what: str, data_value: object, net_value: object, net_key: str) -> None:
    """Raise a UserError naming the data value, the net value and the config key to change."""
    if data_value != net_value:
        raise UserError(
            f"shape mismatch: the data gives {what} = {data_value} but the net expects {net_value}; "
            f"set {net_key}: {data_value} in your config (or change the data)"
        )

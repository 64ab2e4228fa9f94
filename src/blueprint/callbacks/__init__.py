"""Lightning callbacks that no single task owns."""

from blueprint.callbacks.throughput import SamplesPerSecond

__all__ = ["SamplesPerSecond"]

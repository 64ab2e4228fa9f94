"""Lightning callbacks that no single task owns."""

from blueprint.callbacks.grad_norm import GradNormMonitor
from blueprint.callbacks.lr_finder import LRFinder
from blueprint.callbacks.throughput import SamplesPerSecond

__all__ = ["GradNormMonitor", "LRFinder", "SamplesPerSecond"]

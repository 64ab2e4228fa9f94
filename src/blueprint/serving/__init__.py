"""`blueprint serve`: a trained checkpoint behind an HTTP endpoint, through LitServe (batching, workers, /health)."""

from blueprint.serving.checkpoint import ServedModel, load_served_model
from blueprint.serving.server import build_server

__all__ = ["ServedModel", "build_server", "load_served_model"]

"""Plain torch.nn.Module architectures. Nothing in here imports Lightning, tasks/ or data/."""

from blueprint.nets.backbone import Backbone
from blueprint.nets.cnn import CNN
from blueprint.nets.mlp import MLP

__all__ = ["CNN", "MLP", "Backbone"]

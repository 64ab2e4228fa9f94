"""Plain torch.nn.Module architectures. Nothing in here imports Lightning, tasks/ or data/."""

from blueprint.nets.backbone import Backbone
from blueprint.nets.cnn import CNN
from blueprint.nets.convlstm import ConvLSTMForecaster
from blueprint.nets.mlp import MLP
from blueprint.nets.seq2img import LSTMFrameGenerator
from blueprint.nets.simvp import SimVP

__all__ = ["CNN", "MLP", "Backbone", "ConvLSTMForecaster", "LSTMFrameGenerator", "SimVP"]

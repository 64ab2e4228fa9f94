"""blueprint: a PyTorch Lightning project template (MLP, CNN and sequence-to-image models)."""

__version__ = "0.1.0"

"""torch.compile for the task's net, in place, so checkpoints load, resume, export and serve without it."""

from typing import Any

import lightning as L
import torch
from torch import nn

from blueprint.errors import UserError


class CompileNet(L.Callback):
    """Runs `pl_module.net`'s forward through torch.compile while a loop runs (configs/presets/compile.yaml).

    The net, not the LightningModule (Lightning issue 17177, lightning-hydra-template PR #587), and in place:
    `torch.compile(net)` wraps the net in a module whose state_dict keys start with `_orig_mod.`, which an uncompiled
    task cannot load. Here the net keeps its class and keys; only its `forward` is the compiled one, and forward
    hooks (the figure callbacks') stay eager. It is set when a loop starts, after the model summary and TensorBoard's
    graph (torch.jit.trace refuses compiled code), and removed at teardown, so test after fit traces its graph
    eagerly too. The arguments are torch.compile's; each new input shape and the train/eval switch compile again.
    """

    def __init__(
        self, backend: str = "inductor", mode: str | None = None, dynamic: bool | None = None, fullgraph: bool = False
    ) -> None:
        self.options: dict[str, Any] = {"backend": backend, "mode": mode, "dynamic": dynamic, "fullgraph": fullgraph}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(getattr(pl_module, "net", None), nn.Module):
            raise UserError(
                f"CompileNet compiles the task's `net`, but {type(pl_module).__qualname__} has none; drop "
                "configs/presets/compile.yaml (blueprint.callbacks.compile_net.CompileNet) from the run's config"
            )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._compile(pl_module)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._compile(pl_module)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._compile(pl_module)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._compile(pl_module)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """The class's own forward again (an instance attribute shadowed it); torch keeps the compiled code cached."""
        net = getattr(pl_module, "net", None)
        if isinstance(net, nn.Module):
            vars(net).pop("forward", None)

    def _compile(self, pl_module: L.LightningModule) -> None:
        net = getattr(pl_module, "net", None)
        if isinstance(net, nn.Module) and "forward" not in vars(net):
            net.forward = torch.compile(net.forward, **self.options)

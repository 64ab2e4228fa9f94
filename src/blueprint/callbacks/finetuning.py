"""Fine-tuning schedule: train only a pretrained net's new head first, then thaw the body after N epochs."""

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from torch.optim import Optimizer

from blueprint.errors import UserError
from blueprint.optim.param_groups import split_by_decay


class FreezeBackbone(BaseFinetuning):
    """Needs a net with `body_modules()` (blueprint.nets.Backbone). At `unfreeze_at_epoch` the body trains again.

    Body parameters already in the optimizer (the task builds it from all parameters) simply resume training;
    any that are not are added as a new param group at the optimizer's lr times `body_lr_factor`.
    """

    def __init__(self, unfreeze_at_epoch: int = 1, body_lr_factor: float = 0.1, train_bn: bool = True) -> None:
        super().__init__()
        if unfreeze_at_epoch < 0:
            raise UserError(f"FreezeBackbone unfreeze_at_epoch must be >= 0, got {unfreeze_at_epoch}")
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self.body_lr_factor = body_lr_factor
        self.train_bn = train_bn

    @staticmethod
    def _body(pl_module: L.LightningModule) -> list:
        net = getattr(pl_module, "net", None)
        if net is None or not hasattr(net, "body_modules"):
            raise UserError(f"FreezeBackbone needs model.net to be blueprint.nets.Backbone, got {type(net).__name__}")
        return net.body_modules()

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        if self.unfreeze_at_epoch > 0:
            self.freeze(self._body(pl_module), train_bn=self.train_bn)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        """Thaw the body from `unfreeze_at_epoch` on; a run resumed past it is frozen by setup and thawed here."""
        if self.unfreeze_at_epoch == 0 or epoch < self.unfreeze_at_epoch:
            return
        body = self._body(pl_module)
        if all(p.requires_grad for m in body for p in m.parameters(recurse=False)):
            return
        in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
        self.make_trainable(body)
        decay, spared = split_by_decay(body)
        if not getattr(pl_module, "weight_decay_exclude_norm_bias", False):  # one group, as the task built it
            decay, spared = decay + spared, []
        for params, weight_decay in ((decay, None), (spared, 0.0)):
            new = [p for p in params if id(p) not in in_optimizer]
            if new:
                self.add_body_group(pl_module.trainer, optimizer, new, weight_decay)

    def add_body_group(
        self, trainer: L.Trainer, optimizer: Optimizer, params: list, weight_decay: float | None = None
    ) -> None:
        """A param group at `body_lr_factor` x the head's LR, which the optimizer's LR schedules then also drive.

        `weight_decay=0.0` for biases and norm parameters when the task spares them (None: the optimizer's own).
        """
        head = optimizer.param_groups[0]
        group: dict = {"params": params, "lr": head["lr"] * self.body_lr_factor}
        if weight_decay is not None:
            group["weight_decay"] = weight_decay
        for key in head.keys() - optimizer.defaults.keys() - {"params"}:  # a schedule's own keys (OneCycleLR: 5)
            group[key] = head[key] * self.body_lr_factor if key.endswith("lr") else head[key]
        optimizer.add_param_group(group)
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if getattr(scheduler, "optimizer", None) is optimizer and hasattr(scheduler, "base_lrs"):
                scheduler.base_lrs.append(group.get("initial_lr", group["lr"]))

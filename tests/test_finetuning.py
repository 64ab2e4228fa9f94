"""FreezeBackbone on a tiny net: thawing survives a resume, and a new body param group follows the LR schedule."""

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from blueprint.callbacks.finetuning import FreezeBackbone
from blueprint.tasks import ClassificationTask


class TinyBackbone(nn.Module):
    """Body and head like blueprint.nets.Backbone, in two small linear layers."""

    out_features = 2

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 2)

    def body_modules(self) -> list[nn.Module]:
        return [self.body]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)))


def loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(32, 4, generator=generator)
    return DataLoader(TensorDataset(inputs, (inputs[:, 0] > 0).long()), batch_size=8)


def trainer(root: Path, epochs: int) -> L.Trainer:
    return L.Trainer(
        max_epochs=epochs,
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[FreezeBackbone(unfreeze_at_epoch=1)],
    )


def test_a_run_resumed_after_the_unfreeze_epoch_trains_the_body(tmp_path: Path) -> None:
    first = trainer(tmp_path, epochs=2)
    first.fit(ClassificationTask(net=TinyBackbone()), train_dataloaders=loader())
    checkpoint = next((tmp_path / "checkpoints").glob("*.ckpt"))
    body_at_resume = torch.load(checkpoint, weights_only=True)["state_dict"]["net.body.weight"]
    task = ClassificationTask(net=TinyBackbone())
    trainer(tmp_path, epochs=3).fit(task, train_dataloaders=loader(), ckpt_path=checkpoint)
    assert task.net.body.weight.requires_grad
    assert not torch.equal(task.net.body.weight.detach(), body_at_resume)


def test_a_body_group_added_at_unfreeze_follows_the_schedule_at_its_lr_factor(tmp_path: Path) -> None:
    """Frozen params are left out of decay/no-decay groups, so thawing adds a group; OneCycleLR must drive it."""
    schedule = lambda optimizer: torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=12)  # noqa: E731
    task = ClassificationTask(
        net=TinyBackbone(),
        optimizer=lambda params: torch.optim.AdamW(params, weight_decay=0.1),
        scheduler=schedule,
        scheduler_interval="step",
        weight_decay_exclude_norm_bias=True,
    )
    trainer(tmp_path, epochs=3).fit(task, train_dataloaders=loader())
    optimizer = task.optimizers().optimizer
    head, body, body_bias = optimizer.param_groups[0], optimizer.param_groups[2], optimizer.param_groups[3]
    assert len(optimizer.param_groups) == 4 and body["params"] == [task.net.body.weight]
    assert body["lr"] == pytest.approx(head["lr"] * 0.1) and body_bias["lr"] == pytest.approx(head["lr"] * 0.1)
    assert body_bias["params"] == [task.net.body.bias] and body_bias["weight_decay"] == 0.0  # spared after thawing
    assert body["weight_decay"] == head["weight_decay"] == 0.1

"""CIFAR-10 through torchvision's real loader on tiny pickle batches, per-sample augmentation, and the Backbone."""

from pathlib import Path

import lightning as L
import pytest
import torch
from torchvision.models import ResNet18_Weights, WeightsEnum, resnet18

from blueprint.callbacks.finetuning import FreezeBackbone
from blueprint.data import CIFAR10DataModule
from blueprint.errors import UserError
from blueprint.nets import MLP, Backbone
from blueprint.tasks import ClassificationTask
from tests.fake_datasets import CIFAR_CLASSES, make_cifar10


def test_cifar10_reads_native_pickle_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cifar10(tmp_path / "data", monkeypatch, per_batch=40, n_test=30)
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "data"), val_size=50)
    dm.setup()
    assert [len(dm.splits[s][1]) for s in ("train", "val", "test")] == [150, 50, 30]
    assert dm.splits["train"][0].shape[1:] == (3, 32, 32) and dm.classes == CIFAR_CLASSES
    assert torch.bincount(dm.splits["val"][1]).tolist() == [5] * 10  # stratified
    raw = CIFAR10DataModule(data_dir=str(tmp_path / "data"), val_size=50, normalize=False)
    raw.setup()
    assert raw.splits["test"][0].min() >= 0.0 and raw.splits["test"][0].max() <= 1.0


def test_cifar10_missing_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="download"):
        CIFAR10DataModule(data_dir=str(tmp_path / "empty")).setup()


def test_augmentation_differs_per_sample_in_training_and_is_absent_in_eval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cifar10(tmp_path / "data", monkeypatch, per_batch=40, n_test=30)
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "data"), val_size=50, batch_size=32)
    dm.setup()
    image = dm.splits["train"][0][:1].clone()
    dm.splits["train"] = (image.repeat(150, 1, 1, 1), dm.splits["train"][1])  # one image, 150 times
    batch = next(iter(dm.train_dataloader()))[0]
    distinct = {tuple(x.flatten().tolist()) for x in batch}
    assert len(distinct) > 10  # each copy got its own crop/flip
    first, second = next(iter(dm.test_dataloader()))[0], next(iter(dm.test_dataloader()))[0]
    assert torch.equal(first, second) and torch.equal(first, dm.splits["test"][0][: len(first)])


def test_backbone_replaces_the_head_of_any_torchvision_model() -> None:
    for name, head in (("resnet18", "fc"), ("mobilenet_v3_small", "classifier.3")):
        net = Backbone(input_shape=(3, 32, 32), out_features=7, name=name)
        assert net.head_name == head and net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    with pytest.raises(ValueError, match="resnet19"):
        Backbone(input_shape=(3, 32, 32), out_features=10, name="resnet19")


def test_backbone_with_weights_applies_their_preprocessing(monkeypatch: pytest.MonkeyPatch) -> None:
    """No download here: the weights' state dict comes from a fresh resnet18; the rest is torchvision's real path."""
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *a, **k: resnet18().state_dict())
    net = Backbone(input_shape=(3, 32, 32), out_features=10, name="resnet18", weights="IMAGENET1K_V1")
    assert net.preprocess is not None
    assert net.preprocess.mean == ResNet18_Weights.IMAGENET1K_V1.transforms().mean
    seen = []
    net.model.conv1.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert seen[0][-2:] == (224, 224)  # resized and cropped as the weights expect


class _Snapshots(L.Callback):
    """Copies of the first conv (body) and the head weights: at the start and after every epoch."""

    def __init__(self) -> None:
        self.taken: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _take(self, pl_module: L.LightningModule) -> None:
        net = pl_module.net
        self.taken.append((net.model.features[0][0].weight.detach().clone(), net.head().weight.detach().clone()))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take(pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take(pl_module)


@pytest.mark.slow
def test_freeze_backbone_trains_only_the_head_until_unfreeze_epoch(tmp_path: Path, monkeypatch) -> None:
    make_cifar10(tmp_path / "data", monkeypatch, per_batch=40, n_test=30)
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "data"), val_size=50, batch_size=8)
    task = ClassificationTask(net=Backbone(input_shape=(3, 32, 32), out_features=10, name="mobilenet_v3_small"))
    snapshots = _Snapshots()
    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[FreezeBackbone(unfreeze_at_epoch=1), snapshots],
    )
    trainer.fit(task, datamodule=dm)
    (body0, head0), (body1, head1), (body2, _) = snapshots.taken
    assert torch.equal(body0, body1) and not torch.equal(head0, head1)  # epoch 0: only the head learns
    assert not torch.equal(body1, body2)  # epoch 1: the body trains too
    with pytest.raises(UserError, match="Backbone"):
        FreezeBackbone()._body(ClassificationTask(net=MLP(input_shape=(3,), out_features=2)))

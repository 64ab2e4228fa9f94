"""Nets: output shapes, every activation and init strategy builds, and clear shape-mismatch errors."""

import pytest
import torch

from blueprint.errors import UserError
from blueprint.nets import CNN, MLP, Backbone
from blueprint.nets.activations import Activation
from blueprint.nets.init import InitStrategy

ACTIVATIONS = Activation.__args__
INITS = InitStrategy.__args__


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("init", INITS)
def test_mlp_and_cnn_build_with_every_activation_and_init(activation: str, init: str) -> None:
    torch.manual_seed(0)
    mlp = MLP(in_features=12, out_features=3, hidden=(8,), activation=activation, init=init, batch_norm=True)
    cnn = CNN(in_channels=3, image_size=8, num_classes=4, channels=(4,), activation=activation, init=init)
    assert mlp(torch.randn(5, 12)).shape == (5, 3)
    assert cnn(torch.randn(5, 3, 8, 8)).shape == (5, 4)


def test_init_strategies_change_weights() -> None:
    torch.manual_seed(0)
    default = MLP(in_features=64, hidden=(64,)).layers[1].weight.std().item()
    torch.manual_seed(0)
    kaiming = MLP(in_features=64, hidden=(64,), init="kaiming_normal").layers[1].weight.std().item()
    assert kaiming == pytest.approx((2 / 64) ** 0.5, rel=0.2) and abs(kaiming - default) > 0.02


def test_mlp_flattens_images() -> None:
    assert MLP()(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_shape_mismatch_names_both_numbers_and_the_key() -> None:
    with pytest.raises(UserError, match=r"784.*100.*in_features"):
        MLP(in_features=100).check_input_shape((1, 28, 28))
    with pytest.raises(UserError, match=r"in_channels"):
        CNN(in_channels=3).check_input_shape((1, 28, 28))


def test_bad_constructor_values() -> None:
    with pytest.raises(ValueError, match="dropout"):
        MLP(dropout=1.0)
    with pytest.raises(ValueError, match="activation"):
        MLP(activation="swishy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        CNN(kernel_size=4, convs_per_block=2)


def test_cnn_kernel_sizes_and_depths_keep_the_head_sized() -> None:
    for kernel_size in (1, 3, 5):
        cnn = CNN(image_size=28, channels=(4, 8), convs_per_block=2, kernel_size=kernel_size, hidden=8)
        assert cnn(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_backbone_takes_grayscale_images_through_a_new_stem() -> None:
    net = Backbone(name="resnet18", in_channels=1, image_size=28, num_classes=10)
    net.check_input_shape((1, 28, 28))
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="3-channel"):
        Backbone(name="resnet18", in_channels=1, weights="DEFAULT")

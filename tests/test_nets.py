"""Nets: output shapes, every activation and init strategy builds, and clear shape-mismatch errors."""

import pytest
import torch

from blueprint.errors import UserError
from blueprint.nets import CNN, MLP, Backbone, ConvLSTMForecaster, LSTMFrameGenerator
from blueprint.nets.activations import Activation
from blueprint.nets.init import InitStrategy

ACTIVATIONS = Activation.__args__
INITS = InitStrategy.__args__


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("init", INITS)
def test_mlp_and_cnn_build_with_every_activation_and_init(activation: str, init: str) -> None:
    torch.manual_seed(0)
    mlp = MLP(input_shape=(12,), out_features=3, hidden=(8,), activation=activation, init=init, batch_norm=True)
    cnn = CNN(input_shape=(3, 8, 8), out_features=4, channels=(4,), activation=activation, init=init)
    assert mlp(torch.randn(5, 12)).shape == (5, 3)
    assert cnn(torch.randn(5, 3, 8, 8)).shape == (5, 4)


def test_init_strategies_change_weights() -> None:
    torch.manual_seed(0)
    default = MLP(input_shape=(64,), out_features=10, hidden=(64,)).layers[1].weight.std().item()
    torch.manual_seed(0)
    kaiming = MLP(input_shape=(64,), out_features=10, hidden=(64,), init="kaiming_normal").layers[1].weight.std().item()
    assert kaiming == pytest.approx((2 / 64) ** 0.5, rel=0.2) and abs(kaiming - default) > 0.02


def test_mlp_flattens_images() -> None:
    assert MLP(input_shape=(1, 28, 28), out_features=10)(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_shape_mismatch_names_both_numbers_and_the_argument() -> None:
    with pytest.raises(UserError, match=r"784.*100.*input_shape=\(1, 28, 28\)"):
        MLP(input_shape=(100,), out_features=10).check_input_shape((1, 28, 28))
    with pytest.raises(UserError, match=r"\(1, 28, 28\).*\(3, 28, 28\).*input_shape"):
        CNN(input_shape=(3, 28, 28), out_features=10).check_input_shape((1, 28, 28))


def test_bad_constructor_values() -> None:
    with pytest.raises(ValueError, match="dropout"):
        MLP((784,), 10, dropout=1.0)
    with pytest.raises(ValueError, match="activation"):
        MLP((784,), 10, activation="swishy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        CNN(input_shape=(1, 28, 28), out_features=10, kernel_size=4, convs_per_block=2)


def test_cnn_kernel_sizes_and_depths_keep_the_head_sized() -> None:
    for kernel_size in (1, 3, 5):
        cnn = CNN(
            input_shape=(1, 28, 28),
            out_features=10,
            channels=(4, 8),
            convs_per_block=2,
            kernel_size=kernel_size,
            hidden=8,
        )
        assert cnn(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_backbone_takes_grayscale_images_through_a_new_stem() -> None:
    net = Backbone(input_shape=(1, 28, 28), out_features=10, name="resnet18")
    net.check_input_shape((1, 28, 28))
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="3-channel"):
        Backbone(input_shape=(1, 28, 28), out_features=10, name="resnet18", weights="DEFAULT")


def _std_expected(strategy: str, gain: float, fan_in: int, fan_out: int) -> float:
    """The weight std each strategy's formula gives (kaiming uses fan_in)."""
    if strategy.startswith("xavier"):
        return gain * (2 / (fan_in + fan_out)) ** 0.5
    return gain / fan_in**0.5


@pytest.mark.parametrize("strategy", ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"])
@pytest.mark.parametrize(("activation", "gain"), [("relu", 2**0.5), ("tanh", 5 / 3), ("selu", 1.0)])
def test_init_strategies_follow_their_formula_on_linear_and_conv_layers(strategy, activation, gain) -> None:
    torch.manual_seed(0)
    mlp = MLP(input_shape=(400,), out_features=10, hidden=(300,), activation=activation, init=strategy)
    cnn = CNN(
        input_shape=(16, 8, 8), out_features=10, channels=(32,), kernel_size=5, activation=activation, init=strategy
    )
    linear, conv = mlp.layers[1], cnn.features[0]
    assert isinstance(linear, torch.nn.Linear) and isinstance(conv, torch.nn.Conv2d)
    for layer, fan_in, fan_out in ((linear, 400, 300), (conv, 16 * 25, 32 * 25)):
        expected = _std_expected(strategy, gain, fan_in, fan_out)
        assert float(layer.weight.std()) == pytest.approx(expected, rel=0.1), layer
        assert layer.bias is None or not layer.bias.any()


def test_orthogonal_init_gives_orthogonal_rows_scaled_by_the_gain() -> None:
    weight = (
        MLP(input_shape=(64,), out_features=10, hidden=(64,), init="orthogonal", activation="relu")
        .layers[1]
        .weight.detach()
    )
    assert torch.allclose(weight @ weight.T, 2.0 * torch.eye(64), atol=1e-4)  # relu gain sqrt(2), squared


def test_dropout_and_batch_norm_switches_add_or_leave_out_their_layers() -> None:
    def kinds(net: torch.nn.Module) -> set[type]:
        return {type(m) for m in net.modules()}

    assert {torch.nn.Dropout, torch.nn.BatchNorm1d} <= kinds(MLP((784,), 10, dropout=0.2, batch_norm=True))
    assert not {torch.nn.Dropout, torch.nn.BatchNorm1d} & kinds(MLP((784,), 10, dropout=0.0, batch_norm=False))
    assert {torch.nn.Dropout, torch.nn.BatchNorm2d} <= kinds(CNN((1, 28, 28), 10, dropout=0.2, batch_norm=True))
    assert torch.nn.BatchNorm2d not in kinds(CNN((1, 28, 28), 10, batch_norm=False))
    assert CNN((1, 28, 28), 10, dropout=0.3).head[1].p == 0.3


def test_cnn_checks_height_width_and_dimensions_against_the_data() -> None:
    with pytest.raises(UserError, match=r"\(1, 32, 28\) but the net expects \(1, 28, 28\)"):
        CNN((1, 28, 28), 10).check_input_shape((1, 32, 28))
    with pytest.raises(UserError, match=r"\(1, 28, 32\) but the net expects \(1, 28, 28\)"):
        CNN((1, 28, 28), 10).check_input_shape((1, 28, 32))
    with pytest.raises(UserError, match="takes images"):
        CNN((1, 28, 28), 10).check_input_shape((784,))


def test_frame_decoder_ends_in_one_sigmoid_even_when_a_width_equals_the_input_channels() -> None:
    net = LSTMFrameGenerator(input_shape=(2, 1, 16, 16), out_features=2, channels=(1, 8))
    sigmoids = [i for i, m in enumerate(net.decoder) if isinstance(m, torch.nn.Sigmoid)]
    assert sigmoids == [len(net.decoder) - 1]


def test_convlstm_forget_gate_bias_starts_at_one() -> None:
    cell = ConvLSTMForecaster(input_shape=(10, 1, 16, 16), hidden_channels=(8,), patch=2).encoder[0]
    bias = cell.gates.bias.detach()
    assert torch.equal(bias[8:16], torch.ones(8)) and not bias[:8].eq(1).all()


@pytest.mark.parametrize("net", [ConvLSTMForecaster, LSTMFrameGenerator])
def test_predictions_depend_on_the_earliest_input_frame(net) -> None:
    """State is carried through the sequence: changing only frame 0 changes every predicted frame."""
    torch.manual_seed(0)
    model = net(input_shape=(4, 1, 16, 16), out_features=3).eval()
    frames = torch.rand(1, 4, 1, 16, 16)
    changed = frames.clone()
    changed[:, 0] = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        difference = (model(frames) - model(changed)).abs().flatten(2).amax(-1)
    assert (difference > 0).all()  # with the state dropped, identical later frames give bit-identical outputs

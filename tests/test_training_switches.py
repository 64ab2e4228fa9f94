"""Every loss, optimizer, activation, init and gradient switch trains a few steps through the real CLI."""

import math
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from blueprint.callbacks import GradNormMonitor
from blueprint.nets.activations import _ACTIVATIONS
from blueprint.nets.init import InitStrategy
from blueprint.optim.param_groups import decay_and_no_decay
from tests.conftest import config, run_cli
from tests.fast import fast_args, fit, losses

LOSS = "--model.init_args.loss."
OPT = "--model.init_args.optimizer."

# (experiment, loss class_path, init_args): one row per loss each task accepts.
VALID_LOSSES = [
    ("mnist_mlp.yaml", "torch.nn.CrossEntropyLoss", {}),
    ("mnist_mlp.yaml", "torch.nn.CrossEntropyLoss", {"label_smoothing": 0.1}),
    ("mnist_mlp.yaml", "torch.nn.NLLLoss", {}),
    ("mnist_mlp.yaml", "torch.nn.KLDivLoss", {"reduction": "batchmean"}),
    ("tabular_mlp_binary.yaml", "torch.nn.BCEWithLogitsLoss", {}),
    ("tabular_mlp_regression.yaml", "torch.nn.MSELoss", {}),
    ("tabular_mlp_regression.yaml", "torch.nn.L1Loss", {}),
    ("tabular_mlp_regression.yaml", "torch.nn.SmoothL1Loss", {"beta": 0.5}),
]
# (experiment, loss that does not fit its task)
WRONG_LOSSES = [
    ("mnist_mlp.yaml", "torch.nn.MSELoss"),
    ("mnist_mlp.yaml", "torch.nn.BCEWithLogitsLoss"),
    ("tabular_mlp_binary.yaml", "torch.nn.CrossEntropyLoss"),
    ("tabular_mlp_regression.yaml", "torch.nn.CrossEntropyLoss"),
]


def _loss_args(class_path: str, init_args: dict) -> list[str]:
    return [f"{LOSS}class_path={class_path}", *(f"{LOSS}init_args.{k}={v}" for k, v in init_args.items())]


def _id(value: object) -> str:
    return str(value).rsplit(".", 1)[-1].removesuffix("yaml").removesuffix(".") if value != {} else "default"


@pytest.mark.parametrize(("name", "class_path", "init_args"), VALID_LOSSES, ids=_id)
def test_valid_loss_trains(name: str, class_path: str, init_args: dict) -> None:
    cli = fit(*_loss_args(class_path, init_args), steps=3, name=name)
    loss_fn = cli.model.loss_fn
    assert type(loss_fn).__name__ == class_path.rsplit(".", 1)[-1]
    assert all(getattr(loss_fn, k) == v for k, v in init_args.items())
    assert all(math.isfinite(v) for v in losses(cli)) and len(losses(cli)) == 3


@pytest.mark.parametrize(("name", "class_path"), WRONG_LOSSES, ids=_id)
def test_loss_that_does_not_fit_fails_before_training(name: str, class_path: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "-c", config(name), f"{LOSS}class_path={class_path}")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert class_path.rsplit(".", 1)[-1] in err and "does not fit" in err
    assert not Path("logs").exists()  # failed before the trainer wrote anything


OPTIMIZERS = {
    "SGD": {"lr": 0.05, "momentum": 0.9, "nesterov": "true"},
    "Adam": {"lr": 0.003},
    "AdamW": {"lr": 0.003, "weight_decay": 0.01},
    "RMSprop": {"lr": 0.001},
    "Adagrad": {"lr": 0.05},
    "Adadelta": {"lr": 1.0},
    "ASGD": {"lr": 0.05},
    "LBFGS": {"lr": 1.0, "max_iter": 5, "line_search_fn": "strong_wolfe"},
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_trains(name: str) -> None:
    init = [f"{OPT}init_args.{k}={v}" for k, v in OPTIMIZERS[name].items()]
    cli = fit(f"{OPT}class_path=torch.optim.{name}", *init, "--model.init_args.scheduler=null", steps=6)
    assert type(cli.trainer.optimizers[0]).__name__ == name
    history = losses(cli)
    assert len(history) == 6 and sum(history[-2:]) / 2 < history[0], history


def test_weight_decay_spares_biases_and_norm_params() -> None:
    cli = fit(
        "--model.init_args.weight_decay_exclude_norm_bias=true",
        "--model.init_args.net.init_args.batch_norm=true",
        "--model.init_args.net.init_args.hidden=[32,16]",
        steps=2,
    )
    decay, no_decay = cli.trainer.optimizers[0].param_groups
    assert decay["weight_decay"] == pytest.approx(1e-4) and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and len(decay["params"]) == 3  # the three Linear weights
    norms = [m for m in cli.model.modules() if isinstance(m, nn.BatchNorm1d)]
    spared = {id(p) for p in no_decay["params"]}
    assert all(id(m.weight) in spared and id(m.bias) in spared for m in norms) and len(norms) == 2


def test_weight_decay_spares_recurrent_biases() -> None:
    """nn.LSTM names its biases bias_ih_l0 / bias_hh_l0: they are biases too."""
    net = nn.Sequential(nn.LSTM(3, 4, num_layers=2, bidirectional=True), nn.Linear(8, 2))
    decay, no_decay = decay_and_no_decay(net)
    names = {id(p): name for name, p in net.named_parameters()}
    spared = [names[id(p)] for p in no_decay["params"]]
    assert len(spared) == 9 and all(".bias" in name for name in spared), spared  # 8 LSTM biases + the Linear's
    assert all(p.ndim == 2 for p in decay["params"]) and len(decay["params"]) == 9  # 8 LSTM weights + the Linear's


INITS = list(InitStrategy.__args__)
EXPECTED_ACTIVATION = {  # written out, not read from the code under test
    "relu": torch.nn.ReLU,
    "leaky_relu": torch.nn.LeakyReLU,
    "prelu": torch.nn.PReLU,
    "elu": torch.nn.ELU,
    "selu": torch.nn.SELU,
    "gelu": torch.nn.GELU,
    "silu": torch.nn.SiLU,
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
}


@pytest.mark.parametrize("activation", sorted(_ACTIVATIONS))
def test_activation_and_init_train_in_mlp_and_cnn(activation: str) -> None:
    """Each activation once, paired with each init strategy in turn, alternating MLP and CNN."""
    index = sorted(_ACTIVATIONS).index(activation)
    init, name = INITS[index % len(INITS)], ("mnist_mlp.yaml", "mnist_cnn.yaml")[index % 2]
    net = "--model.init_args.net.init_args."
    cli = fit(f"{net}activation={activation}", f"{net}init={init}", steps=3, name=name)
    assert any(isinstance(m, EXPECTED_ACTIVATION[activation]) for m in cli.model.net.modules())
    assert cli.trainer.global_step == 3 and all(math.isfinite(v) for v in losses(cli))


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_gradient_clipping_bounds_the_applied_gradients(algorithm: str) -> None:
    clip = 1e-3
    cli = fit(
        f"--trainer.gradient_clip_val={clip}",
        f"--trainer.gradient_clip_algorithm={algorithm}",
        "--trainer.callbacks+=blueprint.callbacks.GradNormMonitor",
        "--trainer.callbacks.every_n_steps=1",
        steps=2,
    )
    grads = [p.grad for p in cli.model.parameters() if p.grad is not None]  # the last step's gradients, after clipping
    if algorithm == "norm":
        assert torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])) <= clip * 1.001
    else:
        assert max(float(g.abs().max()) for g in grads) <= clip * 1.0001
    assert float(cli.trainer.callback_metrics["grad/norm_total"]) > clip  # logged before clipping


def test_gradient_norm_is_logged_at_every_nth_step() -> None:
    cli = fit(
        "--trainer.callbacks+=blueprint.callbacks.GradNormMonitor", "--trainer.callbacks.every_n_steps=3", steps=8
    )
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"scalars": 0}).Reload()
    logged = events.Scalars("grad/norm_total")
    assert [event.step for event in logged] == [0, 3, 6] and all(event.value > 0 for event in logged)


@pytest.mark.parametrize("fused", [True, False])
def test_gradient_norm_under_a_loss_scaler_is_the_unscaled_norm(fused: bool) -> None:
    """Under 16-mixed (GPU) a fused optimizer unscales inside its step, so the hook sees scaled gradients."""
    net = torch.nn.Linear(3, 1, bias=False)
    net.weight.grad = torch.tensor([[3.0, 4.0, 0.0]]) * (1024 if fused else 1)  # Lightning unscaled the unfused one
    optimizer = torch.optim.AdamW(net.parameters(), fused=fused)
    scaler = SimpleNamespace(get_scale=lambda: 1024.0)
    trainer = SimpleNamespace(
        global_step=0,
        precision_plugin=SimpleNamespace(scaler=scaler),
        callback_metrics={},
        is_global_zero=True,
        loggers=[],
    )
    GradNormMonitor(every_n_steps=1).on_before_optimizer_step(trainer, net, optimizer)  # type: ignore[arg-type]
    assert float(trainer.callback_metrics["grad/norm_total"]) == pytest.approx(5.0)


def test_fast_args_are_fast() -> None:
    """Guard for the helpers: a run made with them stops after the requested steps."""
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), *fast_args(2))
    assert cli.trainer.global_step == 2


@pytest.mark.parametrize("precision", ["bf16-true", "bf16-mixed"])
def test_every_precision_trains_with_model_summary_and_graph(precision: str) -> None:
    """The summary and graph run the net on example inputs outside a step; they must match the weights' dtype."""
    cli = fit(
        f"--trainer.precision={precision}",
        "--trainer.enable_model_summary=true",
        "--trainer.logger.init_args.log_graph=true",
        steps=2,
    )
    assert cli.trainer.global_step == 2 and all(math.isfinite(v) for v in losses(cli))


class ThreadsSeen(L.Callback):
    """Records torch's thread count while training runs."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def on_train_batch_start(self, *args: object) -> None:
        self.seen.add(torch.get_num_threads())


def test_cpu_threads_callback_sets_the_count_for_the_run_and_restores_it() -> None:
    before = torch.get_num_threads()
    threads = (
        '--trainer.callbacks+={"class_path": "blueprint.callbacks.threads.CPUThreads", "init_args": {"num_threads": 1}}'
    )
    cli = fit(threads, "--trainer.callbacks+=tests.test_training_switches.ThreadsSeen", steps=2)
    seen = next(c for c in cli.trainer.callbacks if isinstance(c, ThreadsSeen)).seen
    assert seen == {1} and before != 1 and torch.get_num_threads() == before

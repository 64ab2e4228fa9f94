"""Settings that make a CLI run take a few steps on a tiny net, and a callback that records every step's loss."""

import lightning as L

from tests.conftest import config

QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
TINY_NET = {
    "mnist_mlp.yaml": ["--model.init_args.net.init_args.hidden=[32]"],
    "mnist_cnn.yaml": ["--model.init_args.net.init_args.channels=[4]", "--model.init_args.net.init_args.hidden=16"],
    "tabular_mlp_binary.yaml": ["--model.init_args.net.init_args.hidden=[16]"],
    "tabular_mlp_regression.yaml": ["--model.init_args.net.init_args.hidden=[16]"],
}


def fast_args(steps: int = 4, name: str = "mnist_mlp.yaml") -> list[str]:
    """A few optimizer steps, one val/test batch, no graph tracing, no test pass."""
    return [
        f"--trainer.max_steps={steps}",
        "--trainer.limit_val_batches=1",
        "--trainer.limit_test_batches=1",
        "--trainer.logger.init_args.log_graph=false",
        "--test_after_fit=false",
        *QUIET,
        *TINY_NET[name],
    ]


def fit(*args: str, steps: int = 4, name: str = "mnist_mlp.yaml"):
    """`blueprint fit -c configs/<name> <args>` with fast settings and a LossHistory callback."""
    from tests.conftest import run_cli

    history = ["--trainer.callbacks+=tests.fast.LossHistory"]
    return run_cli("fit", "-c", config(name), *fast_args(steps, name), *history, *args)


class LossHistory(L.Callback):
    """Keeps the training loss of every optimizer step."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def losses(cli) -> list[float]:
    """The per-step training losses recorded by LossHistory in a run made with `fit`."""
    return next(c for c in cli.trainer.callbacks if isinstance(c, LossHistory)).losses

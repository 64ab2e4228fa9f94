"""configs/presets/compile.yaml: a compiled fit's checkpoint loads, predicts, resumes and exports without compiling."""

from pathlib import Path

import lightning as L
import pytest
import torch

from blueprint.export import command as export_command
from blueprint.tasks import ClassificationTask
from tests.conftest import CONFIGS, config, run_cli
from tests.fast import QUIET, TINY_NET, fast_args
from tests.scripts import load_script
from tests.serving import predicted

COMPILE = str(CONFIGS / "presets" / "compile.yaml")
KEEP = "--trainer.callbacks+=tests.serving.KeepPredictions"
PREDICT = ["--trainer.logger=false", "--data.init_args.eval_batch_size=32", "--trainer.limit_predict_batches=2", KEEP]


class ForwardCompiled(L.Callback):
    """Records whether the net's forward was the compiled one while predict ran."""

    def __init__(self) -> None:
        self.compiled: bool | None = None

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        self.compiled = "forward" in vars(pl_module.net)  # CompileNet shadows the class's forward while a loop runs


@pytest.fixture(scope="module")
def compiled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compiled mnist_cnn fit (tiny net, 6 steps over 2 epochs, test after fit on) and its last.ckpt; a constant
    learning rate, so that it can be resumed for more steps (a OneCycleLR cannot be stretched)."""
    root = tmp_path_factory.mktemp("compiled")
    cli = run_cli(
        "fit",
        "-c",
        config("mnist_cnn.yaml"),
        "-c",
        COMPILE,
        *fast_args(6, "mnist_cnn.yaml"),
        "--trainer.limit_train_batches=3",
        "--model.init_args.scheduler=null",
        "--test_after_fit=true",
        "--trainer.logger.init_args.log_graph=true",  # TensorBoard traces the net: before compiling, and in test
        f"--trainer.logger.init_args.save_dir={root}",
        f"--trainer.default_root_dir={root}",
    )
    assert "test/acc" in cli.trainer.callback_metrics
    return Path(cli.trainer.checkpoint_callback.last_model_path)


@pytest.mark.slow  # compiling takes 20-60 s on 2 CPU cores
def test_a_compiled_fit_checkpoint_predicts_the_same_without_compiling(compiled_run: Path) -> None:
    state = torch.load(compiled_run, weights_only=True)["state_dict"]
    assert not [key for key in state if "_orig_mod" in key]
    ClassificationTask.load_from_checkpoint(compiled_run, weights_only=True)  # strict: every key in place
    model = ["-c", config("mnist_cnn.yaml"), *TINY_NET["mnist_cnn.yaml"], *QUIET, f"--ckpt_path={compiled_run}"]
    probe = "--trainer.callbacks+=tests.test_compile.ForwardCompiled"
    compiled = run_cli("predict", *model, "-c", COMPILE, *PREDICT, probe)
    plain = run_cli("predict", *model, *PREDICT, probe)
    was_compiled = [next(c for c in cli.trainer.callbacks if isinstance(c, ForwardCompiled)).compiled
                    for cli in (compiled, plain)]  # fmt: skip
    assert was_compiled == [True, False]
    assert predicted(compiled).shape == (64, 10)
    assert torch.allclose(predicted(compiled), predicted(plain), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_a_compiled_fit_resumes_and_exports_without_compiling(compiled_run: Path, capsys) -> None:
    run_dir = compiled_run.parent.parent
    resumed = run_cli(
        "fit", "-c", config("mnist_cnn.yaml"), *fast_args(9, "mnist_cnn.yaml"), "--trainer.limit_train_batches=3",
        "--model.init_args.scheduler=null", f"--trainer.logger.init_args.save_dir={run_dir.parent.parent}",
        f"--ckpt_path={compiled_run}",
    )  # fmt: skip
    assert resumed.trainer.global_step == 9
    assert not any(type(c).__name__ == "CompileNet" for c in resumed.trainer.callbacks)
    diffs = export_command.main(["--ckpt_path", str(compiled_run), "--exporter", "torchscript", "--batch_size", "8"])
    assert max(diffs.values()) <= 1e-4


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["--epochs", "1"], "--epochs 1 leaves no epoch"), (["--configs", "configs/nope.yaml"], "configs/nope.yaml")],
)
def test_the_compile_benchmark_refuses_bad_arguments_in_one_line(argv: list[str], fragment: str, capsys) -> None:
    with pytest.raises(SystemExit) as refused:
        load_script("bench_compile").main(argv)
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and fragment in error and error.count("\n") == 1

"""Every mistake a user can make: one `error:` line naming the value, non-zero exit, earlier runs left untouched."""

import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli
from tests.reliability.helpers import finished_tiny_run, snapshot, tiny_args, versions

RUN = "logs/mnist_mlp/version_0"
LAST = f"{RUN}/checkpoints/last.ckpt"


def _truncated(root: Path) -> str:
    data = (root / LAST).read_bytes()
    (root / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    return "--ckpt_path=truncated.ckpt"


def _corrupt(root: Path) -> str:
    (root / "corrupt.ckpt").write_bytes(bytes(range(256)) * 64)
    return "--ckpt_path=corrupt.ckpt"


def _other_task(root: Path) -> str:
    checkpoint = torch.load(root / LAST, weights_only=True)
    checkpoint["hyper_parameters"]["_class_path"] = "blueprint.tasks.RegressionTask"
    torch.save(checkpoint, root / "regression.ckpt")
    return "--ckpt_path=regression.ckpt"


def _yaml_typo(root: Path) -> str:
    (root / "typo.yaml").write_text("trainer:\n  max_epochz: 2\n")
    return "--config=typo.yaml"


def _log_dir_under_a_file(root: Path) -> str:
    (root / "not_a_dir").write_text("a file where a folder should be\n")
    return "--trainer.logger.init_args.save_dir=not_a_dir/logs"


def _device_link(root: Path) -> str:
    (root / "device.ckpt").symlink_to("/dev/null")
    return "--ckpt_path=device.ckpt"


ONE_CYCLE = '{"class_path":"torch.optim.lr_scheduler.OneCycleLR","init_args":{"max_lr":0.01}}'

# name -> (extra CLI options, or a function of the run folder returning one; text the error line must contain)
CASES = {
    "config key typo (command line)": ("--trainer.max_epochz=3", "max_epochz"),
    "config key typo (yaml file)": (_yaml_typo, "max_epochz"),
    "wrong type": ("--trainer.max_epochs=three", "three"),
    "option abbreviation": ("--trainer.max_epoch=3", "max_epoch"),
    "missing checkpoint": ("--ckpt_path=nowhere.ckpt", "nowhere.ckpt"),
    "truncated checkpoint": (_truncated, "truncated.ckpt"),
    "corrupt checkpoint": (_corrupt, "corrupt.ckpt"),
    "checkpoint of a different model": (f"--ckpt_path={LAST}", "hidden=[32], but the config sets hidden=[64]"),
    "checkpoint of a different task": (_other_task, "RegressionTask"),
    "checkpoint url": ("--ckpt_path=https://example.com/model.ckpt", "https://example.com/model.ckpt"),
    "resume with no checkpoint": ("--trainer.logger.init_args.name=fresh --ckpt_path=last", "no checkpoint found"),
    "feature shape mismatch": ("--model.init_args.net.init_args.input_shape=[100]", "the data gives [1, 28, 28]"),
    "class count mismatch": ("--model.init_args.net.init_args.out_features=5", "the data gives 10"),
    "missing data directory": ("--data.init_args.source=torchvision --data.init_args.data_dir=nowhere", "nowhere"),
    "unwritable log directory": (_log_dir_under_a_file, "not_a_dir/logs"),
    "negative learning rate": ("--model.init_args.optimizer.init_args.lr=-0.1", "-0.1"),
    "dropout above range": ("--model.init_args.net.init_args.dropout=1.5", "1.5"),
    "dropout below range": ("--model.init_args.net.init_args.dropout=-0.1", "-0.1"),
    "label smoothing out of range": ("--model.init_args.label_smoothing=1.0", "label_smoothing"),
    "batch size zero": ("--data.init_args.batch_size=0", "batch_size"),
    "batch size larger than the training split": ("--data.init_args.batch_size=100000", "larger than the"),
    "seed beyond numpy's range": ("--seed_everything=99999999999", "seed_everything=99999999999"),
    "best checkpoint of no fit in this process": ("--ckpt_path=best", "names the best checkpoint of a fit"),
    "folder as checkpoint": ("--ckpt_path=logs", "is a folder"),
    "link to a device as checkpoint": (_device_link, "is not a regular file"),
    "fixed logger version that holds a run": ("--trainer.logger.init_args.version=0", "already holds a run"),
    "one-cycle schedule on an endless run": (
        f"--trainer.max_epochs=-1 --model.init_args.scheduler={ONE_CYCLE} --model.init_args.scheduler_interval=step",
        "max_epochs=-1 never ends",
    ),
    "GPU asked for on a machine without one": ("--trainer.accelerator=gpu", "this machine has no GPU"),
    "KLDiv averaged over classes": ("--model.init_args.loss=torch.nn.KLDivLoss", "batchmean"),
    "label smoothing for a loss given apart": (
        "--model.init_args.loss=torch.nn.CrossEntropyLoss --model.init_args.label_smoothing=0.1",
        "give the loss its own label_smoothing",
    ),
}


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (checkpoints, config, TensorBoard events) that no failed command may touch."""
    return finished_tiny_run(tmp_path_factory, "earlier")


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_clear_line_and_touches_nothing(
    case: str, earlier_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    if case == "GPU asked for on a machine without one" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    shutil.copytree(earlier_run / "logs", tmp_path / "logs")
    before = snapshot(tmp_path / "logs")
    extra, named = CASES[case]
    options = (extra(tmp_path) if callable(extra) else extra).split()
    if case == "checkpoint of a different model":
        options.append("--model.init_args.net.init_args.hidden=[64]")
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *tiny_args(*options))
    assert failed.value.code not in (0, None)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert named in errors[0], errors[0]
    assert snapshot(tmp_path / "logs") == before
    assert versions(tmp_path) == ["version_0"]


def test_test_subcommand_refuses_a_corrupt_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _corrupt(tmp_path)
    with pytest.raises(SystemExit) as failed:
        run_cli("test", *tiny_args("--ckpt_path=corrupt.ckpt"))
    assert failed.value.code == 2
    assert "corrupt.ckpt' is not a readable checkpoint" in capsys.readouterr().err

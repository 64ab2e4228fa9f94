"""Each guide in docs/ shows its example files verbatim and its command trains them through the real CLI."""

import re
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.cli.main import main
from examples.add_a_metric.metric import ConfidentErrorRate
from tests.conftest import REPO, run_cli

GUIDES = ["add_a_model", "add_a_dataset", "add_a_task", "add_a_metric", "log_to_tensorboard"]
FAST = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=1",
    "--trainer.limit_test_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--data.init_args.eval_batch_size=128",
]
# A file shown in a guide: a line "`examples/...`:" then a fenced block holding the whole file.
FILE_BLOCK = re.compile(r"^`(examples/[^`]+)`:\n+```[a-z]*\n(.*?)^```$", re.S | re.M)
RUN_COMMAND = re.compile(r"uv run blueprint fit -c (examples/\S+\.yaml)")


def guide_text(guide: str) -> str:
    return (REPO / "docs" / f"{guide}.md").read_text()


def train_guide_example(guide: str, *extra: str):
    """Run the guide's own `uv run blueprint fit -c ...` command, shortened to a few steps."""
    commands = RUN_COMMAND.findall(guide_text(guide))
    assert commands, f"docs/{guide}.md shows no `uv run blueprint fit -c examples/...` command"
    return run_cli("fit", "-c", str(REPO / commands[0]), *FAST, *extra)


def events(cli) -> EventAccumulator:
    """What the run wrote to TensorBoard (the callback_metrics hold only the test pass after fit)."""
    sizes = {"scalars": 0, "images": 0, "histograms": 0}
    return EventAccumulator(cli.trainer.logger.log_dir, size_guidance=sizes).Reload()


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_shows_its_example_files_verbatim(guide: str) -> None:
    shown = dict(FILE_BLOCK.findall(guide_text(guide)))
    example_files = {
        str(p.relative_to(REPO)) for p in (REPO / "examples" / guide).iterdir() if p.suffix in (".py", ".yaml")
    }
    assert set(shown) == example_files - {f"examples/{guide}/__init__.py"}
    for path, block in shown.items():
        assert block == (REPO / path).read_text(), f"docs/{guide}.md shows an outdated copy of {path}"


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_is_linked_from_readme(guide: str) -> None:
    assert f"(docs/{guide}.md)" in (REPO / "README.md").read_text()


def test_add_a_model_trains_the_new_net() -> None:
    from examples.add_a_model.net import TinyResNet

    cli = train_guide_example("add_a_model")
    assert isinstance(cli.model.net, TinyResNet)
    assert cli.trainer.global_step == 3
    assert torch.isfinite(cli.trainer.callback_metrics["test/loss"])


def test_add_a_dataset_trains_and_learns_the_moons() -> None:
    cli = train_guide_example("add_a_dataset", "--trainer.limit_train_batches=25", "--trainer.limit_val_batches=null")
    splits = cli.datamodule.splits
    assert {name: len(split[0]) for name, split in splits.items()} == {"train": 1600, "val": 200, "test": 200}
    assert cli.trainer.callback_metrics["test/acc"] >= 0.8  # one epoch on two moons is far above chance (0.5)


def test_add_a_dataset_regression_example_reports_and_serves_in_real_units() -> None:
    """Trained on standardized targets, the task reports in °C; the checkpoint says how serve scales a row."""
    cli = run_cli("fit", "-c", str(REPO / "examples/add_a_dataset/regression.yaml"), *FAST[:1], *FAST[4:])
    train_targets = cli.datamodule.splits["train"][1]
    assert cli.model.target_mean.item() == pytest.approx(float(train_targets.mean()))  # from target_stats
    assert cli.model.target_std.item() == pytest.approx(float(train_targets.std()))
    assert cli.trainer.callback_metrics["test/mae"] < 2.0  # °C; predicting the mean would be off by ~5
    inputs = cli.datamodule.state_dict()["serving_inputs"]
    assert inputs["kind"] == "table" and inputs["features"][-1] == "t-1" and len(inputs["mean"]) == 24


def test_add_a_task_regresses_one_number_per_image() -> None:
    cli = train_guide_example("add_a_task")
    assert {"train/mae", "val/mae", "val/r2", "test/mae", "test/r2"} <= set(events(cli).Tags()["scalars"])
    images = torch.randn(5, 1, 28, 28)
    assert cli.model.predict_step((images, torch.zeros(5)), 0).shape == (5,)


def test_add_a_task_refuses_a_net_with_several_outputs(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train_guide_example("add_a_task", "--model.init_args.net.init_args.out_features=10")
    assert exit_info.value.code == 2
    assert "out_features is 10 but the data gives 1" in capsys.readouterr().err


def test_confident_error_rate_counts_only_sure_mistakes() -> None:
    metric = ConfidentErrorRate(threshold=0.9)
    logits = torch.tensor([[10.0, 0.0], [10.0, 0.0], [0.1, 0.0], [0.0, 10.0]])
    targets = torch.tensor([1, 0, 1, 1])  # sure+wrong, sure+right, unsure+wrong, sure+right
    metric.update(logits[:2], targets[:2])
    metric.update(logits[2:], targets[2:])
    assert metric.compute().item() == pytest.approx(0.25)


def test_add_a_metric_logs_the_new_metric_per_stage() -> None:
    cli = train_guide_example("add_a_metric")
    logged = events(cli)
    for stage in ("val", "test"):  # training logs only loss and accuracy, for speed
        values = [event.value for event in logged.Scalars(f"{stage}/confident_error")]
        assert values and all(0.0 <= value <= 1.0 for value in values)
    assert "val/acc" in logged.Tags()["scalars"]  # the built-in metrics are still there


def test_log_to_tensorboard_writes_images_and_histograms() -> None:
    cli = train_guide_example("log_to_tensorboard")
    tags = events(cli).Tags()
    assert "val/inputs" in tags["images"]
    histograms = tags["histograms"]
    assert {f"weights/{name}" for name, _ in cli.model.named_parameters()} <= set(histograms)


def test_console_script_imports_modules_from_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    """`uv run blueprint fit -c examples/...` from the repository root can import examples/ (the guides rely on it)."""
    (tmp_path / "local_net.py").write_text("from blueprint.nets import MLP\n\n\nclass LocalNet(MLP):\n    pass\n")
    (tmp_path / "local.yaml").write_text(
        "model:\n  class_path: blueprint.tasks.ClassificationTask\n  init_args:\n"
        "    net:\n      class_path: local_net.LocalNet\n"
        "data:\n  class_path: blueprint.data.MNISTDataModule\n"
    )
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "local_net", raising=False)
    monkeypatch.setattr(sys, "argv", ["blueprint", "fit", "-c", "local.yaml", "--trainer.fast_dev_run=true"])
    main()
    assert "local_net" in sys.modules  # imported from the working directory, which was not on sys.path
    monkeypatch.delitem(sys.modules, "local_net")

"""Nothing hidden: the callbacks a run's Trainer holds are exactly those its saved config.yaml lists."""

from pathlib import Path

import pytest
import yaml
from lightning.pytorch.callbacks import ModelSummary, TQDMProgressBar
from lightning.pytorch.cli import SaveConfigCallback

from blueprint.checkpointing.model_checkpoint import ModelCheckpointSavingLast
from blueprint.cli.config_files import class_named
from tests.conftest import config, run_cli
from tests.fast import fast_args

# Added by Lightning itself: the summary (trainer.enable_model_summary) and LightningCLI's save_config_callback,
# which writes the config.yaml this test reads
LIGHTNING_AUTOMATIC = (ModelSummary, SaveConfigCallback)


def listed_classes(saved: dict) -> list[type]:
    """The callback classes a saved config names: trainer.callbacks, and the `checkpoint` section's ModelCheckpoint
    (blueprint's subclass that writes last.ckpt at every save point)."""
    classes = [ModelCheckpointSavingLast] if saved.get("checkpoint") else []
    for entry in saved["trainer"].get("callbacks") or []:
        classes.append(class_named(entry["class_path"]))
    return classes


@pytest.mark.parametrize("progress_bar", [True, False])
def test_the_trainer_holds_exactly_the_callbacks_its_config_lists(progress_bar: bool) -> None:
    args = fast_args(2, "mnist_cnn.yaml")
    if progress_bar:  # fast_args turns the bar off; the defaults' bar (a TQDMProgressBar) must then appear
        args.append("--trainer.enable_progress_bar=true")
    cli = run_cli("fit", "-c", config("mnist_cnn.yaml"), *args)
    saved = yaml.safe_load((Path(cli.trainer.log_dir) / "config.yaml").read_text())
    held = [type(c) for c in cli.trainer.callbacks if not isinstance(c, LIGHTNING_AUTOMATIC)]
    listed = listed_classes(saved)
    assert sorted(held, key=repr) == sorted(listed, key=repr)
    assert any(issubclass(cls, TQDMProgressBar) for cls in listed) == progress_bar
    names = {cls.__name__ for cls in listed}
    assert {"StopOnSignal", "StopOnNonFiniteLoss", "RNGStateCheckpoint", "RunStatus"} <= names
    assert saved["trainer"]["plugins"][0]["class_path"].endswith("AtomicCheckpointIO")


def test_a_callback_removed_from_the_list_is_gone_from_the_trainer(tmp_path: Path) -> None:
    """A list without `+` replaces the defaults' list: that is how a fork drops a callback it does not want."""
    own = tmp_path / "own.yaml"
    own.write_text("trainer:\n  callbacks:\n    - blueprint.callbacks.run_status.RunStatus\n")
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", str(own), *fast_args(2))
    held = {type(c).__name__ for c in cli.trainer.callbacks}
    assert "RunStatus" in held and "StopOnSignal" not in held and "StopOnNonFiniteLoss" not in held

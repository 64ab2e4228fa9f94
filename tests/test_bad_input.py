"""Mistakes a user can make get one clear error naming the value, a non-zero exit, and no overwritten logs."""

from pathlib import Path

import pytest

from tests.conftest import config, run_cli

CASES = {
    "unknown key": (["--trainer.max_epochz=3"], "max_epochz"),
    "abbreviated option": (["--trainer.max_epoch=3"], "max_epoch"),
    "wrong type": (["--trainer.max_epochs=three"], "three"),
    "unknown source": (["--data.init_args.source=cloud"], "cloud"),
    "unknown net option": (["--model.init_args.net.init_args.widthz=3"], "widthz"),
    "batch size zero": (["--data.init_args.batch_size=0"], "batch_size"),
    "bad dropout": (["--model.init_args.net.init_args.dropout=1.5"], "dropout"),
    "missing data dir": (["--data.init_args.source=torchvision", "--data.init_args.data_dir=nowhere"], "nowhere"),
    "class mismatch": (["--model.init_args.net.init_args.out_features=5"], "out_features is 5 but the data gives 10"),
    "feature mismatch": (["--model.init_args.net.init_args.input_shape=[100]"], "the data gives [1, 28, 28]"),
    "checkpoint monitor set by hand": (["--checkpoint.monitor=val/loss"], "checkpoint.monitor"),
    "val smaller than the classes": (["--data.init_args.val_size=5"], "data.val_size=5"),
    "val as large as the pool": (["--data.init_args.val_size=5000"], "data.val_size=5000 must be between"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_nonzero_naming_the_value(case: str, capsys: pytest.CaptureFixture) -> None:
    extra, named = CASES[case]
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "-c", config("mnist_mlp.yaml"), "--trainer.enable_progress_bar=false", *extra)
    assert exit_info.value.code not in (0, None)
    assert named in capsys.readouterr().err


def test_bad_input_does_not_touch_earlier_runs(tmp_path: Path) -> None:
    earlier = tmp_path / "logs" / "mnist_mlp" / "version_0"
    earlier.mkdir(parents=True)
    (earlier / "config.yaml").write_text("earlier run\n")
    with pytest.raises(SystemExit):
        run_cli("fit", "-c", config("mnist_mlp.yaml"), "--model.init_args.net.init_args.out_features=5")
    assert (earlier / "config.yaml").read_text() == "earlier run\n"
    assert sorted(p.name for p in (tmp_path / "logs" / "mnist_mlp").iterdir()) == ["version_0"]

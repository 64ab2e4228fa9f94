"""`~` and `${VAR}` in path options are expanded once, so a run's events, config and checkpoints share one folder."""

from pathlib import Path

import pytest

from tests.conftest import config, run_cli

FAST = ["--trainer.max_epochs", "1", "--test_after_fit", "false", "--trainer.enable_progress_bar", "false"]


def test_tilde_and_variables_in_save_dir_keep_the_run_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNS", "runs")
    args = ["fit", "-c", config("tabular_mlp_binary.yaml"), *FAST, "--trainer.logger.init_args.save_dir", "~/${RUNS}"]
    run_cli(*args)
    run = tmp_path / "home" / "runs" / "tabular_mlp_binary" / "version_0"
    assert (run / "config.yaml").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "~").exists()  # the working directory: no literal folder
    cli = run_cli(*args, "--ckpt_path", "last")  # `last` finds the run in the expanded folder and continues it
    assert cli.trainer.log_dir == str(run)


def test_an_unset_variable_is_refused_by_name(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("NO_SUCH_RUNS_DIR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(
            "fit",
            "-c",
            config("tabular_mlp_binary.yaml"),
            "--trainer.logger.init_args.save_dir",
            "${NO_SUCH_RUNS_DIR}/x",
        )
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: trainer.logger.init_args.save_dir='${NO_SUCH_RUNS_DIR}/x'")

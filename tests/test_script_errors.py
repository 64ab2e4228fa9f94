"""Commands, benchmarks/ and scripts/ answer a bad argument with one `error:` line, a non-zero exit, no traceback.

Most cases call a script's main(argv) in-process; one real run per script checks what a user's terminal gets (Lightning
logs straight to the real stderr, which capsys does not see). Those runs start together: each spends seconds importing
torch.
"""

import runpy
import subprocess
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import pytest
import torch
import yaml

from blueprint.cli.main import COMMANDS
from blueprint.export import command as export_command
from blueprint.sweeps import command as sweep_command
from tests.conftest import CONFIGS, REPO
from tests.scripts import BLUEPRINT, load_script, script_path

MLP = CONFIGS / "mnist_mlp.yaml"
LR = "--param=model.init_args.optimizer.init_args.lr="
TINY_TRIALS = ["--", "--trainer.max_epochs=1", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1"]


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    """Exactly one non-empty line, starting with `error:` and naming each fragment; no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def exit_code(main: Callable[[list[str]], object], argv: list[str]) -> object:
    """main's exit status: what it raised in SystemExit, or returned (rename.main returns its code)."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def assert_refused(main: Callable[[list[str]], object], argv: list[str], capsys, *fragments: str) -> None:
    assert exit_code(main, argv) == 2
    assert_one_error_line(capsys.readouterr().err, *fragments)


def make_run(folder: Path) -> Path:
    """A run folder as `fit` leaves it (config.yaml next to checkpoints/) holding checkpoints no export can use."""
    config = yaml.safe_load(MLP.read_text())
    checkpoints = folder / "checkpoints"
    checkpoints.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"model": config["model"], "data": config["data"]}))
    (checkpoints / "corrupt.ckpt").write_bytes(b"not a checkpoint")
    torch.save({"weights": torch.zeros(1)}, checkpoints / "foreign.ckpt")
    torch.save({"state_dict": {}, "note": Fraction(1, 2)}, checkpoints / "pickled.ckpt")
    torch.save({"state_dict": {"net.weight": torch.zeros(1)}}, checkpoints / "other_model.ckpt")
    return checkpoints


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen]]:
    """One real process per command or script, started together; a test waits for its own."""
    here = tmp_path_factory.mktemp("real_runs")
    checkpoints = make_run(here / "run")
    arguments = {
        # builds the model (Lightning would log 'GPU available' etc.) and then finds the checkpoint does not fit
        "export": ["--ckpt_path", str(checkpoints / "other_model.ckpt")],
        # builds a trial's Trainer, then the first trial is refused: the sweep stops there
        "sweep": ["-c", str(MLP), "--param=model.init_args.nope=uniform:0:1", "--trials=3", *TINY_TRIALS],
        "bench": ["--configs", str(CONFIGS / "tabular_mlp_regression.yaml"), "--out", str(here / "bench.md")],
        "rename": ["My-Project"],
    }
    runs = {
        name: subprocess.Popen(
            [*BLUEPRINT, name, *args] if name in COMMANDS else [sys.executable, str(script_path(name)), *args],
            cwd=here,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, args in arguments.items()
    }
    yield runs
    for run in runs.values():
        if run.poll() is None:
            run.kill()
        run.communicate()


def finished(run: subprocess.Popen) -> tuple[int, str]:
    _, stderr = run.communicate(timeout=600)
    return run.returncode, stderr.decode()


# blueprint export


@pytest.mark.slow  # three real subprocesses (~20 s of imports each); the in-process cases cover the same errors
def test_export_real_run_with_a_checkpoint_of_another_model(real_runs) -> None:
    code, stderr = finished(real_runs["export"])
    assert code == 2
    assert_one_error_line(stderr, "other_model.ckpt", "does not fit", "config.yaml")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        ([], ["--ckpt_path", "required"]),
        (["--ckpt_path", "run/checkpoints/corrupt.ckpt", "--batch_size", "0"], ["--batch_size", "'0'", ">= 1"]),
        (["--ckpt_path", "run/checkpoints/corrupt.ckpt", "--tol", "-1"], ["--tol", "'-1'", ">= 0"]),
        (["--ckpt_path", "run/checkpoints/corrupt.ckpt", "--exporter", "onnx"], ["--exporter", "dynamo"]),
        (["--ckpt_path", "run/checkpoints/corrupt.ckpt", "--out_dir", "run/config.yaml"], ["--out_dir", "is a file"]),
        (["--ckpt_path", "missing.ckpt"], ["missing.ckpt", "not a file"]),
        (["--ckpt_path", "run/checkpoints"], ["run/checkpoints", "not a file"]),
        (["--ckpt_path", "run/checkpoints/corrupt.ckpt"], ["corrupt.ckpt", "not a readable checkpoint"]),
        (["--ckpt_path", "run/checkpoints/foreign.ckpt"], ["foreign.ckpt", "no state_dict"]),
        (["--ckpt_path", "run/checkpoints/pickled.ckpt"], ["pickled.ckpt", "pickled Python objects"]),
    ],
)
def test_export_refuses_bad_arguments_and_checkpoints(argv: list[str], fragments: list[str], tmp_path, capsys) -> None:
    make_run(tmp_path / "run")
    assert_refused(export_command.main, argv, capsys, *fragments)


def test_export_refuses_configs_that_do_not_rebuild_the_run(tmp_path: Path, capsys) -> None:
    export = export_command.main
    checkpoints = make_run(tmp_path / "run")
    ckpt = ["--ckpt_path", str(checkpoints / "other_model.ckpt")]
    (tmp_path / "broken.yaml").write_text("model: [\n")
    (tmp_path / "no_model.yaml").write_text("data: {}\n")
    unknown_key = yaml.safe_load(MLP.read_text())
    unknown_key["model"]["init_args"]["nope"] = 1
    (tmp_path / "unknown_key.yaml").write_text(yaml.safe_dump(unknown_key))
    assert_refused(export, [*ckpt, "--config", "missing.yaml"], capsys, "missing.yaml", "not found", "--config")
    assert_refused(export, [*ckpt, "--config", "broken.yaml"], capsys, "broken.yaml", "not YAML")
    assert_refused(export, [*ckpt, "--config", "no_model.yaml"], capsys, "no_model.yaml", "no `model:`")
    assert_refused(export, [*ckpt, "--config", "unknown_key.yaml"], capsys, "unknown_key.yaml", "model.init_args.nope")


# blueprint sweep


@pytest.mark.slow  # three real subprocesses (~20 s of imports each); the in-process cases cover the same errors
def test_sweep_real_run_stops_at_the_first_trial_the_cli_refuses(real_runs) -> None:
    code, stderr = finished(real_runs["sweep"])
    assert code == 2
    assert_one_error_line(stderr, "first trial", "model.init_args.nope", "model.init_args.nope: no such option")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        ([LR + "uniform:0:1"], ["-c/--config", "required"]),
        (["-c", str(MLP), "--trials=0", LR + "uniform:0:1"], ["--trials", "'0'", ">= 1"]),
        (["-c", str(MLP), "--trials=many", LR + "uniform:0:1"], ["--trials", "'many'"]),
        (["-c", str(MLP)], ["at least one --param"]),
        (["-c", str(MLP), "--param=lr"], ["'lr'", "KEY=DIST:ARGS"]),
        (["-c", str(MLP), "--param=lr=normal:0:1"], ["normal", "loguniform, uniform, int, choice"]),
        (["-c", str(MLP), LR + "uniform:1:0"], ["LOW 1 is above HIGH 0", "swap"]),
        (["-c", str(MLP), LR + "loguniform:0:0.1"], ["loguniform", "LOW must be > 0"]),
        (["-c", str(MLP), LR + "uniform:0.1"], ["uniform:0.1", "LOW:HIGH"]),
        (["-c", str(MLP), LR + "int:1.5:4"], ["int:1.5:4", "whole numbers"]),
        (["-c", str(MLP), LR + "uniform:0:inf"], ["uniform:0:inf", "finite"]),
        (["-c", str(MLP), LR + "uniform:0:1", LR + "uniform:0:2"], ["lr is given 2 times"]),
        (["-c", str(MLP), LR + "uniform:0:1", "--best_config=."], ["--best_config .", "folder"]),
        (["-c", str(MLP), LR + "uniform:0:1", "--study_dir=taken.txt"], ["--study_dir taken.txt", "is a file"]),
        (["-c", "missing.yaml", LR + "uniform:0:1"], ["missing.yaml", "does not exist"]),
        (["-c", str(MLP), LR + "uniform:0:1", "--set=model.init_args.nope=1"], ["init_args.nope: no such option"]),
        (["-c", str(MLP), LR + "uniform:0:1", "--", "--trainer.nope=1"], ["--trainer.nope=1"]),
        (["-c", str(MLP), LR + "uniform:0:1", "--storage=nope://x"], ["--storage 'nope://x'", "cannot open"]),
        (["-c", str(MLP), LR + "uniform:0:1", "--storage=sqlite:///no/dir/s.db"], ["sqlite:///no/dir/s.db", "folder"]),
    ],
)
def test_sweep_refuses_bad_arguments_before_any_trial(argv: list[str], fragments: list[str], tmp_path, capsys) -> None:
    (tmp_path / "taken.txt").write_text("")
    assert_refused(sweep_command.main, argv, capsys, *fragments)
    assert not (tmp_path / "logs").exists()


def test_sweep_stops_after_the_first_refused_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """An unknown --param key would be refused in every trial: the sweep builds the CLI twice (probe, trial 0)."""
    sweep = sweep_command
    builds = []
    real = sweep.cli_main
    monkeypatch.setattr(sweep, "cli_main", lambda args, run=True: builds.append(args) or real(args, run=run))
    argv = ["-c", str(MLP), "--param=model.init_args.nope=uniform:0:1", "--trials=5", *TINY_TRIALS]
    assert_refused(sweep.main, argv, capsys, "first trial", "model.init_args.nope: no such option")
    assert len(builds) == 2


# benchmarks/bench.py and bench_report.py


@pytest.mark.slow  # three real subprocesses (~20 s of imports each); the in-process cases cover the same errors
def test_bench_real_run_with_a_task_its_plain_loops_cannot_train(real_runs) -> None:
    code, stderr = finished(real_runs["bench"])
    assert code == 2
    assert_one_error_line(stderr, "tabular_mlp_regression.yaml", "ClassificationTask and FramePredictionTask")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--epochs", "0"], ["--epochs", "'0'", ">= 1"]),
        (["--repeats", "-1"], ["--repeats", "'-1'"]),
        (["--threads", "1", "0"], ["--threads", "'0'"]),
        (["--limit_batches", "0"], ["--limit_batches", "'0'"]),
        (["--precision", "16-mixed"], ["--precision", "'16-mixed'", "bf16-mixed"]),
        (["--variants", "abx"], ["--variants 'abx'", "a, b, c, d"]),
        (["--variants", ""], ["--variants ''"]),
        (["--out", "."], ["--out .", "folder"]),
        (
            ["--configs", "missing.yaml", "also_missing.yaml"],
            ["none of --configs", "missing.yaml", "also_missing.yaml"],
        ),
        (["--configs", "configs/mnist_mlp.yaml:0"], ["mnist_mlp.yaml:0", "cap", "1 or more"]),
        (["--configs", "unknown_key.yaml"], ["unknown_key.yaml", "model.init_args.nope: no such option"]),
    ],
)
def test_bench_refuses_bad_arguments(argv: list[str], fragments: list[str], tmp_path: Path, capsys) -> None:
    unknown_key = yaml.safe_load(MLP.read_text())
    unknown_key["model"]["init_args"]["nope"] = 1
    (tmp_path / "unknown_key.yaml").write_text(yaml.safe_dump(unknown_key))
    argv = [str(tmp_path / a) if a.endswith(".yaml") else a for a in argv]  # bench reads relative paths from the repo
    assert_refused(load_script("bench").main, argv, capsys, *fragments)


def test_bench_refuses_fit_args_the_cli_refuses(tmp_path: Path, capsys) -> None:
    """(c) runs `blueprint fit` with --fit_args; its refusal is the line, and the thread count is restored."""
    argv = ["--configs", str(MLP), "--variants", "c", "--epochs", "1", "--repeats", "1", "--threads", "1"]
    argv += ["--limit_batches", "1", "--precision", "32-true", "--out", str(tmp_path / "b.md")]
    argv += ["--fit_args=--trainer.nope=1"]
    assert_refused(load_script("bench").main, argv, capsys, "--fit_args", "--trainer.nope=1")
    assert torch.get_num_threads() == 2  # conftest's


def test_bench_report_is_not_a_script() -> None:
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script_path("bench_report")), run_name="__main__")
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "\n" not in message and "benchmarks/bench.py" in message


# scripts/rename.py and slurm_ddp.sbatch


def test_rename_real_run_with_a_name_python_cannot_import(real_runs) -> None:
    code, stderr = finished(real_runs["rename"])
    assert code == 2
    assert_one_error_line(stderr, "'My-Project'", "not a valid Python identifier")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [([], ["NEW_NAME", "--drop"]), (["a", "b"], ["unrecognized", "b"]), (["--force", "a"], ["--force"])],
)
def test_rename_refuses_bad_arguments(argv: list[str], fragments: list[str], tmp_path: Path, capsys) -> None:
    rename = load_script("rename")
    assert_refused(lambda args: rename.main(args, root=tmp_path), argv, capsys, *fragments)  # never this repository


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [(["configs/missing.yaml"], ["configs/missing.yaml", "not found"]), (["a.yaml", "b.yaml"], ["one argument"])],
)
def test_slurm_script_refuses_bad_arguments(argv: list[str], fragments: list[str], tmp_path: Path) -> None:
    """Checked before srun starts any task; the job would otherwise fail on every node."""
    script = REPO / "scripts" / "slurm_ddp.sbatch"
    done = subprocess.run(["bash", str(script), *argv], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert_one_error_line(done.stderr, *fragments)

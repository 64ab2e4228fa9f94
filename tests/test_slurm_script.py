"""scripts/slurm_ddp.sbatch with fake srun/scontrol: a time-limit stop (exit 143) requeues; the restart resumes."""

import os
import subprocess
from pathlib import Path

import pytest

from blueprint.sweeps import command as sweep_command

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm_ddp.sbatch"


def fake_slurm_tools(tmp_path: Path, srun_exit: int) -> str:
    """srun and scontrol stand-ins that record their arguments; returns a PATH that finds them first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "srun").write_text(f'#!/bin/bash\necho "$@" > "{tmp_path}/srun.txt"\nexit {srun_exit}\n')
    (bin_dir / "scontrol").write_text(f'#!/bin/bash\necho "$@" > "{tmp_path}/scontrol.txt"\n')
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def run_script(tmp_path: Path, srun_exit: int, restarts: int) -> tuple[int, str, str]:
    """Returns the script's exit code, the arguments srun got and what scontrol was asked."""
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "mnist_cnn.yaml").write_text("")  # the script checks that its config exists
    env = {
        **os.environ,
        "PATH": fake_slurm_tools(tmp_path, srun_exit),
        "SLURM_JOB_ID": "42",
        "SLURM_RESTART_COUNT": str(restarts),
        "SLURM_NTASKS_PER_NODE": "4",
        "SLURM_NNODES": "2",
    }
    done = subprocess.run(["bash", str(SCRIPT), "configs/mnist_cnn.yaml"], env=env, cwd=tmp_path, check=False)
    scontrol = tmp_path / "scontrol.txt"
    return done.returncode, (tmp_path / "srun.txt").read_text(), scontrol.read_text() if scontrol.exists() else ""


def test_a_time_limit_stop_requeues_the_job(tmp_path: Path) -> None:
    code, srun_args, scontrol = run_script(tmp_path, srun_exit=143, restarts=0)
    assert code == 143 and scontrol.split() == ["requeue", "42"]
    assert "--ckpt_path" not in srun_args and "--trainer.num_nodes=2" in srun_args


@pytest.mark.parametrize("srun_exit", [0, 1])
def test_a_finished_or_failed_run_is_not_requeued_and_a_restart_resumes(tmp_path: Path, srun_exit: int) -> None:
    code, srun_args, scontrol = run_script(tmp_path, srun_exit=srun_exit, restarts=1)
    assert code == srun_exit and scontrol == ""
    assert srun_args.split()[-2:] == ["--ckpt_path", "last"]


SWEEP_SCRIPT = SCRIPT.with_name("slurm_sweep.sbatch")


def run_sweep_task(tmp_path: Path, task: int, srun_exit: int, *args: str) -> tuple[int, str, str, str]:
    """One array task of slurm_sweep.sbatch with fake srun/scontrol: exit code, srun's args, scontrol's, stderr."""
    env = {
        **os.environ,
        "PATH": fake_slurm_tools(tmp_path, srun_exit),
        "SLURM_JOB_ID": "77",
        "SLURM_ARRAY_TASK_ID": str(task),
    }
    done = subprocess.run(
        ["bash", str(SWEEP_SCRIPT), *args], env=env, cwd=tmp_path, check=False, capture_output=True, text=True
    )
    srun, scontrol = tmp_path / "srun.txt", tmp_path / "scontrol.txt"
    read = [p.read_text() if p.exists() else "" for p in (srun, scontrol)]
    return done.returncode, read[0], read[1], done.stderr


def test_every_array_task_joins_one_journal_study_with_its_own_seed_and_a_time_limit_stop_requeues(
    tmp_path: Path,
) -> None:
    sweep_args = ["--trials", "40", "-c", "configs/mnist_mlp.yaml", "--param", "x=uniform:0:1", "--", "--trainer.a=1"]
    code, srun_args, scontrol, _ = run_sweep_task(tmp_path, 3, 143, "logs/lr", *sweep_args)
    assert code == 143 and scontrol.split() == ["requeue", "77"]
    args = srun_args.split()
    assert args[:4] == ["uv", "run", "blueprint", "sweep"] and args[-len(sweep_args) :] == sweep_args
    assert "--storage logs/lr/study.log --study_name sweep" in srun_args and "--seed 3" in srun_args
    parsed = sweep_command.parse_args(args[4:])  # the options `blueprint sweep` really takes
    assert parsed.study_dir == Path("logs/lr") and parsed.best_config == Path("logs/lr/best.yaml")
    (tmp_path / "scontrol.txt").unlink()
    code, _, scontrol, _ = run_sweep_task(tmp_path, 4, 0, "logs/lr", *sweep_args)
    assert code == 0 and scontrol == ""  # a task that finished is not requeued


@pytest.mark.parametrize(
    ("args", "fragment"), [(["logs/lr"], "got 1 argument"), (["taken.txt", "-c", "a"], "is a file")]
)
def test_sweep_script_refuses_a_missing_or_file_study_folder(tmp_path: Path, args: list[str], fragment: str) -> None:
    (tmp_path / "taken.txt").write_text("")
    code, srun_args, _, stderr = run_sweep_task(tmp_path, 0, 0, *args)
    assert code == 2 and srun_args == "" and stderr.startswith("error: ") and fragment in stderr

"""scripts/slurm_ddp.sbatch with fake srun/scontrol: a time-limit stop (exit 143) requeues; the restart resumes."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm_ddp.sbatch"


def run_script(tmp_path: Path, srun_exit: int, restarts: int) -> tuple[int, str, str]:
    """Returns the script's exit code, the arguments srun got and what scontrol was asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "mnist_cnn.yaml").write_text("")  # the script checks that its config exists
    (bin_dir / "srun").write_text(f'#!/bin/bash\necho "$@" > "{tmp_path}/srun.txt"\nexit {srun_exit}\n')
    (bin_dir / "scontrol").write_text(f'#!/bin/bash\necho "$@" > "{tmp_path}/scontrol.txt"\n')
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
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

"""2-process CPU DDP runs stopped mid-epoch by SIGTERM and resumed with `--ckpt_path last` end bit-identical."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from blueprint.checkpointing.rng_state import RNGStateCheckpoint, capture_rng_state
from tests.conftest import REPO
from tests.reliability.ddp_resume_run import STOPS
from tests.reliability.helpers import assert_same_weights

LAST = "logs/mnist_mlp/version_0/checkpoints/last.ckpt"


def free_port() -> int:
    """A port nothing listens on now, for the ranks' rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_rank(root: Path, rank: int, port: int) -> subprocess.Popen:
    """One rank of tests/reliability/ddp_resume_run.py, with the environment torchrun gives each process."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": "2",
        "NODE_RANK": "0",
        "LOCAL_RANK": str(rank),
    }
    command = [sys.executable, "-m", "tests.reliability.ddp_resume_run", str(root)]
    with open(root / f"rank{rank}.log", "wb") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="gloo CPU processes are exercised on Linux")
def test_ddp_runs_stopped_mid_epoch_resume_to_the_same_weights(tmp_path: Path) -> None:
    """SIGTERM to every rank (SLURM, torchrun, Lightning's launcher) after step 7 or step 3; no per-step collective."""
    port = free_port()
    ranks = [start_rank(tmp_path, rank, port) for rank in (0, 1)]
    try:
        codes = [rank.wait(timeout=300) for rank in ranks]
    finally:
        for rank in ranks:
            if rank.poll() is None:  # a rank that hung (or timed out) must not outlive the test
                rank.kill()
                rank.wait()
    logs = "\n".join((tmp_path / f"rank{r}.log").read_text(errors="replace")[-3000:] for r in (0, 1))
    assert codes == [0, 0], logs
    for rank in (0, 1):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report["exit_codes"] == [0, 143, 0, 143, 0]  # each stop exits 143 on every rank, each resume ends
        assert report["stopped_at_step"] == [step for _, step in STOPS.values()]  # mid-epoch (5 steps an epoch)
        assert report["blueprint_collectives_in_steps"] == [0]  # the NaN check ran on steps 2, 4, ... without one

    uninterrupted = torch.load(tmp_path / "uninterrupted" / LAST, weights_only=True)
    for name in STOPS:
        resumed = torch.load(tmp_path / name / LAST, weights_only=True)
        assert resumed["global_step"] == uninterrupted["global_step"] == 10, name
        assert_same_weights(resumed["state_dict"], uninterrupted["state_dict"])
        rng = resumed["callbacks"]["RNGStateCheckpoint"]["ranks"]
        assert len(rng) == 2 and not torch.equal(rng[0]["torch"], rng[1]["torch"])  # each rank's own stream is kept


def seeded_state(seed: int) -> dict:
    """The RNG states right after seeding with `seed`."""
    torch.manual_seed(seed)
    return capture_rng_state()


def resume_with(state: dict) -> None:
    """What a resumed fit does with the checkpoint's RNG entry, in a 1-process trainer."""
    callback = RNGStateCheckpoint()
    callback.load_state_dict(state)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False)
    callback.on_train_start(trainer, L.LightningModule())


def test_a_checkpoint_from_another_number_of_processes_resumes_from_process_0_with_a_warning() -> None:
    two_ranks = {"ranks": [seeded_state(1), seeded_state(2)]}
    torch.manual_seed(1)
    expected = torch.rand(3)
    with pytest.warns(UserWarning, match="RNG states are for world size 2, this run's is 1: .* not an exact"):
        resume_with(two_ranks)
    assert torch.equal(torch.rand(3), expected)


def test_a_checkpoint_from_before_per_rank_states_still_resumes_its_rng(recwarn: pytest.WarningsRecorder) -> None:
    """Older checkpoints hold one state (rank 0's) instead of a list: a 1-process run restores it silently."""
    legacy = seeded_state(3)
    expected = torch.rand(3)
    torch.manual_seed(9)
    resume_with(legacy)
    assert torch.equal(torch.rand(3), expected)
    assert not [w for w in recwarn if "RNG" in str(w.message)]

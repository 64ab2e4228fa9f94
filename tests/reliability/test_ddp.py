"""Two CPU processes (DDP, gloo): disjoint shards every epoch, synced validation metrics equal to one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, REPO, run_cli
from tests.reliability.helpers import callback_option, tiny_args

TOLERANCE = 1e-5  # float32 sums reduced in a different order across ranks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="gloo CPU processes are exercised on Linux")
@pytest.mark.slow  # ~35 s; the default suite runs 2-process DDP in test_ddp_resume.py
def test_two_process_ddp_shards_data_and_syncs_metrics(tmp_path: Path) -> None:
    record = callback_option("RecordShards", out_dir=json.dumps(str(tmp_path)))
    ddp = ["-c", str(CONFIGS / "presets" / "ddp.yaml"), "--trainer.accelerator=cpu", "--trainer.devices=2"]
    cpu_only = ["--trainer.sync_batchnorm=false", "--model.init_args.net.init_args.batch_norm=false"]  # no CPU SyncBN
    odd_val = "--data.init_args.val_size=501"  # 251 + 250 across 2 ranks: no sample counted twice
    args = tiny_args(*ddp, *cpu_only, odd_val, "--data.init_args.augment_shift=0", record, epochs=2)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "blueprint.cli", "fit", *args], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["background"] for r in ranks] == [False, False]  # on disk before the save's barrier: any rank may read
    for epoch in ("0", "1"):
        shard0, shard1 = (r["seen"][epoch] for r in ranks)
        assert len(shard0) == len(shard1) == 5 * 32  # limit_train_batches x per-rank batch size
        assert set(shard0).isdisjoint(shard1)
    assert ranks[0]["seen"]["0"] != ranks[0]["seen"]["1"]  # a new shuffle each epoch
    assert ranks[0]["val"] == ranks[1]["val"]  # synced: every rank reports the global value

    last = tmp_path / "logs/mnist_mlp/version_0/checkpoints/last.ckpt"
    single = run_cli("validate", *tiny_args(*cpu_only, odd_val, f"--ckpt_path={last}", "--trainer.logger=false"))
    for name in ("val/acc", "val/loss"):
        assert abs(float(single.trainer.callback_metrics[name]) - ranks[0]["val"][name]) <= TOLERANCE, name


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="gloo CPU processes are exercised on Linux")
@pytest.mark.slow  # ~25 s: two processes start, one is killed in its second epoch
def test_a_rank_killed_mid_run_ends_the_other_in_one_line_that_says_how_to_resume(tmp_path: Path) -> None:
    kill = callback_option("KillRankAtStep", step=7, rank=1)  # in epoch 2 of 5 steps: epoch 1 was checkpointed
    ddp = ["-c", str(CONFIGS / "presets" / "ddp.yaml"), "--trainer.accelerator=cpu", "--trainer.devices=2"]
    cpu_only = ["--trainer.sync_batchnorm=false", "--model.init_args.net.init_args.batch_norm=false"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "blueprint.cli", "fit", *tiny_args(*ddp, *cpu_only, kill, epochs=3)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(errors) == 1 and "another process of this distributed run ended" in errors[0]
    assert "--ckpt_path last" in errors[0]
    assert (tmp_path / "logs/mnist_mlp/version_0/checkpoints/last.ckpt").is_file()

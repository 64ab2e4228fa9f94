"""Checkpoints are written to a temp file, verified, then renamed: a failed save never damages the previous file."""

import io
import os
import time
from concurrent import futures
from pathlib import Path

import pytest
import torch

from blueprint.checkpointing import atomic_io as checkpoint_io_module
from blueprint.checkpointing.atomic_io import AtomicCheckpointIO
from tests.conftest import run_cli
from tests.reliability.helpers import tiny_args

CHECKPOINT = {"state_dict": {"w": torch.ones(3)}, "epoch": 1}


def test_save_writes_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "ckpts" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(CHECKPOINT, target)
    assert torch.equal(torch.load(target, weights_only=True)["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]


def test_a_save_that_fails_midway_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(CHECKPOINT, target)
    before = target.read_bytes()

    def crash_midway(obj: object, file: io.BufferedWriter) -> None:
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_save_that_did_not_land_is_reported(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "replace", lambda src, dst: None)  # the rename silently does nothing
    with pytest.raises(OSError, match="was not written"):
        AtomicCheckpointIO().save_checkpoint(CHECKPOINT, tmp_path / "last.ckpt")


def test_a_checkpoint_that_does_not_load_safely_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pickled Python objects"):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {}, "bad": Path("x")}, tmp_path / "last.ckpt")
    assert not list(tmp_path.iterdir())


def test_cli_runs_use_atomic_checkpoints() -> None:
    cli = run_cli("fit", *tiny_args(epochs=1))
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert cli.trainer.strategy.checkpoint_io.background  # writes overlap training; fit's teardown waited for them
    assert Path(cli.trainer.checkpoint_callback.last_model_path).is_file()


def test_only_the_first_save_of_a_run_is_reloaded(tmp_path: Path, monkeypatch) -> None:
    checkpoint_io = AtomicCheckpointIO()
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: loads.append(args) or real_load(*args, **kwargs))
    for epoch in range(3):
        checkpoint_io.save_checkpoint({**CHECKPOINT, "epoch": epoch}, tmp_path / "last.ckpt")
    assert len(loads) == 1
    assert real_load(tmp_path / "last.ckpt", weights_only=True)["epoch"] == 2


def test_background_save_is_a_snapshot_written_in_order(tmp_path: Path) -> None:
    checkpoint_io = AtomicCheckpointIO(background=True)
    weights = torch.ones(3)
    checkpoint_io.save_checkpoint({"state_dict": {"w": weights}, "epoch": 1}, tmp_path / "last.ckpt")
    weights.add_(1)  # training goes on while the file is written
    checkpoint_io.save_checkpoint({"state_dict": {"w": weights}, "epoch": 2}, tmp_path / "best.ckpt")
    checkpoint_io.remove_checkpoint(tmp_path / "best.ckpt")  # queued behind the write of best.ckpt
    checkpoint_io.teardown()
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["epoch"] == 1 and torch.equal(saved["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_failed_background_write_is_reported_at_the_next_save_or_at_teardown(tmp_path: Path, monkeypatch) -> None:
    checkpoint_io = AtomicCheckpointIO(background=True)
    monkeypatch.setattr(os, "replace", lambda src, dst: None)  # the rename silently does nothing
    checkpoint_io.save_checkpoint(CHECKPOINT, tmp_path / "last.ckpt")
    with pytest.raises(OSError, match="was not written"):
        checkpoint_io.teardown()
    checkpoint_io.save_checkpoint(CHECKPOINT, tmp_path / "last.ckpt")
    futures.wait(checkpoint_io._pending)  # the second write has failed in the background by now
    with pytest.raises(OSError, match="was not written"):
        checkpoint_io.save_checkpoint(CHECKPOINT, tmp_path / "other.ckpt")
    monkeypatch.undo()
    checkpoint_io.teardown()


def test_a_background_checkpoint_that_does_not_load_safely_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pickled Python objects"):
        AtomicCheckpointIO(background=True).save_checkpoint({"state_dict": {}, "bad": Path("x")}, tmp_path / "a.ckpt")
    assert not list(tmp_path.iterdir())


def test_a_read_waits_for_the_queued_write_of_that_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """Lightning's LR finder saves, searches and restores in one process; the restore must see the saved file."""
    slow_write = checkpoint_io_module.write_atomically

    def write_later(*args, **kwargs) -> None:
        time.sleep(0.3)
        slow_write(*args, **kwargs)

    monkeypatch.setattr(checkpoint_io_module, "write_atomically", write_later)
    checkpoint_io = AtomicCheckpointIO(background=True)
    checkpoint_io.save_checkpoint(CHECKPOINT, tmp_path / "lr_find.ckpt")
    assert torch.equal(checkpoint_io.load_checkpoint(tmp_path / "lr_find.ckpt")["state_dict"]["w"], torch.ones(3))
    checkpoint_io.teardown()

"""A disk that fills up mid-run: the checkpoints already written stay, and the run stops with one `error:` line."""

import errno
import io
import os
from pathlib import Path

import pytest
import torch

from blueprint.checkpointing.atomic_io import AtomicCheckpointIO
from blueprint.errors import TrainingStopped
from tests.conftest import run_cli
from tests.reliability.helpers import snapshot, tiny_args

CHECKPOINTS = "logs/mnist_mlp/version_0/checkpoints"
CHECKPOINT = {"state_dict": {"w": torch.ones(3)}, "epoch": 1}


def fill_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every checkpoint write from now on fails as on a full disk (ENOSPC); other files are written as usual."""
    real_replace = os.replace

    def replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
        if str(dst).endswith(".ckpt"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_a_failed_background_write_never_removes_the_file_it_was_to_replace(tmp_path: Path, monkeypatch) -> None:
    checkpoint_io = AtomicCheckpointIO(background=True)
    checkpoint_io.save_checkpoint(CHECKPOINT, tmp_path / "best-epoch=00.ckpt")
    checkpoint_io.wait()
    fill_the_disk(monkeypatch)
    checkpoint_io.save_checkpoint(CHECKPOINT, tmp_path / "best-epoch=01.ckpt")
    checkpoint_io.remove_checkpoint(tmp_path / "best-epoch=00.ckpt")  # what ModelCheckpoint queues after a new best
    with pytest.raises(TrainingStopped, match="bytes free"):
        checkpoint_io.teardown()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-epoch=00.ckpt"]


def test_a_full_disk_during_a_synchronous_save_is_named_too(tmp_path: Path, monkeypatch) -> None:
    """torch.save reports ENOSPC as a RuntimeError raised while handling it (seen on a full tmpfs, torch 2.15)."""
    real_save = torch.save

    def save_on_a_full_disk(obj: object, file: object) -> None:
        if not isinstance(file, io.BufferedWriter):  # the verifying reload of an in-memory copy
            return real_save(obj, file)
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:671] . unexpected pos 704 vs 598")  # noqa: B904

    monkeypatch.setattr(torch, "save", save_on_a_full_disk)
    with pytest.raises(TrainingStopped, match=r"no space left to write checkpoint last.ckpt in .* bytes free"):
        AtomicCheckpointIO().save_checkpoint(CHECKPOINT, tmp_path / "last.ckpt")
    assert not list(tmp_path.iterdir())


def test_a_full_disk_keeps_the_best_checkpoint_and_stops_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    run_cli("fit", *tiny_args(epochs=1))
    before = snapshot(tmp_path / CHECKPOINTS)
    assert sorted(p.name for p in before) == ["best-epoch=00.ckpt", "last.ckpt"]
    capsys.readouterr()
    fill_the_disk(monkeypatch)
    with pytest.raises(SystemExit) as stopped:
        run_cli("fit", *tiny_args("--ckpt_path=last", epochs=3))  # epoch 1 is a new best: its write fails
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-3000:]
    assert CHECKPOINTS in errors[0] and "bytes free" in errors[0], errors[0]
    assert snapshot(tmp_path / CHECKPOINTS) == before  # no checkpoint removed or changed, no temp file left


def test_a_full_disk_while_writing_the_resumed_runs_config_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """The checkpoints survive; the run says what failed and how to go on, in one line and exit 1."""
    run_cli("fit", *tiny_args(epochs=1))
    before = snapshot(tmp_path / CHECKPOINTS)

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("blueprint.cli.save_config.write_linked_values", no_space)
    with pytest.raises(SystemExit) as stopped:
        run_cli("fit", *tiny_args("--ckpt_path=last", epochs=2))
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert stopped.value.code == 1 and "Traceback" not in err and len(errors) == 1, err[-3000:]
    assert "No space left on device" in errors[0] and "run the same command again" in errors[0]
    assert snapshot(tmp_path / CHECKPOINTS) == before

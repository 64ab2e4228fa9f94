"""Streaming from a LitData folder written by `blueprint stream`: exact resume after a SIGTERM mid-epoch, one clear
line for a folder that is missing, empty, not LitData's, damaged, or holds samples the net cannot take; and a write
that is refused, interrupted or fails exits non-zero and leaves nothing that blocks running it again."""

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from blueprint.errors import UserError
from blueprint.streaming import StreamingDataModule
from blueprint.streaming import command as stream_command
from blueprint.streaming import writer as stream_writer
from tests.conftest import CONFIGS, config, run_cli
from tests.reliability.helpers import assert_same_weights, callback_option, error_line, snapshot, tiny_args, weights
from tests.scripts import BLUEPRINT

PRESET = str(CONFIGS / "presets" / "streaming.yaml")


SIGINT_HANDLER_BEFORE: dict[str, object] = {}


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded MNIST as mnist_mlp loads it, written by the command (about 1 s)."""
    out = tmp_path_factory.mktemp("stream") / "mnist"
    SIGINT_HANDLER_BEFORE["handler"] = signal.getsignal(signal.SIGINT)
    stream_command.main(["-c", config("mnist_mlp.yaml"), "--out_dir", str(out)])
    return out


def streaming_args(stream: Path, *extra: str, epochs: int = 2) -> list[str]:
    """The tiny mnist_mlp run (5 batches an epoch, dropout and augmentation on) switched to the stream by the preset."""
    return tiny_args("-c", PRESET, f"--data.init_args.root={stream}", "--data.init_args.batch_size=32", *extra,
                     epochs=epochs)  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(stream: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("reference"))
    try:
        return weights(run_cli("fit", *streaming_args(stream)).model)
    finally:
        os.chdir(here)


def test_the_command_writes_every_split_with_its_shapes(stream: Path) -> None:
    info = json.loads((stream / "stream.json").read_text())
    assert info["num_samples"] == {"train": 3500, "val": 500, "test": 1000}
    assert info["input_shape"] == [1, 28, 28] and info["num_classes"] == 10
    assert info["augment"]["padding"] == 1  # mnist_mlp's augment_shift travels with the data
    assert all((stream / split / "index.json").is_file() for split in ("train", "val", "test"))
    # litdata.optimize installs a SIGINT handler that exits with status 0: a later Ctrl+C must still stop runs cleanly
    assert signal.getsignal(signal.SIGINT) is SIGINT_HANDLER_BEFORE["handler"]


def test_resume_after_sigterm_mid_epoch_gives_the_same_weights(stream: Path, uninterrupted: dict) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_cli("fit", *streaming_args(stream, callback_option("SignalAtStep", step=7, signum=int(signal.SIGTERM))))
    assert stopped.value.code == 143
    resumed = run_cli("fit", *streaming_args(stream, "--ckpt_path=last"))
    assert resumed.trainer.global_step == 10
    assert_same_weights(weights(resumed.model), uninterrupted)


def not_litdata(root: Path) -> str:
    (root / "notes.txt").write_text("not chunks")
    return str(root)


BAD_FOLDERS = {
    "missing": (lambda root: str(root / "nowhere"), "does not exist"),
    "empty": (lambda root: str(root), "is empty"),
    "not LitData's": (not_litdata, "is not a LitData stream folder"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_a_bad_stream_folder_names_itself_and_the_command_that_writes_one(case: str, tmp_path: Path) -> None:
    make, named = BAD_FOLDERS[case]
    root = make(tmp_path)
    with pytest.raises(UserError, match=named) as refused:
        StreamingDataModule(root=root)
    assert root in str(refused.value) and "blueprint stream" in str(refused.value)


def test_samples_the_net_cannot_take_are_one_line_before_any_log_is_written(
    stream: Path, tmp_path: Path, capsys
) -> None:
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *streaming_args(stream, "--model.init_args.net.init_args.input_shape=[100]"))
    assert failed.value.code == 2
    assert "input_shape is [100] but the data gives [1, 28, 28]" in error_line(capsys)
    assert not (tmp_path / "logs").exists()


def test_the_command_never_writes_into_an_existing_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = snapshot(out)
    with pytest.raises(SystemExit) as failed:
        stream_command.main(["-c", config("mnist_mlp.yaml"), "--out_dir", str(out)])
    assert failed.value.code == 2
    assert str(out) in error_line(capsys)
    assert snapshot(out) == before


def truncate_chunk(root: Path) -> Path:
    chunk = next((root / "train").glob("chunk-*.bin"))
    chunk.write_bytes(chunk.read_bytes()[:1000])
    return chunk


def delete_chunk(root: Path) -> Path:
    chunk = next((root / "val").glob("chunk-*.bin"))
    chunk.unlink()
    return chunk


def garble_index(root: Path) -> Path:
    index = root / "test" / "index.json"
    index.write_text('{"chunks": [')
    return index


def drop_chunks_from_index(root: Path) -> Path:
    index = root / "train" / "index.json"
    index.write_text(json.dumps({"config": {}}))
    return index


# each damage -> the file the refusal must name
DAMAGED = {
    "truncated chunk": truncate_chunk,
    "deleted chunk": delete_chunk,
    "garbled index.json": garble_index,
    "index.json without chunks": drop_chunks_from_index,
}


def copy_of(stream: Path, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(stream, root)
    return root


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_stream_names_the_file_and_the_command_that_writes_it_again(
    case: str, stream: Path, tmp_path: Path
) -> None:
    root = copy_of(stream, tmp_path)
    damaged = DAMAGED[case](root)
    with pytest.raises(UserError) as refused:
        StreamingDataModule(root=str(root))
    message = str(refused.value)
    assert str(damaged) in message and "blueprint stream" in message and "\n" not in message


def test_fit_on_a_damaged_stream_is_one_line_before_any_run_folder(stream: Path, tmp_path: Path, capsys) -> None:
    root = copy_of(stream, tmp_path)
    damaged = garble_index(root)
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *streaming_args(root))
    assert failed.value.code == 2
    assert str(damaged) in error_line(capsys)
    assert not (tmp_path / "logs").exists()


def test_a_stream_json_that_disagrees_with_its_samples_blames_the_folder_not_the_net(
    stream: Path, tmp_path: Path, capsys
) -> None:
    root = copy_of(stream, tmp_path)
    info = json.loads((root / "stream.json").read_text())
    info["input_shape"] = info["stored_shape"] = [3, 32, 32]
    (root / "stream.json").write_text(json.dumps(info))
    with pytest.raises(SystemExit) as failed:
        run_cli("fit", *streaming_args(root))
    assert failed.value.code == 2
    line = error_line(capsys)
    assert "stream.json" in line and "blueprint stream" in line and "input_shape" not in line, line
    assert not (tmp_path / "logs").exists()


def test_a_bad_chunk_size_is_refused_before_the_data_is_loaded(tmp_path: Path, monkeypatch, capsys) -> None:
    def never(*args: object) -> None:
        raise AssertionError("the data was loaded before --chunk_bytes was checked")

    monkeypatch.setattr(stream_command, "experiment_data", never)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as failed:
        stream_command.main(["-c", config("mnist_mlp.yaml"), "--out_dir", str(out), "--chunk_bytes", "abc"])
    assert failed.value.code == 2
    assert "--chunk_bytes" in error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def wait_for(condition, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the writer never started writing"
        time.sleep(0.05)


@pytest.mark.slow  # a real writer process interrupted, then the same command writing the whole stream (~35 s)
def test_ctrl_c_while_writing_exits_130_and_the_same_command_then_succeeds(tmp_path: Path) -> None:
    out = tmp_path / "moving"
    command = [*BLUEPRINT, "stream", "-c", config("moving_mnist_lstm.yaml"), "--train_sequences", "3000",
               "--out_dir", str(out)]  # fmt: skip
    writer = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(tmp_path.rglob("train")), writer, seconds=300)
    writer.send_signal(signal.SIGINT)
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 130, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("error:") and "Traceback" not in err, err[-3000:]
    assert not out.exists() or not any(out.iterdir())
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["moving"] if out.exists() else [])
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "stream.json").read_text())["num_samples"]["train"] == 3000


def test_a_full_disk_while_writing_is_one_line_exit_1_and_leaves_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    def fill_the_disk(parts: list, out: Path, *args: object) -> None:
        out.mkdir(parents=True)
        (out / "chunk-0-0.bin").write_bytes(b"half")
        if out.name == "val":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(stream_writer, "write_split", fill_the_disk)
    out = tmp_path / "out" / "mnist"
    with pytest.raises(SystemExit) as failed:
        stream_command.main(["-c", config("mnist_mlp.yaml"), "--out_dir", str(out)])
    assert failed.value.code == 1
    assert "No space left on device" in error_line(capsys)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(("text", "value"), [("64MB", "64MB"), ("1gb", "1gb"), ("1.5GB", "1.5GB"), ("100", 100)])
def test_chunk_sizes_litdata_accepts_pass_the_check(text: str, value: int | str) -> None:
    assert stream_writer.parse_chunk_bytes(text) == value


@pytest.mark.parametrize("text", ["abc", "0", "-5", "MB", "64XB", "0MB"])
def test_chunk_sizes_litdata_refuses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a chunk size"):
        stream_writer.parse_chunk_bytes(text)

"""`blueprint serve` (`blueprint serve`) over real HTTP: answers equal `blueprint predict`; bad input is a one-line 4xx.

One server process per checkpoint kind, and one test per server: each takes seconds to start (its worker imports
torch and Lightning), and pytest-xdist would start a module's fixture once per worker. The checkpoints come from a few
training steps of tiny nets; the table and frame servers' tests are slow-marked, their decoders tested here alone.
"""

import asyncio
import base64
import csv
import io
import json
import multiprocessing
import signal
import socket
import struct
import threading
import time
import urllib.error
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Queue
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from blueprint.data.mnist import MEAN, STD
from blueprint.errors import UserError
from blueprint.serving import command as serve_command
from blueprint.serving.api import CheckpointAPI
from blueprint.serving.batching import QueuedBatchLoop
from blueprint.serving.checkpoint import load_served_model
from blueprint.serving.queues import AnswerPipes
from blueprint.serving.requests import BadRequest, decode
from tests.conftest import config, run_cli
from tests.fast import QUIET, TINY_NET, fast_args
from tests.scripts import load_script
from tests.serving import free_port, live_processes, predicted, session_cpu_seconds, started

KEEP = "--trainer.callbacks+=tests.serving.KeepPredictions"
MNIST = ["-c", config("mnist_cnn.yaml"), *TINY_NET["mnist_cnn.yaml"], *QUIET]


def one_line(detail: Any, *fragments: str) -> None:
    assert isinstance(detail, str) and "\n" not in detail, detail
    for fragment in fragments:
        assert fragment in detail, detail


def png(pixels: torch.Tensor) -> str:
    """A (28, 28) uint8 digit as a base64 PNG, as a client would upload a file."""
    buffer = io.BytesIO()
    Image.fromarray(pixels.numpy(), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def png_header(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims `width` x `height` pixels: a decompression bomb to PIL, a few bytes to send."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR: signature (8), length (4), b"IHDR" (4), width, height
    data[29:33] = struct.pack(">I", zlib.crc32(data[12:29]))  # the chunk's CRC covers its type and data
    return bytes(data)


@pytest.fixture(scope="module")
def mnist_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-step mnist_cnn checkpoint."""
    root = tmp_path_factory.mktemp("serve_mnist")
    fit = run_cli(
        "fit",
        "-c",
        config("mnist_cnn.yaml"),
        *fast_args(3, "mnist_cnn.yaml"),
        f"--trainer.default_root_dir={root}",
        f"--trainer.logger.init_args.save_dir={root}",
    )
    return Path(fit.trainer.checkpoint_callback.last_model_path)


@pytest.fixture(scope="module")
def mnist(mnist_ckpt: Path, tmp_path_factory: pytest.TempPathFactory):
    """The mnist_cnn checkpoint's server (batches of up to 8, a 50 KB body limit) and predict's answers."""
    ckpt, root = mnist_ckpt, tmp_path_factory.mktemp("serve_mnist_predict")
    options = ["--max_batch_size=8", "--batch_timeout=0.05", "--max_payload_mb=0.05"]
    with started(ckpt, *options, log=root / "server.log") as server:
        predict = run_cli(
            "predict", *MNIST, f"--ckpt_path={ckpt}", "--trainer.logger=false", f"--trainer.default_root_dir={root}",
            "--data.init_args.eval_batch_size=16", "--trainer.limit_predict_batches=1", KEEP,
        )  # fmt: skip
        normalized = predict.datamodule.splits["test"][0][:16, 0]
        with (root / "predictions.csv").open() as file:
            labels = [line["label"] for line in csv.DictReader(file)]
        yield SimpleNamespace(
            client=server.ready(),
            pixels=((normalized * STD + MEAN) * 255).round().to(torch.uint8),  # the digits predict read, as 0-255
            probabilities=predicted(predict),
            labels=labels,
            ckpt=ckpt,
            pid=server.process.pid,
            log=server.log,
        )


def test_mnist_server_answers_as_predict_and_refuses_bad_input_in_one_line(mnist) -> None:
    """One test for every check on this server: a server takes seconds to start, and pytest-xdist would start one
    per worker that runs a test of it."""
    assert mnist.client.send("/health")[:2] == (200, "ok")
    the_main_process_holds_no_model_and_an_idle_server_uses_no_cpu(mnist)
    status, info, _ = mnist.client.send("/info")
    assert status == 200
    assert info["model"] == {"task": "ClassificationTask", "kind": "image", "shape": [1, 28, 28],
                             "classes": [str(k) for k in range(10)]}  # fmt: skip
    answers_equal_predict_for_pngs_and_pixel_lists_sent_together(mnist)
    for case in BAD_IMAGE_REQUESTS:
        bad_input_is_one_line_4xx_and_the_server_keeps_serving(mnist, case)
    a_bad_request_does_not_fail_the_batch_it_joins(mnist)
    assert "Warning" not in mnist.log.read_text()  # e.g. torch's about the read-only pixels PIL gives


def the_main_process_holds_no_model_and_an_idle_server_uses_no_cpu(mnist) -> None:
    """The checkpoint was checked in a child process, now ended: the main process never imported torch. And no
    process polls: LitServe's own batching loop asks its queue for requests every millisecond, ~0.4 s of CPU here."""
    assert "libtorch" not in Path(f"/proc/{mnist.pid}/maps").read_text()
    before = session_cpu_seconds(mnist.pid)
    time.sleep(3)
    assert session_cpu_seconds(mnist.pid) - before < 0.1


def answers_equal_predict_for_pngs_and_pixel_lists_sent_together(mnist) -> None:
    """16 requests at once: half PNG files, half pixel lists; LitServe batches them (X-Batch-Size says how)."""
    bodies = [{"image": png(p) if i % 2 else p.tolist()} for i, p in enumerate(mnist.pixels)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(mnist.client.predict, bodies))
    assert [status for status, _, _ in answers] == [200] * 16
    assert [answer["label"] for _, answer, _ in answers] == mnist.labels
    for (_, answer, _), expected in zip(answers, mnist.probabilities, strict=True):
        assert list(answer["probabilities"]) == [str(k) for k in range(10)]
        assert np.abs(np.array(list(answer["probabilities"].values())) - expected.numpy()).max() <= 1e-5
    assert max(int(headers["X-Batch-Size"]) for _, _, headers in answers) > 1


DIGIT = [[0] * 28] * 28
BAD_IMAGE_REQUESTS = {
    "malformed JSON": (b'{"image": [[0, 1', "application/json", 400, "not a JSON object (Expecting"),
    "not sent as JSON": (b"image=1", "application/x-www-form-urlencoded", 400, "Content-Type: application/json"),
    "a list, not an object": (b"[1, 2]", "application/json", 400, "not a JSON object"),
    "unknown key": (json.dumps({"picture": DIGIT}).encode(), "application/json", 400, "unknown key 'picture'"),
    "wrong shape": (json.dumps({"image": [[0] * 27] * 28}).encode(), "application/json", 400, "shape [28, 27]"),
    "non-finite": (b'{"image": [[NaN, 1], [2, 3]]}', "application/json", 400, "non-finite number (nan)"),
    "out of range": (json.dumps({"image": [[300] * 28] * 28}).encode(), "application/json", 400, "[0, 255]"),
    "ragged": (json.dumps({"image": [[0] * 28, [0]]}).encode(), "application/json", 400, "not a rectangular"),
    "not base64": (b'{"image": "%%%"}', "application/json", 400, "not base64"),
    "not an image": (
        json.dumps({"image": base64.b64encode(b"hello").decode()}).encode(),
        "application/json",
        400,
        "not a PNG or JPEG",
    ),  # fmt: skip
    "a PNG of the wrong size": (
        json.dumps({"image": png(torch.zeros(8, 9, dtype=torch.uint8))}).encode(),
        "application/json",
        400,
        "image is 9x8 pixels; this model takes 28x28",
    ),  # fmt: skip
    "a PNG claiming 100000x100000 pixels": (
        json.dumps({"image": base64.b64encode(png_header(100_000, 100_000)).decode()}).encode(),
        "application/json",
        400,
        "image is too large: Image size (10000000000 pixels) exceeds limit of",
    ),  # fmt: skip
    "oversized": (json.dumps({"image": "A" * 60_000}).encode(), "application/json", 413, "0.05 MB limit"),
}


def bad_input_is_one_line_4xx_and_the_server_keeps_serving(mnist, case: str) -> None:
    body, content_type, expected_status, fragment = BAD_IMAGE_REQUESTS[case]
    status, answer, _ = mnist.client.send("/predict", body, content_type)
    assert status == expected_status, case
    one_line(answer["detail"], fragment)
    status, answer, _ = mnist.client.predict({"image": mnist.pixels[0].tolist()})
    assert status == 200 and answer["label"] == mnist.labels[0], case


def a_bad_request_does_not_fail_the_batch_it_joins(mnist) -> None:
    bodies = [{"image": mnist.pixels[i // 2].tolist() if i % 2 else [[0] * 5]} for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(mnist.client.predict, bodies))
    assert [status for status, _, _ in answers] == [400, 200] * 8
    assert [answer["label"] for _, answer, _ in answers[1::2]] == mnist.labels[:8]


def test_a_batch_is_what_is_queued_when_the_worker_is_free() -> None:
    """Without a batch timeout (the default) a request that finds the worker idle runs at once and alone, and requests
    that queued while it was busy share a batch, up to max_batch_size; with a timeout, a batch waits for more until
    that long after its first request was queued."""
    queue: Queue = Queue()

    def put(*uids: str, queued_at: float | None = None) -> None:
        for uid in uids:
            queue.put((0, uid, time.monotonic() if queued_at is None else queued_at, {"image": uid}))

    def taken(batch_timeout: float) -> tuple[list[str], float]:
        api = CheckpointAPI("unused.ckpt", max_batch_size=3, batch_timeout=batch_timeout)
        api.request_timeout = 30  # as LitServer sets it
        start = time.monotonic()
        payloads, timed_out = QueuedBatchLoop().get_batch_requests(api, queue, transport=None)
        assert not timed_out
        return [uid for _, uid, _ in payloads], time.monotonic() - start

    threading.Timer(0.2, put, args=("x", "y")).start()  # while the worker waits: "x" finds it idle and runs alone
    uids, seconds = taken(0.0)
    assert uids == ["x"] and seconds < 0.5
    assert taken(0.0)[0] == ["y"]
    put("a", "b", "c", "d")  # while the worker is busy: they share batches
    assert taken(0.0)[0] == ["a", "b", "c"] and taken(0.0)[0] == ["d"]
    put("early", queued_at=time.monotonic() - 0.5)
    uids, seconds = taken(0.8)
    assert uids == ["early"] and 0.2 < seconds < 0.6  # until 0.8 s after it was queued, not 0.8 s from now


def refused_checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    """Checkpoints `blueprint serve` must refuse, each with what its error line names."""
    inputs = {"kind": "image", "shape": [1, 28, 28], "mean": [0.0], "std": [1.0], "classes": None}
    task = "blueprint.tasks.ClassificationTask"
    saved = {
        "corrupt": b"not a checkpoint",
        "foreign": {"weights": torch.zeros(1)},
        "older": {"state_dict": {}, "hyper_parameters": {"_class_path": task}, "MNISTDataModule": {"split": {}}},
        "other_class": {
            "state_dict": {"weight": torch.zeros(1, 1)},
            "hyper_parameters": {
                "_class_path": "torch.nn.Linear",
                "_instantiator": "lightning.pytorch.cli.instantiate_module",
            },
            "MNISTDataModule": {"serving_inputs": inputs},
        },
        "plain_lightning": {"state_dict": {"w": torch.zeros(1)}, "MNISTDataModule": {"serving_inputs": inputs}},
    }
    for name, content in saved.items():
        if isinstance(content, bytes):
            (folder / f"{name}.ckpt").write_bytes(content)
        else:
            torch.save(content, folder / f"{name}.ckpt")
    return {
        "missing": (folder / "missing.ckpt", "does not exist"),
        "corrupt": (folder / "corrupt.ckpt", "is not a readable checkpoint"),
        "not a Lightning checkpoint": (folder / "foreign.ckpt", "no state_dict"),
        "saved before serving_inputs": (folder / "older.ckpt", "does not say how its data module read inputs"),
        "another class": (folder / "other_class.ckpt", "does not rebuild a blueprint task"),
        "a plain LightningModule": (folder / "plain_lightning.ckpt", "does not rebuild a blueprint task"),
    }


def test_each_bad_checkpoint_is_refused_in_one_line_naming_it(tmp_path: Path) -> None:
    """What the inference worker refuses as it loads the checkpoint; the test below shows the user gets it."""
    for name, (path, fragment) in refused_checkpoints(tmp_path).items():
        with pytest.raises(UserError) as refusal:
            load_served_model(str(path))
        assert str(refusal.value).startswith(f"ckpt_path {str(path)!r}"), (name, str(refusal.value))
        one_line(str(refusal.value), fragment)


def test_a_refused_checkpoint_is_one_error_line_and_the_server_never_listens(tmp_path: Path, capsys) -> None:
    """The worker's refusal is the main process's one `error:` line and exit 2; no process is left, the port is
    free again. One kind, a class that is no blueprint task: every refusal takes this path (the loader's reasons are
    tested above, without a server)."""
    path, fragment = refused_checkpoints(tmp_path)["another class"]
    port = free_port()
    with pytest.raises(SystemExit) as exit_info:
        serve_command.main(["--ckpt_path", str(path), "--port", str(port)])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: ckpt_path {str(path)!r}"), lines
    one_line(lines[0], fragment)
    assert not multiprocessing.active_children()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # the port is free


def test_a_busy_port_is_one_error_line_before_the_model_is_loaded(monkeypatch, capsys) -> None:
    monkeypatch.setattr(serve_command, "build_server", lambda *args: pytest.fail("loaded the model first"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            serve_command.main(["--ckpt_path", "any.ckpt", "--port", str(port)])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    one_line(lines[0], f"error: --port {port} is in use on 127.0.0.1", "pick another port or stop that server")


@pytest.mark.slow  # a whole server start and stop (~17 s): keeps the default suite under 5 minutes
def test_a_server_stopped_by_its_pid_alone_frees_its_port_and_leaves_no_process(mnist_ckpt: Path, tmp_path) -> None:
    """As a supervisor (SIGTERM) or `kill -INT PID` stops it: requests sent just before are answered or refused, not
    left hanging; no worker or HTTP process stays behind on the port; a new server binds it. Requests wait up to 2 s
    for their batch, so they are in flight when the signal comes. SIGINT goes to a server started as a shell's
    background job, which inherits SIGINT ignored."""
    port = free_port()
    digit = {"image": [[0] * 28] * 28}
    options = ["--max_batch_size=8", "--batch_timeout=2"]
    for signum in (signal.SIGTERM, signal.SIGINT):
        log = tmp_path / f"{signum.name}.log"
        with started(mnist_ckpt, *options, port=port, log=log, background_job=signum == signal.SIGINT) as server:
            client = server.ready()
            with ThreadPoolExecutor(4) as pool:
                answers = [pool.submit(answer_or_refusal, client, digit) for _ in range(4)]
                time.sleep(0.5)
                server.process.send_signal(signum)
                outcomes = [answer.result() for answer in answers]
            assert server.process.wait(timeout=60) == 128 + signum  # LitServe waits for uvicorn's graceful stop
            assert set(outcomes) <= {200, "refused"}, (signum.name, outcomes)
            deadline = time.monotonic() + 10
            while live_processes(server.process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = live_processes(server.process.pid)
            assert not left, (signum.name, left, server.log.read_text()[-3000:])
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds: closed connections linger
        sock.bind(("127.0.0.1", port))  # freed by the second server too


def answer_or_refusal(client, body: dict) -> int | str:
    """The HTTP status, or "refused" when the stopping server closed or refused the connection; a hang fails."""
    try:
        return client.predict(body)[0]
    except (ConnectionError, urllib.error.URLError) as error:
        if isinstance(getattr(error, "reason", None), TimeoutError):
            raise AssertionError("a request in flight was left hanging") from None
        return "refused"
    except TimeoutError:
        raise AssertionError("a request in flight was left hanging") from None


def write_animals(path: Path, rows: int) -> None:
    """Labels that sort (bee, cat, owl) in another order than they first appear; a feature name with a space."""
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["height cm", "weight_kg", "legs", "kind"])
        for i in range(rows):
            k = i % 3
            writer.writerow([round(rng.normal(10 + 20 * k, 3), 2), round(rng.normal(1 + k, 0.3), 3), 2 + 4 * (k == 1),
                             ["owl", "cat", "bee"][k]])  # fmt: skip


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    """A tabular checkpoint trained on a CSV with string labels, its server, and predict's answers on new rows."""
    root = tmp_path_factory.mktemp("serve_table")
    write_animals(root / "animals.csv", 60)
    write_animals(root / "new.csv", 5)
    data = ["--data.init_args.source=null", f"--data.init_args.csv={root / 'animals.csv'}",
            "--data.init_args.target=kind",
            "--model.init_args.net.init_args.out_features=3", "--model.init_args.net.init_args.hidden=[8]"]  # fmt: skip
    args = ["-c", config("tabular_mlp_multiclass.yaml"), *data, *QUIET]
    fit = run_cli("fit", *args, "--trainer.max_steps=3", "--test_after_fit=false", f"--trainer.default_root_dir={root}",
                  f"--trainer.logger.init_args.save_dir={root}")  # fmt: skip
    ckpt = Path(fit.trainer.checkpoint_callback.last_model_path)
    with started(ckpt, log=root / "server.log") as server:
        predict = run_cli("predict", *args, f"--ckpt_path={ckpt}", f"--data.init_args.predict_csv={root / 'new.csv'}",
                          "--trainer.logger=false", f"--trainer.default_root_dir={root}", KEEP)  # fmt: skip
        with (root / "new.csv").open() as file:
            rows = [{k: float(v) for k, v in line.items() if k != "kind"} for line in csv.DictReader(file)]
        with (root / "predictions.csv").open() as file:
            labels = [line["label"] for line in csv.DictReader(file)]
        yield SimpleNamespace(client=server.ready(), rows=rows, labels=labels, probabilities=predicted(predict))


BAD_ROWS = {
    "missing feature": (lambda row: row.pop("legs"), "row 0 misses feature 'legs'"),
    "extra feature": (lambda row: row.update(wings=2), "row 0 has unknown feature 'wings'"),
    "non-finite": (lambda row: row.update(legs=float("nan")), "feature 'legs' is nan"),
    "not a number": (lambda row: row.update(legs="four"), "feature 'legs' is 'four'"),
}


@pytest.mark.slow  # a second server process: seconds to start; one test, so pytest-xdist starts it once
def test_table_server_answers_as_predict_with_the_training_label_order(table) -> None:
    status, answer, _ = table.client.predict({"rows": table.rows})
    assert status == 200
    assert [p["label"] for p in answer["predictions"]] == table.labels
    for prediction, expected in zip(answer["predictions"], table.probabilities, strict=True):
        assert list(prediction["probabilities"]) == ["bee", "cat", "owl"]
        assert np.abs(np.array(list(prediction["probabilities"].values())) - expected.numpy()).max() <= 1e-5
    status, single, _ = table.client.predict({"rows": table.rows[0]})  # one row: one prediction, not a list
    assert status == 200 and single["label"] == table.labels[0]
    assert np.abs(np.array(list(single["probabilities"].values())) - table.probabilities[0].numpy()).max() <= 1e-5
    status, info, _ = table.client.send("/info")
    assert info["model"]["features"] == ["height cm", "weight_kg", "legs"]
    assert info["model"]["classes"] == ["bee", "cat", "owl"]
    for case, (change, fragment) in BAD_ROWS.items():
        row = dict(table.rows[0])
        change(row)
        status, answer, _ = table.client.predict({"rows": [row, table.rows[1]]})
        assert status == 400, case
        one_line(answer["detail"], fragment)
        assert table.client.predict({"rows": table.rows[:1]})[0] == 200, case


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory):
    """A tiny ConvLSTM checkpoint (32x32 frames, 4 in, 3 out), its server, and predict's predictions.npy."""
    from tests.test_moving_mnist_models import TINY

    root = tmp_path_factory.mktemp("serve_frames")
    args = ["-c", config("moving_mnist_convlstm.yaml"), *TINY, "--model.init_args.net.init_args.hidden_channels=[4]",
            "--trainer.precision=32-true", "--trainer.enable_model_summary=false"]  # fmt: skip
    fit = run_cli("fit", *args, "--trainer.max_steps=2", "--trainer.limit_val_batches=1", "--test_after_fit=false",
                  f"--trainer.default_root_dir={root}", f"--trainer.logger.init_args.save_dir={root}")  # fmt: skip
    ckpt = Path(fit.trainer.checkpoint_callback.last_model_path)
    with started(ckpt, log=root / "server.log") as server:
        predict = run_cli("predict", *args, f"--ckpt_path={ckpt}", "--trainer.logger=false",
                          f"--trainer.default_root_dir={root}")  # fmt: skip
        sequences = predict.datamodule.splits["test"][0]  # uint8 (N, T, H, W), as predict read them
        yield SimpleNamespace(
            client=server.ready(),
            inputs=sequences[:, :4].transpose(0, 1).numpy(),  # the public layout (T, N, H, W)
            expected=np.load(root / "predictions" / "predictions.npy"),
        )


BAD_FRAMES = {
    "wrong shape": (lambda x: x[:3], "frames has shape [3, 8, 32, 32]"),
    "out of range": (lambda x: x.astype(np.float64) * 2, "send values in [0, 255]"),
    "non-finite": (lambda x: np.where(x == 0, np.inf, x), "non-finite number (inf)"),
}


@pytest.mark.slow  # a third server process
def test_frames_server_answers_as_predict_in_the_public_layout(frames) -> None:
    status, answer, _ = frames.client.predict({"frames": frames.inputs.tolist()})
    assert status == 200
    assert np.array_equal(np.array(answer["frames"]), frames.expected)  # (3, 8, 32, 32) uint8, as predictions.npy
    status, one, _ = frames.client.predict({"frames": frames.inputs[:, 5].tolist()})  # one sequence: (T, H, W)
    assert status == 200 and np.array_equal(np.array(one["frames"]), frames.expected[:, 5])
    for case, (make, fragment) in BAD_FRAMES.items():
        body = json.dumps({"frames": make(frames.inputs).tolist()}).encode()  # json writes inf as Infinity
        status, answer, _ = frames.client.send("/predict", body)
        assert status == 400, case
        one_line(answer["detail"], fragment)
        assert frames.client.predict({"frames": frames.inputs[:, 0].tolist()})[0] == 200, case


TABLE_INPUTS = {"kind": "table", "features": ["a", "b"], "mean": [1.0, 2.0], "std": [2.0, 4.0], "classes": None}
FRAME_INPUTS = {"kind": "frames", "shape": [2, 1, 4, 4], "target_frames": 1}


def test_rows_are_scaled_as_the_training_split_was() -> None:
    """In the default suite, where the table server's slow tests do not run: the decoder alone, no server."""
    samples = decode({"rows": [{"b": 6, "a": 3}, {"a": -1, "b": 2}]}, TABLE_INPUTS)
    assert samples.many and torch.equal(samples.inputs, torch.tensor([[1.0, 1.0], [-1.0, 0.0]]))
    assert not decode({"rows": {"a": 1, "b": 2}}, TABLE_INPUTS).many


@pytest.mark.parametrize(
    ("body", "inputs", "fragment"),
    [
        ({"rows": [{"a": 1}]}, TABLE_INPUTS, "row 0 misses feature 'b'"),
        ({"rows": [{"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}]}, TABLE_INPUTS, "row 1 has unknown feature 'c'"),
        ({"rows": [{"a": 1, "b": float("inf")}]}, TABLE_INPUTS, "feature 'b' is inf"),
        ({"rows": [{"a": True, "b": 2}]}, TABLE_INPUTS, "feature 'a' is True"),
        ({"rows": []}, TABLE_INPUTS, "non-empty list of objects"),
        ({"frames": [[[0] * 4] * 4] * 3}, FRAME_INPUTS, "frames has shape [3, 4, 4]"),
        ({"frames": [[[0] * 4] * 4, [[0] * 4] * 4], "extra": 1}, FRAME_INPUTS, "unknown key 'extra'"),
    ],
    ids=["missing", "extra", "non-finite", "bool", "no rows", "frame count", "extra key"],
)
def test_the_decoder_names_the_bad_value(body: dict, inputs: dict, fragment: str) -> None:
    from blueprint.data import MovingMNISTDataModule  # decodes its own kind, "frames"; the table kind is shared

    with pytest.raises(BadRequest) as refusal:
        decode(body, inputs, MovingMNISTDataModule)
    one_line(str(refusal.value), fragment)


@pytest.mark.parametrize(
    ("script", "argv", "fragments"),
    [
        ("serve", [], ["--ckpt_path", "required"]),
        ("serve", ["--ckpt_path", "x.ckpt", "--port", "80"], ["--port", "'80'", "1024 to 65535"]),
        ("serve", ["--ckpt_path", "x.ckpt", "--max_batch_size", "0"], ["--max_batch_size", "'0'", ">= 1"]),
        ("serve", ["--ckpt_path", "x.ckpt", "--max_payload_mb", "0"], ["--max_payload_mb", "'0'", "above 0"]),
        ("serve", ["--ckpt_path", "x.ckpt", "--host", "10.0.0.1"], ["--host", "127.0.0.1"]),
        ("serve", ["--ckpt_path", "x.ckpt", "--threads", "0"], ["--threads", "'0'", ">= 1"]),
        ("serve_load", ["--ckpt_path", "missing.ckpt"], ["missing.ckpt", "not a file"]),
        ("serve_load", ["--ckpt_path", ".", "--requests", "0"], ["--requests", "'0'"]),
        ("serve_load", ["--ckpt_path", ".", "--clients", "1,0"], ["--clients", "client count below 1"]),
    ],
)
def test_scripts_refuse_bad_arguments_in_one_line(script: str, argv: list[str], fragments: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        (serve_command if script == "serve" else load_script(script)).main(argv)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    one_line(lines[0], *fragments)


def test_data_modules_save_how_they_read_inputs_in_their_checkpoint_state() -> None:
    """What `serve` rebuilds preprocessing from: plain values in the data module's state (weights_only-safe)."""
    from blueprint.data import CIFAR10DataModule, MNISTDataModule, MovingMNISTDataModule, TabularDataModule

    assert MNISTDataModule().state_dict()["serving_inputs"] == {
        "kind": "image", "shape": [1, 28, 28], "mean": [MEAN], "std": [STD], "classes": [str(k) for k in range(10)]
    }  # fmt: skip
    assert CIFAR10DataModule(normalize=False).state_dict()["serving_inputs"]["std"] == [1.0, 1.0, 1.0]
    moving = MovingMNISTDataModule(frame_size=32, input_frames=4, target_frames=3).state_dict()["serving_inputs"]
    assert moving == {"kind": "frames", "shape": [4, 1, 32, 32], "target_frames": 3}
    own_kind = MovingMNISTDataModule().state_dict()["serving_data_class"]  # the server asks it to decode "frames"
    assert own_kind == f"{MovingMNISTDataModule.__module__}.MovingMNISTDataModule"
    wine = TabularDataModule(source="wine")
    table = wine.state_dict()["serving_inputs"]
    assert table["features"][:2] == ["alcohol", "malic_acid"] and table["classes"] == ["class_0", "class_1", "class_2"]
    assert (table["mean"], table["std"]) == (wine.scaler["mean"], wine.scaler["std"])
    assert TabularDataModule(source="wine", standardize=False).state_dict()["serving_inputs"]["mean"] is None


def test_a_long_answer_reaches_the_http_process_whole() -> None:
    """The HTTP process's event loop (uvloop) watches the answer pipe and so makes it non-blocking: a 5 MB answer
    arrives in pieces and must still be read as one (the frames server's answers are 100 KB)."""
    uvloop = pytest.importorskip("uvloop")
    transport, waiting = AnswerPipes(1), threading.Event()

    def answer_once_waited_for() -> None:  # an inference worker's side, in a thread: the same pipe
        if waiting.wait(timeout=60):
            transport.send(("uid", b"x" * (5 << 20)), 0)

    async def receive() -> Any:
        answer = None
        while answer is None:  # None: nothing came within a second, as LitServe's own transport answers
            pending = asyncio.ensure_future(transport.areceive(0))
            await asyncio.sleep(0.05)  # the event loop now watches the pipe
            waiting.set()
            answer = await pending
        return answer

    worker = threading.Thread(target=answer_once_waited_for, daemon=True)  # daemon: a failed read leaves it blocked
    worker.start()
    uid, body = uvloop.run(asyncio.wait_for(receive(), 60))
    assert (uid, len(body)) == ("uid", 5 << 20)

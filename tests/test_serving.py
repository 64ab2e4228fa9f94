"""`blueprint serve` (scripts/serve.py) over real HTTP: answers equal `blueprint predict`; bad input is a one-line 4xx.

One server process per checkpoint kind, shared by that kind's tests: each takes seconds to start (its worker imports
torch again). The checkpoints come from a few training steps of tiny nets.
"""

import base64
import csv
import io
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from blueprint.data.mnist import MEAN, STD
from tests.conftest import config, run_cli
from tests.fast import QUIET, TINY_NET, fast_args
from tests.scripts import load_script
from tests.serving import predicted, started

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


@pytest.fixture(scope="module")
def mnist(tmp_path_factory: pytest.TempPathFactory):
    """A 3-step mnist_cnn checkpoint, its server (batches of up to 8, a 50 KB body limit) and predict's answers."""
    root = tmp_path_factory.mktemp("serve_mnist")
    fit = run_cli(
        "fit",
        "-c",
        config("mnist_cnn.yaml"),
        *fast_args(3, "mnist_cnn.yaml"),
        f"--trainer.default_root_dir={root}",
        f"--trainer.logger.init_args.save_dir={root}",
    )
    ckpt = Path(fit.trainer.checkpoint_callback.last_model_path)
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
        )


def test_answers_equal_predict_for_pngs_and_pixel_lists_sent_together(mnist) -> None:
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


def test_health_and_model_card(mnist) -> None:
    assert mnist.client.send("/health")[:2] == (200, "ok")
    status, info, _ = mnist.client.send("/info")
    assert status == 200
    assert info["model"] == {"task": "ClassificationTask", "kind": "image", "shape": [1, 28, 28],
                             "classes": [str(k) for k in range(10)]}  # fmt: skip


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
    "oversized": (json.dumps({"image": "A" * 60_000}).encode(), "application/json", 413, "0.05 MB limit"),
}


@pytest.mark.parametrize("case", BAD_IMAGE_REQUESTS)
def test_bad_input_is_one_line_4xx_and_the_server_keeps_serving(mnist, case: str) -> None:
    body, content_type, expected_status, fragment = BAD_IMAGE_REQUESTS[case]
    status, answer, _ = mnist.client.send("/predict", body, content_type)
    assert status == expected_status
    one_line(answer["detail"], fragment)
    status, answer, _ = mnist.client.predict({"image": mnist.pixels[0].tolist()})
    assert status == 200 and answer["label"] == mnist.labels[0]


def test_a_bad_request_does_not_fail_the_batch_it_joins(mnist) -> None:
    bodies = [{"image": mnist.pixels[i // 2].tolist() if i % 2 else [[0] * 5]} for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(mnist.client.predict, bodies))
    assert [status for status, _, _ in answers] == [400, 200] * 8
    assert [answer["label"] for _, answer, _ in answers[1::2]] == mnist.labels[:8]


def refused_checkpoints(folder: Path, trained: Path) -> dict[str, tuple[Path, str]]:
    """Checkpoints serve.py must refuse, each with what its error line names."""
    corrupt = folder / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    foreign = folder / "foreign.ckpt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    checkpoint = torch.load(trained, weights_only=True)
    older = folder / "older.ckpt"
    del checkpoint["MNISTDataModule"]["serving_inputs"]
    torch.save(checkpoint, older)
    other_class = folder / "other_class.ckpt"
    checkpoint["MNISTDataModule"]["serving_inputs"] = {"kind": "image", "shape": [1, 28, 28]}
    checkpoint["hyper_parameters"]["_class_path"] = "torch.nn.Linear"
    torch.save(checkpoint, other_class)
    return {
        "missing": (folder / "missing.ckpt", "does not exist"),
        "corrupt": (corrupt, "is not a readable checkpoint"),
        "not a Lightning checkpoint": (foreign, "no state_dict"),
        "saved before serving_inputs": (older, "does not say how its data module read inputs"),
        "not a blueprint task": (other_class, "does not rebuild a blueprint task"),
    }


def test_a_bad_checkpoint_is_one_error_line_before_the_port_is_bound(mnist, tmp_path: Path, capsys) -> None:
    serve = load_script("serve")
    for name, (path, fragment) in refused_checkpoints(tmp_path, mnist.ckpt).items():
        port = 8000 + sum(map(ord, name))  # any free port: serve.py must not bind it
        with pytest.raises(SystemExit) as exit_info:
            serve.main(["--ckpt_path", str(path), "--port", str(port)])
        assert exit_info.value.code == 2, name
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: ckpt_path {str(path)!r}"), (name, lines)
        one_line(lines[0], fragment)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # the port is still free

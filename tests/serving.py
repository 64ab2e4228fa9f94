"""A real `blueprint serve` process on a free loopback port, a JSON client for it, and predict's raw outputs."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch

from tests.scripts import BLUEPRINT

STARTUP_S = 300  # the worker imports torch and Lightning: seconds on a quiet machine, much more on a loaded one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    """POST /predict and GET routes of one server; answers are (status, parsed JSON or text, headers)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, path: str, data: bytes | None = None, content_type: str = "application/json"):
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, body, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, body, headers = error.code, error.read(), error.headers
        text = body.decode()
        parsed = json.loads(text) if headers.get("content-type", "").startswith("application/json") else text
        return status, parsed, headers

    def predict(self, body: Any) -> tuple[int, Any, Any]:
        return self.send("/predict", json.dumps(body).encode())


@dataclass
class Server:
    """A started server process, its client and its log (stdout and stderr)."""

    process: subprocess.Popen
    client: Client
    log: Path

    def ready(self) -> Client:
        """Waits until GET /health answers 200 (the worker loaded the model); fails with the log if the server died."""
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if self.client.send("/health")[0] == 200:
                    return self.client
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"no /health answer within {STARTUP_S} s:\n{self.log.read_text()}")


@contextmanager
def started(
    ckpt: Path, *args: str, log: Path, port: int | None = None, background_job: bool = False
) -> Iterator[Server]:
    """Starts `blueprint serve` in its own session and process group on `port` (else a free one); returns at once (call
    `ready()`); on the way out SIGTERM ends whatever is left of the group. A `background_job` starts with SIGINT
    ignored, as a shell's `blueprint serve ... &` does."""
    port = port or free_port()
    command = [*BLUEPRINT, "serve", "--ckpt_path", str(ckpt), "--port", str(port), *args]
    ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background_job else None
    with log.open("w") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=ignore_sigint
        )
    try:
        yield Server(process, Client(f"http://127.0.0.1:{port}"), log)
    finally:
        with suppress(ProcessLookupError):  # a test may have stopped the server and all its processes already
            os.killpg(process.pid, signal.SIGTERM)  # the server, its worker and HTTP processes
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def live_processes(session: int) -> list[str]:
    """'PID command' of each process still running (zombies hold no port) in `session`, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended while we looked
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, pgrp, session, ...
        if fields[0] != "Z" and int(fields[3]) == session:
            found.append(f"{stat.parent.name} {command[:120]}")
    return found


def session_cpu_seconds(session: int) -> float:
    """CPU time (user + system) the processes now running in `session` have used, read from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it ended while we looked
        fields = text[text.rindex(")") + 2 :].split()  # state, ppid, pgrp, session, ..., utime (12th), stime
        if int(fields[3]) == session:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class KeepPredictions(L.Callback):
    """Keeps predict_step's raw outputs, the numbers predictions.csv and predictions.npy round for display."""

    def __init__(self) -> None:
        self.outputs: list[torch.Tensor] = []

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.outputs.append(outputs.detach().float().cpu())


def predicted(cli) -> torch.Tensor:
    """All raw outputs of a `predict` run made with `--trainer.callbacks+=tests.serving.KeepPredictions`."""
    return torch.cat(next(c for c in cli.trainer.callbacks if isinstance(c, KeepPredictions)).outputs)

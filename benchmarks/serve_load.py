"""Load test of `blueprint serve` on loopback: N requests from C concurrent clients, batching on, then off.

    uv run python benchmarks/serve_load.py --ckpt_path logs/mnist_cnn/version_0/checkpoints/last.ckpt

Starts the server on 127.0.0.1 (a free port) once per mode, sends real MNIST digits (the embedded test digits) as
JSON pixel lists, one persistent connection per client, and prints requests/s, p50/p99 latency, the mean number of
requests per forward pass (X-Batch-Size) and the errors. Bounded: --requests in all, at most --max_seconds per mode
(requests not sent by then count as not sent, and the run exits 1). Exits 1 on any error or when the two modes'
answers differ by more than 1e-5. Measured on a shared machine, the figures move with its load: say so with them.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blueprint.cli.options import OneLineParser, fail, non_negative_float, positive_int

HOST = "127.0.0.1"  # loopback only: this script never sends requests to another machine
STARTUP_S = 300
DIGITS = 100  # distinct inputs, sent in turn
JSON = {"Content-Type": "application/json"}


@dataclass
class Mode:
    name: str
    max_batch_size: int
    batch_timeout: float


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    answers: dict[int, list[float]] = field(default_factory=dict)
    not_sent: int = 0
    seconds: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def digits() -> list[bytes]:
    """Request bodies: real MNIST digits as (28, 28) pixel lists."""
    from blueprint.data.mnist import embedded_digits

    features, _ = embedded_digits()
    return [json.dumps({"image": features[k].reshape(28, 28).astype(int).tolist()}).encode() for k in range(DIGITS)]


def start_server(ckpt: str, mode: Mode, port: int, log: Path) -> subprocess.Popen:
    """`blueprint serve` in its own process group, so stopping it stops its worker and HTTP processes too."""
    command = [sys.executable, "-m", "blueprint.cli", "serve", "--ckpt_path", ckpt, "--port", str(port)]
    command += ["--max_batch_size", str(mode.max_batch_size), "--batch_timeout", str(mode.batch_timeout)]
    command += ["--log_level", "warning"]
    with log.open("w") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


def wait_until_healthy(server: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            fail(f"the server exited with {server.returncode}; its last line: {last_line(log)}", 1)
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    fail(f"the server did not answer /health within {STARTUP_S} s (log: {log})", 1)


def last_line(log: Path) -> str:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def load(port: int, bodies: list[bytes], requests: int, clients: int, max_seconds: float) -> Results:
    """`clients` threads, each with one keep-alive connection, share a counter of `requests`."""
    results, lock, issued = Results(), threading.Lock(), iter(range(requests))
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                index = next(issued, None)
            if index is None:
                return
            start = time.perf_counter()
            try:
                connection.request("POST", "/predict", bodies[index % len(bodies)], JSON)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as err:
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=60)
                with lock:
                    results.errors.append(type(err).__name__)
                continue
            elapsed = time.perf_counter() - start
            with lock:
                if response.status != 200:
                    results.errors.append(f"HTTP {response.status}")
                    continue
                results.latencies.append(elapsed)
                results.batch_sizes.append(int(response.getheader("X-Batch-Size", "1")))
                results.answers.setdefault(index % len(bodies), list(json.loads(body)["probabilities"].values()))

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(client)
    results.seconds = time.perf_counter() - start
    results.not_sent = requests - len(results.latencies) - len(results.errors)
    return results


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)


def report(mode: Mode, results: Results) -> str:
    done = len(results.latencies)
    latency = np.percentile(np.array(results.latencies) * 1000, [50, 99]) if done else [float("nan")] * 2
    rate = done / results.seconds if results.seconds else 0.0
    batch = float(np.mean(results.batch_sizes)) if done else float("nan")
    return (
        f"| {mode.name} (max_batch_size {mode.max_batch_size}, batch_timeout {mode.batch_timeout:g} s) | {done} | "
        f"{rate:.0f} | {latency[0]:.1f} | {latency[1]:.1f} | {batch:.1f} | {len(results.errors)} | "
        f"{results.not_sent} |"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt_path", required=True, help="an mnist_cnn (or other 28x28 digit) checkpoint")
    parser.add_argument("--requests", type=positive_int, default=2000)
    parser.add_argument("--clients", type=positive_int, default=16)
    parser.add_argument("--max_batch_size", type=positive_int, default=32, help="for the batching-on mode")
    parser.add_argument("--batch_timeout", type=non_negative_float, default=0.01, help="for the batching-on mode")
    parser.add_argument("--max_seconds", type=non_negative_float, default=300.0, help="per mode, then stop sending")
    parser.add_argument("--log_dir", type=Path, default=Path("."), help="where the servers' logs go")
    opts = parser.parse_args(argv)
    if not Path(opts.ckpt_path).is_file():
        parser.error(f"--ckpt_path {opts.ckpt_path} is not a file; pass an mnist_cnn .ckpt from `blueprint fit`")
    if opts.max_batch_size < 2:
        parser.error("--max_batch_size must be 2 or more for the batching-on mode (the off mode uses 1)")
    return opts


def main(argv: list[str] | None = None) -> dict[str, Results]:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    bodies = digits()
    modes = [Mode("batching on", opts.max_batch_size, opts.batch_timeout), Mode("batching off", 1, 0.0)]
    all_results = {}
    for mode in modes:
        port, log = free_port(), opts.log_dir / f"serve_load_{mode.name.replace(' ', '_')}.log"
        server = start_server(opts.ckpt_path, mode, port, log)
        try:
            wait_until_healthy(server, port, log)
            load(port, bodies[:1], opts.clients, opts.clients, 60)  # warm-up, not counted
            all_results[mode.name] = load(port, bodies, opts.requests, opts.clients, opts.max_seconds)
        finally:
            stop(server)
    print(f"{opts.requests} requests from {opts.clients} concurrent clients to 127.0.0.1, per mode:\n")
    print("| mode | answered | requests/s | p50 ms | p99 ms | requests per forward pass | errors | not sent |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in modes:
        print(report(mode, all_results[mode.name]))
    on, off = (all_results[mode.name] for mode in modes)
    shared = sorted(set(on.answers) & set(off.answers))
    difference = max((np.abs(np.subtract(on.answers[k], off.answers[k])).max() for k in shared), default=0.0)
    print(f"\nmax |probability difference| between the modes on {len(shared)} shared digits: {difference:.2g}")
    if any(r.errors or r.not_sent for r in all_results.values()) or difference > 1e-5:
        fail("errors, unsent requests or differing answers (above)", 1)
    return all_results


if __name__ == "__main__":
    main()

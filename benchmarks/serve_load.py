"""`blueprint serve` against a hand-written FastAPI server on the same checkpoint, loaded by ApacheBench (`ab`).

    uv run python benchmarks/serve_load.py --ckpt_path logs/mnist_cnn/version_0/checkpoints/last.ckpt [--short]

The hand-written server is benchmarks/serve_handwritten.py: one process, a plain `def` endpoint. Each round starts
every server in turn (the order alternates between rounds), alone and in its own process group: its cold start
(process start to the first good /predict answer), then `ab` at each --clients level (--requests each, one PNG digit,
a new connection per request), the memory of all its processes (PSS), its answers to --digits digits sent 16 at once,
then it is stopped. Prints a markdown table of each figure's range over the rounds, and blueprint's per-round ratios
to the hand-written server against issue 30's targets. `--serve_args "--max_batch_size 1"` runs blueprint with those
options (repeatable, one server each; `--serve_args ""` is the defaults). Exits 1 when a request fails or the answers
differ by more than 1e-5; `ab`'s "Length" failures are not failures (answers batched together differ in their last
digits). Figures move with the machine's load, printed with them.
"""

import argparse
import base64
import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blueprint.cli.options import OneLineParser, fail, positive_int

HOST = "127.0.0.1"  # loopback only: this script never sends requests to another machine
STARTUP_S = 300
HANDWRITTEN = "hand-written"
TARGETS = {1: (0.8, 2.0), 16: (1.0, 2.0), 64: (1.0, 2.0)}  # clients: (min req/s ratio, max p99 ratio), issue 30
COLD_START_TARGET = 1.5
TOLERANCE = 1e-5


@dataclass
class Server:
    name: str
    command: list[str]  # without --port


@dataclass
class Level:
    rate: float  # requests/s
    p50_ms: float
    p99_ms: float


@dataclass
class Figures:
    """One server's figures, one entry per round."""

    levels: dict[int, list[Level]] = field(default_factory=dict)
    cold_start_s: list[float] = field(default_factory=list)
    pss_mb: list[float] = field(default_factory=list)
    answers: list[list[list[float]]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def png_bodies(count: int) -> list[bytes]:
    """Request bodies: real MNIST test digits as base64 PNG files, as a client uploads an image."""
    from PIL import Image

    from blueprint.data.mnist import embedded_digits

    features, _ = embedded_digits()
    bodies = []
    for k in range(count):
        buffer = io.BytesIO()
        Image.fromarray(features[k].reshape(28, 28).astype(np.uint8), mode="L").save(buffer, format="PNG")
        bodies.append(json.dumps({"image": base64.b64encode(buffer.getvalue()).decode()}).encode())
    return bodies


def post(port: int, body: bytes, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://{HOST}:{port}/predict", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start(server: Server, port: int, log: Path) -> subprocess.Popen:
    """Alone in its own session and process group: stopping the group stops every process the server started."""
    with log.open("w") as output:
        return subprocess.Popen(
            [*server.command, "--port", str(port)], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def cold_start(process: subprocess.Popen, started: float, port: int, body: bytes, log: Path) -> float:
    """Seconds from the process start to its first good answer. A request sent once the port is bound waits in the
    listen queue until the server takes it, so the answer comes as soon as the server can give it."""
    deadline = started + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(f"{log.stem} exited with {process.returncode}; its last line: {last_line(log)}", 1)
        try:
            status, answer = post(port, body, timeout=max(deadline - time.monotonic(), 1))
        except OSError:  # not listening yet
            time.sleep(0.02)
            continue
        if status == 200 and b"probabilities" in answer:
            return time.monotonic() - started
        fail(f"{log.stem} answered its first request with HTTP {status}: {answer[:200]!r}", 1)
    fail(f"{log.stem} gave no answer within {STARTUP_S} s (log: {log})", 1)
    raise AssertionError  # fail() exits


def last_line(log: Path) -> str:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def ab(port: int, body_file: Path, requests: int, clients: int, folder: Path) -> Level:
    """ApacheBench at `clients` concurrent clients; fails on any failure but a "Length" one (answers differ in size)."""
    percentiles = folder / "percentiles.csv"
    url = f"http://{HOST}:{port}/predict"
    command = ["ab", "-q", "-n", str(max(requests, clients)), "-c", str(clients), "-s", "60"]
    command += ["-p", str(body_file), "-T", "application/json", "-e", str(percentiles), url]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        fail(f"ab at {clients} clients failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}", 1)
    out = result.stdout
    failed = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)", out)
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if (failed and any(int(n) for n in failed.groups())) or non_2xx:
        fail(f"ab at {clients} clients: failed requests or HTTP errors:\n{out}", 1)
    rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    with percentiles.open() as file:
        served = {int(float(row[0])): float(row[1]) for row in csv.reader(file) if row and row[0][0].isdigit()}
    return Level(rate, served[50], served[99])


def pss_mb(session: int) -> float:
    """Proportional set size of every process in the session: memory shared between them is counted once."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):  # a process that ended while we looked
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[3]) != session:
                continue
            rollup = (stat.parent / "smaps_rollup").read_text()
            total += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return total / 1024


def answers(port: int, bodies: list[bytes]) -> list[list[float]]:
    """Probabilities for each digit, sent 16 at once (so a batching server batches them)."""

    def probabilities(body: bytes) -> list[float]:
        status, answer = post(port, body, timeout=60)
        if status != 200:
            fail(f"HTTP {status} for a digit: {answer[:200]!r}", 1)
        return list(json.loads(answer)["probabilities"].values())

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(probabilities, bodies))


def stop(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=60)
    with suppress(ProcessLookupError):  # whatever is left of its group
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def measure(server: Server, opts: argparse.Namespace, bodies: list[bytes], figures: Figures, folder: Path) -> None:
    port, log = free_port(), folder / f"{server.name.replace(' ', '_').replace('-', '')[:60]}.log"
    body_file = folder / "body.json"
    body_file.write_bytes(bodies[0])
    started = time.monotonic()
    process = start(server, port, log)
    try:
        figures.cold_start_s.append(cold_start(process, started, port, bodies[0], log))
        ab(port, body_file, 50, 4, folder)  # warm-up, not counted
        for clients in opts.clients:
            figures.levels.setdefault(clients, []).append(ab(port, body_file, opts.requests, clients, folder))
        figures.pss_mb.append(pss_mb(process.pid))
        figures.answers.append(answers(port, bodies))
    finally:
        stop(process)


def span(values: list[float], digits: int = 0, unit: str = "") -> str:
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return (low if low == high else f"{low}-{high}") + unit


def ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """Per round: each round runs the servers back to back, so a round's figures share the machine's load."""
    return [a / b for a, b in zip(ours, theirs, strict=True)]


def table(servers: list[Server], results: dict[str, Figures], clients: list[int]) -> str:
    lines = ["| clients | " + " | ".join(server.name for server in servers) + " |", "|---" * (len(servers) + 1) + "|"]
    for level in clients:
        cells = []
        for server in servers:
            runs = results[server.name].levels[level]
            cells.append(
                f"{span([r.rate for r in runs], unit=' req/s')}, p50 {span([r.p50_ms for r in runs], 1)} ms, "
                f"p99 {span([r.p99_ms for r in runs], 1)} ms"
            )
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    lines.append("| cold start | " + " | ".join(span(results[s.name].cold_start_s, 1, " s") for s in servers) + " |")
    lines.append("| memory (PSS) | " + " | ".join(span(results[s.name].pss_mb, 0, " MB") for s in servers) + " |")
    return "\n".join(lines)


def verdicts(server: Server, results: dict[str, Figures], clients: list[int]) -> list[str]:
    """Per-round ratios to the hand-written server; a target is met when the mean ratio meets it."""
    ours, theirs = results[server.name], results[HANDWRITTEN]
    lines = []
    for level in clients:
        rate = ratios([r.rate for r in ours.levels[level]], [r.rate for r in theirs.levels[level]])
        p99 = ratios([r.p99_ms for r in ours.levels[level]], [r.p99_ms for r in theirs.levels[level]])
        line = f"- {level} client{'s' if level > 1 else ''}: req/s {span(rate, 2, 'x')} (mean {np.mean(rate):.2f}x), "
        line += f"p99 {span(p99, 2, 'x')}"
        if level in TARGETS:
            low_rate, high_p99 = TARGETS[level]
            ok = np.mean(rate) >= low_rate and np.mean(p99) <= high_p99
            line += f" (target req/s >= {low_rate}x, p99 <= {high_p99}x: {'met' if ok else 'MISSED'})"
        lines.append(line)
    cold = ratios(ours.cold_start_s, theirs.cold_start_s)
    ok = np.mean(cold) <= COLD_START_TARGET
    lines.append(f"- cold start {span(cold, 2, 'x')} (target <= {COLD_START_TARGET}x: {'met' if ok else 'MISSED'})")
    return lines


def client_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of client counts, e.g. 1,16,64") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} has a client count below 1")
    return levels


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt_path", required=True, help="an mnist_cnn checkpoint")
    parser.add_argument("--requests", type=positive_int, default=None, help="per level (default 1000; --short 200)")
    parser.add_argument("--rounds", type=positive_int, default=None, help="default 2; --short 1")
    parser.add_argument("--clients", type=client_levels, default=[1, 16, 64], help="levels, e.g. 1,16,64")
    parser.add_argument("--short", action="store_true", help="200 requests per level, 1 round: a quick look")
    parser.add_argument("--serve_args", action="append", default=None, help='a blueprint server\'s options, e.g. '
                        '"--max_batch_size 1" (repeatable; default: one with no options)')  # fmt: skip
    parser.add_argument("--digits", type=positive_int, default=20, help="distinct digits whose answers are compared")
    parser.add_argument("--log_dir", type=Path, default=None, help="keep the servers' logs here (default: a temp dir)")
    opts = parser.parse_args(argv)
    if not Path(opts.ckpt_path).is_file():
        parser.error(f"--ckpt_path {opts.ckpt_path} is not a file; pass an mnist_cnn .ckpt from `blueprint fit`")
    if shutil.which("ab") is None:
        parser.error("ab (ApacheBench) is not installed; install it, e.g. `apt-get install apache2-utils`")
    opts.requests = opts.requests or (200 if opts.short else 1000)
    opts.rounds = opts.rounds or (1 if opts.short else 2)
    return opts


def servers_for(opts: argparse.Namespace) -> list[Server]:
    ckpt = str(Path(opts.ckpt_path).resolve())
    handwritten = Server(HANDWRITTEN, [sys.executable, str(Path(__file__).with_name("serve_handwritten.py"))])
    handwritten.command += ["--ckpt_path", ckpt]
    servers = [handwritten]
    for args in opts.serve_args or [""]:
        name = f"blueprint serve {args}".strip()
        command = [sys.executable, "-m", "blueprint.cli", "serve", "--ckpt_path", ckpt, "--log_level", "warning"]
        servers.append(Server(name, command + shlex.split(args)))
    return servers


def main(argv: list[str] | None = None) -> dict[str, Figures]:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    servers, bodies = servers_for(opts), png_bodies(opts.digits)
    results = {server.name: Figures() for server in servers}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as temp:
        folder = opts.log_dir or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        for round_index in range(opts.rounds):
            for server in servers if round_index % 2 == 0 else servers[::-1]:
                print(f"round {round_index + 1}/{opts.rounds}: {server.name}", file=sys.stderr, flush=True)
                measure(server, opts, bodies, results[server.name], folder)
    load_after = os.getloadavg()
    print(f"{opts.requests} requests per level with `ab` (a new connection each), {opts.rounds} round(s), "
          f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, {load_after[0]:.1f} after:\n")  # fmt: skip
    print(table(servers, results, opts.clients))
    reference = np.array(results[HANDWRITTEN].answers)
    difference = max(float(np.abs(np.array(results[s.name].answers) - reference).max()) for s in servers)
    print(f"\nmax |probability difference| from the hand-written server on {len(bodies)} digits: {difference:.2g}")
    for server in servers[1:]:
        print(f"\n{server.name} / {HANDWRITTEN}, per round:\n" + "\n".join(verdicts(server, results, opts.clients)))
    if difference > TOLERANCE:
        fail(f"the servers' answers differ by {difference:.2g} > {TOLERANCE:g}", 1)
    return results


if __name__ == "__main__":
    main()

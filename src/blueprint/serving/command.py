"""Serve a trained checkpoint over HTTP with LitServe: POST /predict, GET /health, GET /info (the model card).

    uv run blueprint serve --ckpt_path logs/mnist_cnn/version_0/checkpoints/last.ckpt [--port 8000]

The task is rebuilt from the checkpoint alone and requests get exactly the preprocessing `blueprint predict` applies
(see docs/serving.md for the request and answer of each task). The inference worker takes the requests queued when it
is free as one batch, up to --max_batch_size; --batch_timeout makes it wait that long for a batch to fill. A port in
use (before anything starts) or a missing, corrupt or foreign checkpoint (refused by the inference worker as it loads
it, before the server listens) is one `error:` line and exit 2. SIGTERM or SIGINT (Ctrl+C) to the process stops it
and every process it started (serving/stopping.py).
"""

import argparse
import errno
import logging
import socket
import sys

from blueprint.cli.options import OneLineParser, fail, non_negative_float, positive_int
from blueprint.serving.server import NotAnsweringYet, build_server
from blueprint.serving.startup import StartupWatch
from blueprint.serving.stopping import stopped_by_signals

HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # what LitServe binds to


def port_number(text: str) -> int:
    """argparse type: LitServe binds ports 1024-65535 only."""
    value = positive_int(text)
    if not 1024 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1024 to 65535")
    return value


def positive_float(text: str) -> float:
    """argparse type for the payload limit, where 0 would refuse every request."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} would refuse every request; give a size above 0, e.g. 8")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(prog="blueprint serve", description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt_path", required=True, help="a .ckpt written by `blueprint fit` (local file)")
    parser.add_argument("--port", type=port_number, default=8000)
    parser.add_argument("--host", choices=HOSTS, default="127.0.0.1", help="0.0.0.0 serves other machines too")
    parser.add_argument("--max_batch_size", type=positive_int, default=32, help="1 turns batching off")
    parser.add_argument("--batch_timeout", type=non_negative_float, default=0.0,
                        help="seconds a batch waits to fill; 0: what is queued when the worker is free")  # fmt: skip
    parser.add_argument("--accelerator", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    parser.add_argument("--max_payload_mb", type=positive_float, default=8.0, help="larger bodies get HTTP 413")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch threads of a CPU worker (default: all cores but one)")  # fmt: skip
    parser.add_argument("--log_level", choices=["debug", "info", "warning", "error"], default="info")
    return parser.parse_args(argv)


def port_in_use(host: str, port: int) -> bool:
    """True when another server listens on host:port, where LitServe would fail only after loading the model."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a stopped server's port is free
        try:
            sock.bind((host, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE  # other errors (no IPv6) are LitServe's to report
    return False


def main(argv: list[str] | None = None) -> None:
    """Serves until SIGTERM or SIGINT, then exits 128 + the signal's number, as a process that signal ended would; a
    busy port or a checkpoint the worker refused ends in one line and exit 2."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if port_in_use(opts.host, opts.port):
        fail(f"--port {opts.port} is in use on {opts.host} (another server listens there); pick another port or stop "
             "that server")  # fmt: skip
    startup = StartupWatch()
    refusal = None
    try:
        with stopped_by_signals() as received:
            server = build_server(opts.ckpt_path, opts.max_batch_size, opts.batch_timeout, opts.accelerator,
                                  opts.max_payload_mb, opts.threads, startup.line)  # fmt: skip
            startup.watch(server)
            logging.getLogger("uvicorn.error").addFilter(NotAnsweringYet())
            server.run(host=opts.host, port=opts.port, generate_client_file=False, log_level=opts.log_level)
    except RuntimeError:  # LitServe's, when its worker failed to start: it refused the checkpoint, or crashed
        refusal = startup.refused()
        if refusal is None:
            raise
    if refusal is not None:  # out here, where the bound port LitServe's frames hold has been released
        fail(refusal)
    if received:
        sys.exit(128 + received[0])

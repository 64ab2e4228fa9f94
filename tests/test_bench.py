"""scripts/bench.py runs end to end with tiny settings and writes its Markdown report."""

import importlib
from pathlib import Path

import pytest
import torch

from tests.conftest import CONFIGS, REPO


def test_bench_runs_all_variants_and_writes_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    bench = importlib.import_module("bench")
    out = tmp_path / "bench.md"
    missing = CONFIGS / "no_such_config.yaml"
    args = ["--configs", str(CONFIGS / "mnist_mlp.yaml"), str(missing), "--epochs", "2", "--repeats", "1"]
    args += ["--limit-batches", "3", "--threads", "1", "--precision", "32-true", "--out", str(out)]
    assert bench.main(args) == out
    assert f"skipping {missing}" in capsys.readouterr().out
    report = out.read_text()
    for variant in ("(a) plain loop", "(b) plain loop", "(c) blueprint fit", "(d) Trainer(barebones=True)"):
        assert f"| mnist_mlp | 32-true | 1 | {variant}" in report
    assert f"torch {torch.__version__}" in report and "lightning " in report and "CPU: " in report
    rows = report.splitlines()
    ratio_row = next(line for line in rows if line.startswith("| mnist_mlp | 32-true | 1 | ") and " / " in line)
    assert ratio_row.count(" / ") == 8  # four ratios, each as min wall / median wall / min CPU
    assert "| InMemoryLoader |" in report and "| DataLoader(TensorDataset) |" in report
    assert torch.get_num_threads() == 2  # the thread count is restored (conftest sets 2)


def test_in_memory_loader_delivers_batches_faster_than_dataloader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's target is >= 5x; asserting 2x keeps the test robust on a busy machine."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    bench = importlib.import_module("bench")
    torch.set_num_threads(1)
    try:
        per_batch = bench.loader_delivery(repeats=3, samples=2048)
    finally:
        torch.set_num_threads(2)
    assert per_batch["InMemoryLoader"] * 2 < per_batch["DataLoader(TensorDataset)"]

"""benchmarks/bench.py runs end to end with tiny settings and writes its Markdown report."""

import importlib
from pathlib import Path

import pytest
import torch

from blueprint.errors import UserError
from tests.conftest import CONFIGS, REPO


def test_bench_runs_all_variants_and_writes_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("bench")
    out = tmp_path / "bench.md"
    missing = CONFIGS / "no_such_config.yaml"
    args = ["--configs", str(CONFIGS / "mnist_mlp.yaml"), str(missing), "--epochs", "2", "--repeats", "1"]
    args += ["--limit_batches", "3", "--threads", "1", "--precision", "32-true", "--out", str(out)]
    assert bench.main(args) == out
    assert f"skipping {missing}" in capsys.readouterr().out
    report = out.read_text()
    for variant in ("(a) plain loop", "(b) plain loop", "(c) blueprint fit", "(d) Trainer(barebones=True)"):
        assert f"| mnist_mlp | 32-true | 1 | {variant}" in report
    assert f"torch {torch.__version__}" in report and "lightning " in report and "CPU: " in report
    rows = report.splitlines()
    ratio_row = next(line for line in rows if line.startswith("| mnist_mlp | 32-true | 1 | ") and " / " in line)
    assert ratio_row.count(" / ") == 8  # four ratios, each as min wall / median wall / min CPU
    assert "| DataLoader(BatchedTensorDataset) |" in report and "| DataLoader(TensorDataset) |" in report
    assert torch.get_num_threads() == 2  # the thread count is restored (conftest sets 2)


def test_batched_dataset_delivers_batches_faster_than_tensor_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's target is >= 5x; asserting 2x keeps the test robust on a busy machine."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("bench")
    torch.set_num_threads(1)
    try:
        per_batch = bench.loader_delivery(repeats=3, samples=2048)
    finally:
        torch.set_num_threads(2)
    assert per_batch["DataLoader(BatchedTensorDataset)"] * 2 < per_batch["DataLoader(TensorDataset)"]


def test_config_caps_parse_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("bench")
    assert bench.config_and_cap("configs/mnist_mlp.yaml:20", None) == (REPO / "configs" / "mnist_mlp.yaml", 20)
    assert bench.config_and_cap("configs/mnist_mlp.yaml", 5) == (REPO / "configs" / "mnist_mlp.yaml", 5)
    assert bench.config_and_cap("/abs/x.yaml", None) == (Path("/abs/x.yaml"), None)


def test_moving_mnist_plain_loops_use_drawn_and_project_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving MNIST draws its sequences per batch: (a) gets them drawn once, (b) runs the project's loader."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("bench")
    small = ["--data.init_args.train_sequences=16", "--data.init_args.val_sequences=4", "--data.init_args.batch_size=4"]
    small += ["--model.init_args.net.init_args.hidden_channels=[4]"]
    original = bench.cli_main
    monkeypatch.setattr(bench, "cli_main", lambda args, run=True: original([*args, *small], run=run))
    workload = bench.Workload(CONFIGS / "moving_mnist_convlstm.yaml", limit_batches=2)
    assert workload.renders_batches
    inputs, targets = workload.train
    assert inputs.shape[0] == targets.shape[0] == 2 * 4  # two capped batches of four sequences, drawn once
    for variant in "ab":
        run = workload.run(variant, "32-true", epochs=1)
        assert run.samples == 8 and len(run.wall) == 1 and run.wall[0] > 0


def test_bench_refuses_tasks_its_plain_loops_cannot_train(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("bench")
    with pytest.raises(UserError, match="ClassificationTask and FramePredictionTask"):
        bench.Workload(CONFIGS / "tabular_mlp_regression.yaml", None)


def test_bench_fit_keeps_the_working_directory_for_relative_data_paths(tmp_path: Path, monkeypatch) -> None:
    """(c) logs into a temp dir but runs here, so a config's `data_dir: data` finds ./data (not a fresh download)."""
    from tests.fake_datasets import install_for_config

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("bench")
    install_for_config(CONFIGS / "fashion_mnist_cnn.yaml", tmp_path / "data", monkeypatch)
    workload = bench.Workload(CONFIGS / "fashion_mnist_cnn.yaml", limit_batches=2)
    run = workload.cli_fit("32-true", epochs=1)
    assert run.samples > 0 and not (tmp_path / "logs").exists()

"""A user's CSV through `blueprint fit`: duplicated and non-finite columns, and errors that quote only what the user
wrote, briefly. Each refusal is one `error:` line naming the file and the column, with exit code 2."""

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import config, run_cli
from tests.reliability.helpers import error_line

QUIET = ("--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false")


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join(",".join(str(v) for v in line) for line in [header, *rows]) + "\n")
    return path


def noise_table(n: int = 200) -> tuple[list[list[float]], np.ndarray]:
    """Four random features and a target of pure noise: nothing in the features predicts it."""
    rng = np.random.default_rng(0)
    features, target = rng.normal(size=(n, 4)).round(4), rng.normal(size=n).round(4)
    return [[*f, t] for f, t in zip(features.tolist(), target.tolist(), strict=True)], target


def fit_csv(tmp_path: Path, path: Path, target: str, *extra: str, config_name: str = "tabular_mlp_regression.yaml"):
    """`blueprint fit` on a CSV, one short epoch, logs under tmp_path."""
    return run_cli(
        "fit",
        "-c",
        config(config_name),
        f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}",
        "--data.init_args.source=null",
        f"--data.init_args.csv={path}",
        f"--data.init_args.target={target}",
        "--model.init_args.net.init_args.hidden=[16]",
        "--trainer.max_epochs=1",
        "--test_after_fit=false",
        *QUIET,
        *extra,
    )


def test_a_duplicated_target_column_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """pandas reads the second `value` as `value.1`, which became a feature: a copy of the target (R2 0.98 on noise)."""
    rows, target = noise_table()
    copies = [[*row, value] for row, value in zip(rows, target, strict=True)]
    path = write_csv(tmp_path / "dup.csv", ["a", "b", "c", "d", "value", "value"], copies)
    with pytest.raises(SystemExit) as failed:
        fit_csv(tmp_path, path, "value")
    assert failed.value.code == 2
    line = error_line(capsys)
    assert str(path) in line and "'value'" in line and "value.1" not in line, line
    assert not (tmp_path / "logs").exists()


def test_duplicated_feature_columns_are_all_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows, _ = noise_table()
    path = write_csv(tmp_path / "dup.csv", ["a", "b", "a", "b", "value"], rows)
    with pytest.raises(SystemExit):
        fit_csv(tmp_path, path, "value")
    line = error_line(capsys)
    assert str(path) in line and "['a', 'b']" in line and "a.1" not in line, line


@pytest.mark.parametrize("bad_rows", [[7], list(range(3, 200, 4))], ids=["one", "many"])
@pytest.mark.parametrize("value", ["inf", "-inf", "1e39"])  # 1e39 is finite as float64 but inf as float32
def test_a_non_finite_regression_target_is_refused_naming_file_column_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture, bad_rows: list[int], value: str
) -> None:
    """One inf gave rc 0 and val/loss inf; many stopped on a NaN loss that blamed the learning rate."""
    rows, _ = noise_table()
    for row in bad_rows:
        rows[row][-1] = value
    path = write_csv(tmp_path / "table.csv", ["a", "b", "c", "d", "value"], rows)
    with pytest.raises(SystemExit) as failed:
        fit_csv(tmp_path, path, "value")
    assert failed.value.code == 2
    line = error_line(capsys)
    assert str(path) in line and "target column 'value'" in line and f"row {bad_rows[0]}" in line, line
    assert "learning rate" not in line


def test_a_feature_beyond_float32_is_refused_like_inf(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows, _ = noise_table()
    rows[5][1] = "1e39"
    path = write_csv(tmp_path / "table.csv", ["a", "b", "c", "d", "value"], rows)
    with pytest.raises(SystemExit):
        fit_csv(tmp_path, path, "value")
    line = error_line(capsys)
    assert str(path) in line and "feature column 'b'" in line and "row 5" in line, line


def test_a_huge_field_is_quoted_briefly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A megabyte of text in a numeric column: the error quotes its start, not all of it."""
    rows, _ = noise_table()
    rows[3][2] = "x" * 1_000_000
    path = write_csv(tmp_path / "table.csv", ["a", "b", "c", "d", "value"], rows)
    with pytest.raises(SystemExit):
        fit_csv(tmp_path, path, "value")
    line = error_line(capsys)
    assert "feature column 'c' is not numeric" in line and "row 3" in line and "..." in line, line
    assert len(line) < 400 + len(str(path)), len(line)


def test_many_columns_are_listed_briefly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A wrong data.target on a wide table: the error names it and lists only the first columns."""
    header = [f"column_{i}_{'x' * 100}" for i in range(500)]
    path = write_csv(tmp_path / "wide.csv", header, [list(range(500))] * 20)
    with pytest.raises(SystemExit):
        fit_csv(tmp_path, path, "label")
    line = error_line(capsys)
    assert "no target column 'label'" in line and "column_0_" in line and "more" in line, line
    assert len(line) < 2000 + len(str(path)), len(line)


def test_a_class_too_small_to_split_is_named_by_its_label(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """sklearn names the class by its index ([2]) and the option as data.test_size, which tables do not have."""
    labels = ["setosa"] * 30 + ["versicolor"] * 29 + ["virginica"]
    path = write_csv(tmp_path / "flowers.csv", ["x", "species"], [[i * 0.1, s] for i, s in enumerate(labels)])
    with pytest.raises(SystemExit) as failed:
        fit_csv(
            tmp_path,
            path,
            "species",
            "--data.init_args.batch_size=8",
            config_name="tabular_mlp_multiclass.yaml",
        )
    assert failed.value.code == 2
    line = error_line(capsys)
    assert str(path) in line and "'virginica'" in line and "[2]" not in line, line
    assert "data.test_fraction" in line and "data.test_size" not in line, line


@pytest.mark.parametrize(("make", "named"), [(lambda p: p.mkdir() or p, "is a folder"), (None, "not a regular file")])
def test_a_csv_path_that_is_no_file_says_what_it_is(make, named: str, tmp_path: Path, capsys) -> None:
    """A folder or a device is not reported as missing: the message says what the path is."""
    path = make(tmp_path / "table.csv") if make else Path("/dev/null")
    with pytest.raises(SystemExit) as refused:
        fit_csv(tmp_path, path, "y")
    line = error_line(capsys)
    assert refused.value.code == 2 and str(path) in line and named in line
    assert not (tmp_path / "logs").exists()

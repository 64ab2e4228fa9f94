"""`blueprint sweep`: 3 tiny real trials, pruning reports, a table, TensorBoard hparams, a best config that fits."""

from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.sweeps import command as sweep_command
from tests.conftest import run_cli
from tests.fast import QUIET

TINY = [
    "--trainer.max_epochs=2",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=1",
    "--trainer.log_every_n_steps=1",
    "--trainer.logger.init_args.log_graph=false",
    "--model.init_args.net.init_args.hidden=[16]",
    *QUIET,
]
OPT = "model.init_args.optimizer"


def test_sweep_runs_trials_and_writes_a_best_config_that_fits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = sweep_command
    best_yaml = tmp_path / "best.yaml"
    study = sweep.main(
        [
            "-c",
            str(Path(__file__).resolve().parents[1] / "configs" / "mnist_mlp.yaml"),
            "--trials=3",
            f"--param={OPT}.init_args.lr=loguniform:1e-4:1e-1",
            f"--param={OPT}.init_args.momentum=uniform:0.85:0.99",
            f"--set={OPT}.class_path=torch.optim.SGD",
            f"--best_config={best_yaml}",
            f"--study_dir={tmp_path / 'sweep'}",
            "--",
            *TINY,
        ]
    )
    assert len(study.trials) == 3
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED"}
    assert all(len(t.intermediate_values) >= 1 for t in study.trials)  # val/acc reported for pruning each epoch
    table = capsys.readouterr().out
    assert "val/acc" in table and "momentum" in table and table.count("complete") >= 1

    assert (tmp_path / "best_history.png").stat().st_size > 0 and (tmp_path / "best_importance.png").stat().st_size > 0
    runs = EventAccumulator(str(tmp_path / "sweep" / "hparams" / "trial_000")).Reload()
    assert "sweep/val/acc" in runs.Tags()["scalars"]
    assert (tmp_path / "sweep" / "trials" / "trial_002").is_dir()
    trial = EventAccumulator(str(tmp_path / "sweep" / "trials" / "trial_002")).Reload().Tags()["scalars"]
    assert "val/acc" in trial and "epoch" not in trial  # blueprint's logger: no epoch staircase in a trial's run

    best = yaml.safe_load(best_yaml.read_text())
    optimizer = best["model"]["init_args"]["optimizer"]
    assert optimizer["class_path"] == "torch.optim.SGD"
    assert optimizer["init_args"]["lr"] == pytest.approx(study.best_params[f"{OPT}.init_args.lr"])
    assert best["trainer"]["max_epochs"] == 20  # the trial-only speed limits are not part of the best config

    cli = run_cli("fit", "-c", str(best_yaml), *TINY, "--test_after_fit=false")
    assert cli.trainer.global_step == 6
    assert cli.trainer.optimizers[0].param_groups[0]["momentum"] == pytest.approx(
        study.best_params[f"{OPT}.init_args.momentum"]
    )


def sweep_args(tmp_path: Path, *params: str, trials: int = 2) -> list[str]:
    config = str(Path(__file__).resolve().parents[1] / "configs" / "mnist_mlp.yaml")
    study = f"--study_dir={tmp_path / 'sweep'}"
    return ["-c", config, f"--trials={trials}", *params, f"--best_config={tmp_path / 'best.yaml'}", study, "--", *TINY]


def test_diverging_trials_fail_alone_and_a_sweep_with_none_completed_says_so(tmp_path: Path, capsys) -> None:
    """Divergence depends on the sampled values, so every trial runs; each failure is one line, no traceback."""
    sgd = f"--set={OPT}.class_path=torch.optim.SGD"
    huge_lr = f"--param={OPT}.init_args.lr=choice:1e30"
    no_norm = "--set=model.init_args.net.init_args.batch_norm=false"
    with pytest.raises(SystemExit) as exit_info:
        sweep_command.main(sweep_args(tmp_path, sgd, huge_lr, no_norm, "--set=model.init_args.scheduler=null"))
    captured = capsys.readouterr()
    assert exit_info.value.code == 1 and captured.out.count("fail") == 2 and not (tmp_path / "best.yaml").exists()
    assert "Traceback" not in captured.err and captured.err.count("failed: ") == 2
    assert captured.err.splitlines()[-1].startswith("error: no trial completed")


def test_a_later_trial_the_cli_refuses_fails_alone(tmp_path: Path, capsys) -> None:
    """Only the first trial's refusal stops the sweep; a later one drew a bad value from a space with good ones too."""
    study = sweep_command.main(sweep_args(tmp_path, "--param=model.init_args.net.init_args.dropout=choice:2,0.1"))
    assert [(t.state.name, t.params["model.init_args.net.init_args.dropout"]) for t in study.trials][1] == ("FAIL", 2)
    err = capsys.readouterr().err
    assert "trial 1 failed: refused" in err and "dropout must be in [0, 1)" in err and "Traceback" not in err


def test_choice_values_reach_the_cli_as_yaml_and_a_study_continues_only_with_its_search_space(
    tmp_path: Path, capsys
) -> None:
    args = sweep_args(tmp_path, "--param=trainer.gradient_clip_val=choice:null,0.5")
    study = sweep_command.main(args)
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED"}
    assert {t.params["trainer.gradient_clip_val"] for t in study.trials} <= {None, 0.5}
    assert len(sweep_command.main(args).trials) == 2  # the same command again: the study is done, no new trial
    other_space = sweep_args(tmp_path, "--param=trainer.gradient_clip_val=choice:0.5,1.0")
    with pytest.raises(SystemExit) as exit_info:
        sweep_command.main(other_space)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 2 and "--study_name 'sweep' exists" in err and "choice:0.5,1.0" in err


def test_two_studies_keep_their_own_best_config(tmp_path: Path) -> None:
    """Without --best_config, each study writes best.yaml (and its figures) into its own --study_dir."""
    config = str(Path(__file__).resolve().parents[1] / "configs" / "mnist_mlp.yaml")
    for name, low in (("study_a", "1e-4:1e-3"), ("study_b", "1e-2:1e-1")):
        lr = f"--param={OPT}.init_args.lr=loguniform:{low}"
        sweep_command.main(["-c", config, "--trials=1", lr, f"--study_dir={tmp_path / name}", "--", *TINY])
    rates = {}
    for name in ("study_a", "study_b"):
        best = yaml.safe_load((tmp_path / name / "best.yaml").read_text())
        rates[name] = best["model"]["init_args"]["optimizer"]["init_args"]["lr"]
        assert (tmp_path / name / "best_history.png").is_file()
    assert rates["study_a"] < 1e-3 <= 1e-2 <= rates["study_b"]
    assert not (tmp_path / "logs").exists()

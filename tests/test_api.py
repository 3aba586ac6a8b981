"""The public Python API (toobig.config, train, load_run(s), evaluate, sample, report) on real
runs, and the README's example script."""

from __future__ import annotations

import subprocess
from dataclasses import replace
import sys
from pathlib import Path

import pytest

import toobig
from toobig.config import ConfigError, RunConfig
from toobig.store import RunDir, StoreError, run_dir_name

ROOT = Path(__file__).resolve().parents[1]


def _short():
    return toobig.config("arithmetic", "n14", iters=40, interval=20, num_samples=2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    return toobig.train(_short(), seeds=[1, 2], out=str(out), device="cpu", progress=False)


def test_config_is_the_preset_with_scaled_schedule_and_section_overrides():
    cfg = toobig.config("capitals", "n28", iters=3000, learning_rate=3e-3, n_embd=20, seed=4, eval_interval=500)
    assert isinstance(cfg, RunConfig) and cfg.task.name == "capitals" and cfg.model_name == "n20"
    assert (cfg.train.max_iters, cfg.train.warmup_iters, cfg.train.learning_rate, cfg.seed) == (3000, 200, 3e-3, 4)
    assert cfg.eval.interval == 500 and cfg.model.block_size == 24  # the capitals preset's
    assert toobig.config("arithmetic", "n14", iters=3000, schedule="paper").train.warmup_iters == 2000
    with pytest.raises(ConfigError, match="train.learning_rate must be > 0"):
        toobig.config(learning_rate=-1.0)
    with pytest.raises(ConfigError, match="unknown config value 'lr'"):
        toobig.config(lr=1e-3)


def test_train_returns_runs_with_config_summary_and_curves(runs):
    assert [r.seed for r in runs] == [1, 2] and all(r.complete for r in runs)
    iters, heldout = runs[0].curve("heldout_acc")
    assert iters == [0, 20, 40] and len(heldout) == 3 and all(0.0 <= h <= 1.0 for h in heldout)
    assert runs[0].curve("loss")[1] == [r["loss"] for r in runs[0].metrics]
    with pytest.raises(KeyError, match="'accuracy' is not logged"):
        runs[0].curve("accuracy")


def test_train_takes_run_options_or_their_fields_as_keywords(runs, tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="unknown option.*batch_size"):
        toobig.train(_short(), out=tmp_path, device="cpu", batch_size=4)
    with pytest.raises(TypeError, match="options must be a toobig.RunOptions, got str 'cpu'"):
        toobig.train(_short(), out=tmp_path, options="cpu")
    with pytest.raises(ConfigError, match="--batch-shards must be an integer >= 1"):
        toobig.train(_short(), out=tmp_path, device="cpu", batch_shards=0)
    assert list(tmp_path.iterdir()) == []
    # keywords go on top of the options object
    from toobig import training as training_package

    seen = []
    monkeypatch.setattr(training_package, "train", lambda config, seeds, out, options: seen.append(options) or [])
    toobig.train(_short(), out=tmp_path, options=toobig.RunOptions(max_members=3, tensorboard=True), device="cpu")
    toobig.train(_short(), out=tmp_path, compile=True)
    assert seen == [toobig.RunOptions(device="cpu", max_members=3, tensorboard=True), toobig.RunOptions(compile=True)]
    monkeypatch.undo()
    # a complete run is skipped on resume, whatever else the options say
    options = toobig.RunOptions(device="cpu", progress=False, overwrite=True)
    (again,) = toobig.train(_short(), seeds=[1], out=runs[0].path.parents[1], options=options, overwrite=False, resume=True)
    assert again.path == runs[0].path and again.summary == runs[0].summary


def test_load_run_takes_str_or_path_and_load_runs_finds_every_seed(runs):
    again = toobig.load_run(str(runs[0].path))
    assert again == runs[0] and RunDir(str(runs[0].path)).path == runs[0].path
    assert [r.seed for r in toobig.load_runs(runs[0].path.parent.parent)] == [1, 2]
    with pytest.raises(StoreError, match="not a run directory"):
        toobig.load_run(runs[0].path.parent)


def test_evaluate_gives_the_logged_record_and_sample_gives_plain_completions(runs):
    run = runs[0]
    scores = toobig.evaluate(run)
    logged = next(r for r in run.metrics if r["iter"] == run.best["iter"])
    assert {k: scores[k] for k in ("add_correct", "sub_correct", "heldout_correct")} == \
        {k: logged[k] for k in ("add_correct", "sub_correct", "heldout_correct")}
    texts = toobig.sample(run, "<5+7=", num_samples=3, max_new_tokens=4)
    assert len(texts) == 3 and all(isinstance(t, str) and len(t.rstrip("\n")) <= 4 for t in texts)


def test_report_writes_the_report_of_a_runs_directory(runs, tmp_path):
    report = toobig.report(runs[0].path.parent.parent, tmp_path / "rep")
    assert report == tmp_path / "rep" / "report.md" and report.is_file() and (tmp_path / "rep" / "results.csv").is_file()


def test_sweep_trains_configurations_side_by_side_and_skips_them_after(tmp_path, capsys):
    grid = [toobig.config("arithmetic", "n14", iters=4, learning_rate=lr) for lr in (1e-2, 3e-3)]
    dry = toobig.sweep(grid, seeds=(0, 1), out=tmp_path, dry_run=True, device="cpu")
    assert dry.completed == () and sum(line.endswith(": new") for line in capsys.readouterr().out.splitlines()) == 4
    assert sorted(dry.planned) == sorted(tmp_path / run_dir_name(replace(c, seed=s)) for c in grid for s in (0, 1))
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written
    with pytest.raises(ConfigError, match="unknown executor 'slurm'"):  # a dry run checks what a run would
        toobig.sweep(grid, out=tmp_path, dry_run=True, executor="slurm")
    grid = [replace(c, seed=s) for c in grid for s in (0, 1)]  # the configurations' own seeds
    # Two members per process: two processes, not four (each starts torch).
    outcome = toobig.sweep(grid, out=tmp_path, workers=1, device="cpu", max_members=2)
    assert outcome.ok and len(outcome.completed) == 4
    runs = toobig.load_runs(tmp_path)
    assert sorted((r.config.train.learning_rate, r.seed) for r in runs) == [(3e-3, 0), (3e-3, 1), (1e-2, 0), (1e-2, 1)]
    again = toobig.sweep(iter(grid), out=tmp_path, workers=1, device="cpu", max_members=2)
    assert again.completed == () and sorted(again.skipped) == sorted(outcome.completed)
    assert outcome.planned == () and toobig.sweep(grid, out=tmp_path, dry_run=True).planned == ()
    with pytest.raises(TypeError, match="a sweep file or RunConfigs"):
        toobig.sweep(["arithmetic-n14"], out=tmp_path)
    with pytest.raises(ConfigError, match="no configurations"):
        toobig.sweep([], out=tmp_path)
    with pytest.raises(TypeError, match="unknown option"):
        toobig.sweep(grid, out=tmp_path, threads=2)


def test_reproduce_plans_and_trains_what_the_command_line_would(tmp_path, capsys):
    # A dry run of a study asked of one model: its five protocols, nothing written.
    result = toobig.reproduce("order-ablation", models="n28", num_seeds=1, out=tmp_path, dry_run=True, device="cpu")
    planned = [line for line in capsys.readouterr().out.splitlines() if line.endswith(": new")]
    assert result.report_dir is None and len(planned) == 5 and all("-n28-" in line for line in planned)
    assert not (tmp_path / "runs").exists()
    # A real one, shortened: Table 2's n14 only, its out-of-range test and the report.
    result = toobig.reproduce(["table2"], models=[" n14"], num_seeds=1, max_iters=4, out=tmp_path, device="cpu")
    assert result.failed == () and result.report_dir == tmp_path / "report"
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "verdicts.csv").is_file()
    (run,) = toobig.load_runs(tmp_path / "runs")
    assert run.config.model_name == "n14" and (run.path / "extrapolation.json").is_file()
    with pytest.raises(TypeError, match="unknown option"):
        toobig.reproduce("table2", out=tmp_path, gpus=2)
    with pytest.raises(ConfigError, match="num_seeds must be >= 1"):
        toobig.reproduce("table2", out=tmp_path, num_seeds=0)
    with pytest.raises(ConfigError, match="--models: no model named"):
        toobig.reproduce("table2", out=tmp_path, models=[" ", ""])
    with pytest.raises(ConfigError, match="a planned job resumes its runs and never overwrites them"):
        toobig.reproduce("table2", out=tmp_path, overwrite=True)


def test_the_question_example_sweeps_two_settings_and_compares_them(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "ask_a_question.py"), "20", "1", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "extrapolates more than" in result.stdout and "counted: undecided" in result.stdout
    assert len(toobig.load_runs(tmp_path)) == 2


def test_import_toobig_loads_no_torch():
    code = "import sys, toobig; assert 'torch' not in sys.modules; print(toobig.config().label)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "arithmetic-n14-paper", result.stderr


def test_the_example_trains_three_seeds_and_plots_held_out_accuracy(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "heldout_curves.py"), "40", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "heldout.png").stat().st_size > 10_000
    assert len(toobig.load_runs(tmp_path)) == 3


def test_api_names_stay_functions_once_every_submodule_is_loaded():
    """A submodule named like an API function (toobig/evaluate.py once) would replace it on import."""
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(toobig.__path__, "toobig."):
        if not info.name.endswith("ray_backend"):
            importlib.import_module(info.name)
    for name in toobig.api.__all__:
        if name in ("Run", "RunOptions"):
            continue
        assert callable(getattr(toobig, name)) and getattr(toobig, name).__module__ == "toobig.api", name


def test_train_refuses_bad_seeds_and_non_configs_before_writing_anything(tmp_path):
    out = tmp_path / "runs"
    for seeds in ([0, 0], "01", []):
        with pytest.raises(ConfigError, match=r"train\(\): seeds must be a non-empty list"):
            toobig.train(toobig.config(iters=5), seeds=seeds, out=out)
    with pytest.raises(TypeError, match=r"train\(\) takes RunConfigs"):
        toobig.train({"task": "arithmetic"}, out=out)
    with pytest.raises(ConfigError, match=r"sweep\(\): seeds must be"):
        toobig.sweep(toobig.config(iters=5), seeds=[1, 1], out=out)
    # A later configuration's missing file stops train() before the first one trains.
    missing = toobig.config("pairs", "n14", iters=5, pairs_file=str(tmp_path / "gone.tsv"))
    with pytest.raises(ConfigError, match="task.pairs_file: no such file"):
        toobig.train([toobig.config(iters=5), missing], seeds=[0], out=out)
    assert not out.exists()


def test_config_warns_when_its_schedule_does_not_fit_the_length(caplog):
    with caplog.at_level("WARNING", logger="toobig"):
        toobig.config(max_iters=300)
    assert "train.warmup_iters 2,000 >= train.max_iters 300: the learning rate never reaches its peak" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="toobig"):
        toobig.config(iters=300)
        toobig.config(iters=300, schedule="paper")  # kept on purpose
    assert caplog.text == ""

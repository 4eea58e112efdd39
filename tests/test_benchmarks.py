"""The benchmark scripts the docs quote run end to end (tiny budgets) and write what the docs read."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    """Import a script of benchmarks/ as a module (they import each other by file name)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name):
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


def test_time_to_quality_reports_each_trainer_and_when_it_reached_the_threshold(bench, tmp_path):
    ttq = bench("time_to_quality")
    out = tmp_path / "never"
    assert ttq.main(["--preset", "grid25", "--every", "10", "--max-steps", "20", "--seeds", "1", "--n", "200",
                     "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert set(report["summary"]) == {"ganforge recipe", "ganforge seed settings", "plain loop (recipe)"}
    assert report["threshold"] == {"modes": 25, "hq_percent": 80.0}
    for runs in report["runs"].values():
        (run,) = runs
        assert run["reached_s"] is None  # 20 steps are far from 25 modes at 80 %
        assert [point["step"] for point in run["curve"]] == [10, 20]
        assert run["curve"][0]["seconds"] > 0 and run["curve"][1]["seconds"] > run["curve"][0]["seconds"]
    assert report["summary"]["ganforge recipe"]["reached"] == "0/1"
    assert report["summary"]["plain loop (recipe)"]["ms_per_step"] > 0

    out = tmp_path / "always"
    assert ttq.main(["--preset", "grid25", "--every", "10", "--max-steps", "20", "--seeds", "1", "--n", "200",
                     "--modes", "0", "--hq", "0", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    for runs in report["runs"].values():
        assert runs[0]["reached_step"] == 10 and len(runs[0]["curve"]) == 1  # stops at the first evaluation
    assert report["summary"]["plain loop (recipe)"]["reached"] == "1/1"


@pytest.mark.slow
def test_ablation_writes_tables_with_verdicts_and_no_partial_file(bench, tmp_path):
    ablation = bench("ablation")
    out = tmp_path / "ablation"
    assert ablation.main(["--data", "ring8", "--base-preset", "ring8", "--steps", "8", "--seeds", "2",
                          "--only", "no r1", "--jobs", "1", "--n", "200", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    table = {row["config"]: row for row in report["results"]["ring8"]["table"]}
    assert "skipped" not in table["no r1"], table["no r1"]  # R1's options go with it
    assert table["no r1"]["seeds"] == 2 and "verdict" in table["no r1"]["modes"]
    assert "verdict" not in table["baseline"]["modes"]
    text = out.with_suffix(".md").read_text()
    assert "| baseline |" in text and "| no r1 |" in text and "`ring8` preset" in text
    assert not out.with_suffix(".partial.json").exists()


def test_ablation_merge_replaces_only_what_is_marked(bench):
    ablation = bench("ablation")
    base = {"regularizer_options": {"r1": {"gamma": 0.1}, "r2": {"gamma": 1.0}}, "steps": 5}
    merged = ablation.merge(base, {"regularizer_options": {"r1": {"gamma": 1.0}}})
    assert merged["regularizer_options"] == {"r1": {"gamma": 1.0}, "r2": {"gamma": 1.0}}
    replaced = ablation.merge(base, {"regularizer_options": ablation.Replace(r2={"gamma": 1.0})})
    assert replaced["regularizer_options"] == {"r2": {"gamma": 1.0}} and base["steps"] == 5


def test_the_r3gan_step_timing_of_the_gpu_check_runs_on_the_cpu(bench, tmp_path):
    r3 = bench("r3gan_step")
    out = tmp_path / "r3gan.json"
    assert r3.main(["--device", "cpu", "--width", "16", "--batch", "4", "--steps", "2", "--warmup", "1",
                    "--graphs", "off", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    (run,) = report["runs"]
    assert report["preset"] == "r3gan-cifar10" and report["width"] == 16 and report["batch_size"] == 4
    assert run["path"] == "eager" and run["steps_per_s"] > 0 and run["images_per_s"] == pytest.approx(
        4 * run["steps_per_s"])


def test_same_budget_suites_take_presets_as_they_are_but_for_length_and_data(bench):
    same_budget = bench("same_budget")
    from ganforge.presets import get_preset

    recipes = same_budget.suite_recipes("mnist-r3gan")
    assert list(recipes) == ["mnist", "dcgan", "r3gan-mnist"]
    preset = get_preset("r3gan-mnist")
    assert recipes["r3gan-mnist"] == {k: v for k, v in preset.items() if k not in ("steps", "data")}
    assert "steps" in preset and preset["data"] == "mnist"  # what was left out was there
    stacked = same_budget.suite_recipes("stacked-r3gan")
    assert "data" not in stacked["dcgan"] and same_budget.SUITE_DATA["stacked-r3gan"] == "stacked-mnist"
    recipes["mnist"]["loss"] = "bce"  # a copy: the suite's own entries are not changed
    assert same_budget.suite_recipes("mnist-r3gan")["mnist"]["loss"] == "hinge"


@pytest.mark.slow
def test_r3gan_trials_train_the_preset_with_one_change_and_record_what_it_made(bench, tiny_mnist, tmp_path):
    trials = bench("r3gan_trials")
    assert trials.TRIALS["r3gan-mnist (gamma 1, lr 2e-3, EMA 0.99)"] == {}  # the preset itself is one trial
    out = tmp_path / "trials"
    assert trials.main(["--steps", "2", "--n", "40", "--jobs", "1", "--only", "no EMA",
                        "--mnist-root", str(tiny_mnist), "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert list(report["results"]) == ["no EMA"] and report["trials"]["no EMA"] == {"ema_decay": None}
    (result,) = report["results"].values()
    assert result["seconds"] > 0 and result["fid"] > 0 and result["classes"] >= 1
    with pytest.raises(SystemExit):
        trials.main(["--only", "no such trial", "--mnist-root", str(tiny_mnist), "--out", str(out)])

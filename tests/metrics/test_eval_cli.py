"""``ganforge eval`` on a tiny saved run."""

from __future__ import annotations

import json

import pytest

from ganforge import Trainer
from ganforge.cli import main


@pytest.fixture
def run_dir(tiny, tmp_path):
    Trainer(data="grid25", gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)}, **tiny).fit()
    return tmp_path / "run"


def test_eval_prints_and_saves_the_metrics(run_dir, capsys):
    assert main(["eval", str(run_dir), "--n", "500"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["samples"] == 500 and saved["step"] == 20 and saved["data"] == "grid25"
    assert {"modes", "hq_percent", "reverse_kl"} <= saved.keys()
    assert f"{saved['reverse_kl']:.4g}  (lower is better)" in out
    assert f"Saved {run_dir / 'eval.json'}" in out
    assert (run_dir / "eval_scatter.png").is_file()


def test_eval_of_a_checkpoint_file_to_a_chosen_output_as_json(run_dir, tmp_path, capsys):
    ckpt = run_dir / "checkpoints" / "step_0000020.pt"
    out_file = tmp_path / "elsewhere" / "m.json"
    assert main(["eval", str(ckpt), "--n", "300", "--out", str(out_file), "--json", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out_file.read_text()) and printed["samples"] == 300


def test_eval_help_has_examples_and_a_missing_run_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "examples:" in capsys.readouterr().out
    code = main(["eval", str(tmp_path / "nothing")])
    assert code in (1, 2)
    assert "ganforge: error:" in capsys.readouterr().err

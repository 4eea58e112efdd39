"""Issue 17, item 8, and two defects of issue 13 in the same code: resume edge cases.

* an edited ``config.json`` is refused, naming the changed fields and how to proceed;
* a finished run answers "already finished at step N; pass --steps M to continue";
* ``--resume RUN --gen dcgan`` says the model cannot change on resume;
* a truncated newest checkpoint is skipped with a warning naming both files;
* resuming from an older checkpoint moves the abandoned continuation's newer checkpoints aside
  (before: pruning deleted each new checkpoint as it was written, and a later --resume continued the
  abandoned branch);
* a checkpoint written between two logs holds the losses of every step its weights have seen (before:
  the steps since the last log were missing).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.io import checkpoint as ckpt
from ganforge.io.rundir import ABANDONED_PREFIX


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def run(small, tmp_path, capsys):
    """A finished 10-step run with checkpoints at 5 and 10; its messages are read away."""
    ganforge.Trainer(**{**small, "steps": 10}).fit()
    capsys.readouterr()
    return tmp_path / "run"


# -- an edited config.json ----------------------------------------------------------------------------------


def _edit(run, **changes):
    path = run / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_an_edited_fixed_setting_is_refused_by_name(run, capsys, helpers):
    """The finding: an edited config.json was silently ignored and overwritten."""
    _edit(run, batch_size=32, seed=3)
    before = helpers.snapshot(run)
    assert main(["train", "--resume", str(run), "--steps", "20", "--no-progress"]) == 2
    assert _error_line(capsys.readouterr().err) == (
        f"ganforge: error: {run}/config.json was edited after ganforge wrote it (batch_size: 16 -> 32; seed: 0 -> 3). "
        "A resume takes its settings from the checkpoint and rewrites config.json, so the edit would be lost. "
        "batch_size, seed cannot change on resume (the checkpoint's weights, optimizer state and data position "
        "belong to the saved values): undo the edit (or delete config.json) to resume, or start a new run with the "
        "new settings in another --out.")
    assert helpers.snapshot(run) == before


def test_an_edited_changeable_setting_points_to_the_flag(run, capsys, helpers):
    _edit(run, steps=40)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "(steps: 10 -> 40)" in line
    assert line.endswith("Undo the edit (or delete config.json) and pass the change with --resume instead, e.g. "
                         "--steps 40.")
    (run / "config.json").unlink()  # deleting it is fine: the resume writes it again
    assert main(["train", "--resume", str(run), "--steps", "15", "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["steps"] == 15


def test_a_resume_with_a_changed_setting_does_not_count_as_an_edit(run, capsys):
    """config.json rewritten by an earlier --resume --steps 15 (then killed before a checkpoint) is not an 'edit'."""
    assert main(["train", "--resume", str(run), "--steps", "15", "--checkpoint-every", "100", "--no-progress"]) == 0
    (run / "checkpoints" / "step_0000015.pt").unlink()  # as if killed before its checkpoint
    assert main(["train", "--resume", str(run), "--steps", "20", "--no-progress"]) == 0


# -- a finished run, a model change ---------------------------------------------------------------------------


def test_a_finished_run_says_so(run, capsys, helpers):
    """The finding: resuming a finished run printed "Resuming at step 3000 of 1000 steps"."""
    before = helpers.snapshot(run)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    assert _error_line(capsys.readouterr().err) == (
        f"ganforge: error: Run {run} already finished at step 10 (steps=10); pass --steps M with M > 10 "
        "(Trainer.resume(..., steps=M)) to continue it.")
    assert helpers.snapshot(run) == before
    assert main(["train", "--resume", str(run), "--steps", "12", "--no-progress"]) == 0
    assert "Resuming at step 10 of 12 steps" in capsys.readouterr().err


def test_a_model_change_on_resume_gives_the_reason(run, capsys):
    """The finding: '--resume RUN --gen dcgan' reported an unknown option of dcgan instead."""
    assert main(["train", "--resume", str(run), "--gen", "dcgan", "--steps", "20", "--no-progress"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"ganforge: error: Cannot change gen when resuming from {run}/checkpoints/"
                           "step_0000010.pt (gen: 'mlp' -> 'dcgan'): the model cannot change on resume: the "
                           "checkpoint holds the weights of the saved models.")


# -- a corrupt newest checkpoint --------------------------------------------------------------------------------


def test_a_truncated_newest_checkpoint_is_skipped_with_a_warning(run, capsys):
    newest = run / "checkpoints" / "step_0000010.pt"
    newest.write_bytes(newest.read_bytes()[:500])
    assert main(["train", "--resume", str(run), "--steps", "10", "--no-progress"]) == 0
    err = capsys.readouterr().err
    warning = [ln for ln in err.splitlines() if ln.startswith("ganforge: warning:")]
    assert len(warning) == 1 and warning[0].startswith(
        f"ganforge: warning: Resuming from the previous good checkpoint {run}/checkpoints/step_0000005.pt, not from "
        f"the newer {newest}: Cannot load checkpoint {newest}: it is truncated or corrupt")
    assert "Resuming at step 5 of 10 steps" in err
    assert ckpt.load_checkpoint(newest)["step"] == 10  # written again by the resumed run
    aside = next((run / "checkpoints").glob(ABANDONED_PREFIX + "*"))
    assert (aside / "step_0000010.pt").stat().st_size == 500  # the damaged file is kept, out of the way


# -- issue 13: resuming from an older checkpoint ------------------------------------------------------------------


def test_resuming_from_an_older_checkpoint_sets_the_newer_ones_aside(small, tmp_path, capsys, helpers):
    run = tmp_path / "run"
    ganforge.Trainer(**{**small, "steps": 20, "keep_checkpoints": 2}).fit()  # keeps 15 and 20
    old = {p.name: p.read_bytes() for p in (run / "checkpoints").glob("*.pt")}
    old_metrics = (run / "metrics.jsonl").read_text()
    capsys.readouterr()
    # Branch off at step 15 with another remedy, to step 17.
    branch = ganforge.Trainer.resume(run / "checkpoints" / "step_0000015.pt", steps=17, grad_clip=0.5)
    branch.fit()
    err = capsys.readouterr().err
    aside = next((run / "checkpoints").glob(ABANDONED_PREFIX + "*"))
    assert re.search(rf"Resuming from step 15: moved the 1 newer checkpoint\(s\) of the abandoned continuation "
                     rf"\(step_0000020\.pt\) to {re.escape(str(aside))}, with a copy of its metrics\.jsonl; "
                     rf"'--resume {re.escape(str(run))}' now continues from here\.", err), err
    assert (aside / "step_0000020.pt").read_bytes() == old["step_0000020.pt"]  # nothing lost
    assert (aside / "metrics.jsonl").read_text() == old_metrics
    # The new branch's checkpoints are the run's; pruning no longer deletes them.
    assert helpers.checkpoint_steps(run) == [15, 17]
    assert ckpt.load_checkpoint(run / "checkpoints" / "step_0000017.pt")["history"]["g_loss"] == branch.history.g_loss
    again = ganforge.Trainer.resume(run, steps=19)  # continues the new branch, not the abandoned one
    assert again.setup().step == 17
    again.fit()
    assert again.history.g_loss[:17] == branch.history.g_loss
    assert helpers.checkpoint_steps(run) == [17, 19]


def test_resuming_from_best_pt_sets_the_later_checkpoints_aside(small, tmp_path, capsys, helpers):
    run = tmp_path / "run"
    ganforge.Trainer(**{**small, "steps": 20}).fit()
    best = run / "checkpoints" / ckpt.BEST_CHECKPOINT
    best.write_bytes((run / "checkpoints" / "step_0000010.pt").read_bytes())  # as if step 10 evaluated best
    resumed = ganforge.Trainer.resume(best, steps=20)
    assert resumed.setup().step == 10
    resumed.fit()
    aside = next((run / "checkpoints").glob(ABANDONED_PREFIX + "*"))
    assert sorted(p.name for p in aside.iterdir()) == ["metrics.jsonl", "step_0000015.pt", "step_0000020.pt"]
    assert best.is_file() and ckpt.load_checkpoint(best)["step"] == 10  # the file resumed from stays
    assert helpers.checkpoint_steps(run) == [5, 10, 15, 20]  # the new branch's 15 and 20
    assert ckpt.load_checkpoint(run / "checkpoints" / "step_0000020.pt")["history"]["g_loss"] == resumed.history.g_loss


# -- issue 13: a checkpoint between two logs -------------------------------------------------------------------


def test_best_pt_between_two_logs_holds_every_step(small, tmp_path):
    """The first evaluation (step 5, log_every=10) writes best.pt: it used to hold a history of 0 steps."""
    trainer = ganforge.Trainer(**{**small, "steps": 8, "log_every": 10, "checkpoint_every": 0, "eval_every": 5,
                                  "eval_samples": 200})
    trainer.fit()
    best = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / ckpt.BEST_CHECKPOINT)
    assert best["step"] == 5 and best["history"]["g_loss"] == trainer.history.g_loss[:5]
    assert best["history"]["d_loss"] == trainer.history.d_loss[:5]
    # The log at the end still averages all 8 steps.
    logs = [r for r in trainer.history.records if "g_loss" in r]
    assert [r["step"] for r in logs] == [8]
    assert logs[0]["g_loss"] == pytest.approx(sum(trainer.history.g_loss) / 8, rel=1e-6)


class _SaveBeforeStep4(ganforge.Trick):
    """Test trick: user code holding the Trainer saves a checkpoint by hand after 3 steps, between two logs."""

    name = "save_before_step_4"
    trainer: Any = None  # set by the test: the user's own reference to the Trainer

    def before_step(self, ctx, step):
        if step == 3:
            self.trainer.save_checkpoint(self.trainer.run_dir / "by-hand.pt")


def test_a_manual_checkpoint_between_two_logs_holds_every_step(small, tmp_path, register):
    register(tricks=[_SaveBeforeStep4])
    trainer = ganforge.Trainer(**{**small, "steps": 10, "log_every": 10, "tricks": ["save_before_step_4"]})
    trainer.setup()
    trainer.tricks[0].trainer = trainer
    trainer.fit()
    state = ckpt.load_checkpoint(tmp_path / "run" / "by-hand.pt")
    assert state["step"] == 3 and state["history"]["g_loss"] == trainer.history.g_loss[:3]
    assert torch.isfinite(torch.tensor(state["history"]["d_loss"])).all() and len(state["history"]["d_loss"]) == 3


def test_a_folder_with_only_other_checkpoints_names_them(run):
    """E.g. resumed from best.pt with every step file set aside, then killed before a new one."""
    aside = run / "checkpoints" / "abandoned-x"
    aside.mkdir()
    for _, path in ckpt.list_checkpoints(run):
        path.rename(aside / path.name)
    (run / "checkpoints" / ckpt.BEST_CHECKPOINT).write_bytes((aside / "step_0000005.pt").read_bytes())
    with pytest.raises(ganforge.CheckpointError, match=re.escape(
            f"No periodic checkpoint (step_*.pt) in {run}/checkpoints; pass one of the run's other checkpoint files "
            "instead: checkpoints/abandoned-x/step_0000005.pt, checkpoints/abandoned-x/step_0000010.pt, "
            "checkpoints/best.pt.")):
        ganforge.Trainer.resume(run)

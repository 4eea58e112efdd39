"""Issue 24: files ganforge reads back -- checkpoints and the classifier cache -- that are newer, hostile or damaged.

* B23: a checkpoint of a newer format stops ``--resume`` with "upgrade ganforge"; nothing is set aside.
* S6: a pickle that calls ``os.system`` is named as such, and torch's hint to load it with
  ``weights_only=False`` is never passed on.
* S8, S9: a damaged classifier cache entry is named in one line, set aside and rebuilt; the evaluation goes on.
* Unclear items: a read-only cache (d) and a checkpoint of another ganforge version (e).
"""

from __future__ import annotations

import os
import re
import warnings

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.io import checkpoint as ckpt
from ganforge.io.cache import CACHE_ENV
from ganforge.metrics import classifier as clf
from ganforge.metrics import evaluate


def _run(small, steps: int = 10) -> ganforge.Trainer:
    trainer = ganforge.Trainer(**{**small, "steps": steps})
    trainer.fit()
    return trainer


def _rewrite(path, **changes) -> None:
    """Rewrite a checkpoint with some top-level entries changed (as another ganforge would have written it)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state.update(changes)
    torch.save(state, path)


# -- B23: a newer format stops the resume -------------------------------------------------------------


def test_resume_stops_at_a_newer_format_checkpoint_and_moves_nothing(small, tmp_path, helpers):
    _run(small)
    run = tmp_path / "run"
    newest = run / "checkpoints" / ckpt.checkpoint_name(10)
    _rewrite(newest, format_version=ckpt.FORMAT_VERSION + 1, ganforge_version="9.0.0")
    before = helpers.snapshot(run)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ckpt.ResumeWarning)  # no "resuming from the previous good checkpoint"
        with pytest.raises(ganforge.CheckpointError) as info:
            ganforge.Trainer.resume(run, steps=20)
    message = str(info.value)
    assert "\n" not in message
    assert str(newest) in message
    assert f"format {ckpt.FORMAT_VERSION + 1}" in message and f"format {ckpt.FORMAT_VERSION}" in message
    assert "9.0.0" in message and "upgrade ganforge (pip install -u ganforge)" in message.lower()
    assert helpers.snapshot(run) == before
    assert not list((run / "checkpoints").glob("abandoned-*"))


def test_cli_resume_stops_at_a_newer_format_checkpoint(small, tmp_path, helpers, capsys):
    _run(small)
    run = tmp_path / "run"
    newest = run / "checkpoints" / ckpt.checkpoint_name(10)
    _rewrite(newest, format_version=ckpt.FORMAT_VERSION + 1)
    before = helpers.snapshot(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "20", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ganforge: error: ") and str(newest) in err[0]
    assert "pip install -U ganforge" in err[0]
    assert helpers.snapshot(run) == before


def test_a_newer_format_behind_a_damaged_newest_checkpoint_still_stops(small, tmp_path, helpers):
    """The older good checkpoint is used only when no newer-format file lies between it and the newest."""
    _run(small, steps=15)
    folder = tmp_path / "run" / "checkpoints"
    _rewrite(folder / ckpt.checkpoint_name(10), format_version=ckpt.FORMAT_VERSION + 1)
    (folder / ckpt.checkpoint_name(15)).write_bytes(b"half a file")
    before = helpers.snapshot(tmp_path / "run")
    with pytest.raises(ganforge.CheckpointError, match=re.escape(str(folder / ckpt.checkpoint_name(10)))):
        ganforge.Trainer.resume(tmp_path / "run", steps=20)
    assert helpers.snapshot(tmp_path / "run") == before


# -- e: another ganforge version resumes with a note ----------------------------------------------------


def test_resume_of_another_versions_checkpoint_notes_both_versions(small, tmp_path, capsys):
    _run(small)
    run = tmp_path / "run"
    _rewrite(run / "checkpoints" / ckpt.checkpoint_name(10), ganforge_version="0.1.0")
    with pytest.warns(ckpt.ResumeWarning) as record:
        ganforge.Trainer.resume(run, steps=20)
    notes = [str(w.message) for w in record if "0.1.0" in str(w.message)]
    assert len(notes) == 1 and ganforge.__version__ in notes[0] and "\n" not in notes[0]
    assert main(["train", "--resume", str(run), "--steps", "15", "--no-progress"]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "0.1.0" in ln]
    assert len(lines) == 1 and lines[0].startswith("ganforge: warning: ")


def test_resume_of_this_versions_checkpoint_has_no_version_note(small, tmp_path):
    _run(small)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ganforge.Trainer.resume(tmp_path / "run", steps=20)
    assert not [w for w in record if "written by ganforge" in str(w.message)]


# -- S6: a pickle that runs a command -----------------------------------------------------------------


class RunsCommand:
    """Unpickling this calls ``os.system(command)``: the commonest malicious checkpoint."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _hostile(tmp_path, legacy: bool = False):
    marker = tmp_path / "command-ran"
    path = tmp_path / "hostile.pt"
    torch.save({"format": ckpt.FORMAT, "format_version": ckpt.FORMAT_VERSION,
                "payload": RunsCommand(f"touch {marker}")}, path, _use_new_zipfile_serialization=not legacy)
    return path, marker, f"{os.system.__module__}.system"  # posix.system on Linux and macOS, nt.system on Windows


def _check_hostile_message(message: str, path, global_name: str) -> None:
    assert "\n" not in message and str(path) in message
    assert global_name in message
    assert "truncated or corrupt" not in message
    assert "will likely succeed" not in message and "add_safe_globals" not in message  # torch's hints
    assert message.count("weights_only=False") == 1
    assert re.search(r"[Dd]o not set weights_only=False", message)  # a warning, never advice
    assert "trust" in message


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_calling_os_system_is_named_and_never_runs(tmp_path, legacy):
    path, marker, global_name = _hostile(tmp_path, legacy)
    with pytest.raises(ganforge.CheckpointError) as info:
        ckpt.load_checkpoint(path)
    _check_hostile_message(str(info.value), path, global_name)
    assert not marker.exists()


def test_cli_eval_of_a_hostile_checkpoint_does_not_pass_on_torchs_hint(tmp_path, capsys):
    path, marker, global_name = _hostile(tmp_path)
    assert main(["eval", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ganforge: error: ")
    _check_hostile_message(err[0], path, global_name)
    assert not marker.exists()


def test_a_hostile_newest_checkpoint_is_skipped_with_a_warning_naming_it(small, tmp_path):
    _run(small)
    run = tmp_path / "run"
    marker = tmp_path / "command-ran"
    newest = run / "checkpoints" / ckpt.checkpoint_name(10)
    torch.save({"format": ckpt.FORMAT, "format_version": 1, "payload": RunsCommand(f"touch {marker}")}, newest)
    with pytest.warns(ckpt.ResumeWarning) as record:
        trainer = ganforge.Trainer.resume(run, steps=20)
    assert trainer.setup().step == 5
    text = " ".join(str(w.message) for w in record)
    assert str(newest) in text and f"{os.system.__module__}.system" in text and "will likely succeed" not in text
    assert not marker.exists()


# -- S8, S9: a damaged classifier cache -----------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def tiny_run(image_data, cache):
    """A one-step trainer on the 64-image ``tiny_images`` set (its classifier trains in well under a second)."""
    return ganforge.Trainer(data=image_data, steps=1, batch_size=16, latent_dim=8, progress=False, device="cpu",
                            gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)}, sample_every=0,
                            checkpoint_every=0, out_dir=None)


def _damage(path, kind: str) -> None:
    data = path.read_bytes()
    path.unlink()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(b"not a torch file " * 64)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
        (path / "inside").write_text("x")
    elif kind == "wrong-content":
        torch.save({"model": {"weight": torch.zeros(2)}, "meta": {"dataset": "x"}}, path)
    elif kind == "hostile":
        torch.save({"model": RunsCommand(f"touch {path.parent / 'command-ran'}"), "meta": {}}, path)
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty", "folder", "wrong-content", "hostile"])
def test_a_damaged_classifier_cache_is_named_set_aside_and_rebuilt(kind, tiny_run, cache):
    first = evaluate(tiny_run, n=64)
    path = cache / "classifiers" / next(p.name for p in (cache / "classifiers").iterdir())
    _damage(path, kind)
    with pytest.warns(UserWarning) as record:
        again = evaluate(tiny_run, n=64)
    notes = [str(w.message) for w in record if str(path) in str(w.message)]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert type(record[[str(w.message) for w in record].index(notes[0])].message).__module__.startswith("ganforge")
    assert again == first  # the same classifier, retrained deterministically
    assert path.is_file() and path.read_bytes() != b""
    rebuilt = torch.load(path, weights_only=True)
    assert rebuilt["meta"]["dataset"] == "tiny_images" and rebuilt["meta"]["hash"] in path.name
    aside = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".corrupt")]
    assert len(aside) == 1  # kept for a look, never loaded again
    assert not (path.parent / "command-ran").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate(tiny_run, n=64) == first  # the rebuilt entry loads without a word


def test_a_damaged_entry_is_rebuilt_each_time_without_piling_up(tiny_run, cache):
    evaluate(tiny_run, n=64)
    path = next((cache / "classifiers").iterdir())
    for _ in range(3):
        path.write_bytes(b"garbage")
        with pytest.warns(UserWarning, match=re.escape(str(path))):
            evaluate(tiny_run, n=64)
    assert len([p for p in path.parent.iterdir() if ".corrupt" in p.name]) == 1


# -- d: a cache that cannot be written -----------------------------------------------------------------


def test_an_unwritable_cache_warns_naming_it_and_the_evaluation_goes_on(image_data, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))  # nothing can be created below a file
    trainer = ganforge.Trainer(data=image_data, steps=1, batch_size=16, latent_dim=8, progress=False, device="cpu",
                               gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)}, sample_every=0,
                               checkpoint_every=0, out_dir=None)
    with pytest.warns(UserWarning) as record:
        result = evaluate(trainer, n=64)
    assert result["feature"] == "classifier" and "fid" in result
    notes = [str(w.message) for w in record if CACHE_ENV in str(w.message)]
    assert all("\n" not in note for note in notes)
    assert len([n for n in notes if "domain classifier" in n and str(blocker / "cache" / "classifiers") in n]) == 1
    assert len([n for n in notes if "reference statistics" in n and str(blocker / "cache" / "reference") in n]) == 1


def test_the_classifier_cache_is_written_by_rename_never_through_a_link(image_data, cache, tmp_path):
    data = ganforge.create_plugin("dataset", image_data)
    _, meta = clf.load_or_train(data)
    path = cache / "classifiers" / os.path.basename(meta["cache"])
    path.unlink()
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    path.symlink_to(victim)  # a planted link: a writer opening the path would overwrite the victim
    with pytest.warns(UserWarning, match=re.escape(str(path))):  # the link does not hold a classifier
        clf.load_or_train(data)
    assert victim.read_text() == "the user's file"
    assert path.is_file() and not path.is_symlink()
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name]

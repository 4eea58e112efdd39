"""Issue 24 (S14, S16, S17, S28, F12, F16): ganforge writes and deletes only its own files, never through a link.

Every file of the run folder, the samples and the evaluation outputs is written to a temporary file in its
folder and renamed over the destination: a link planted at the destination is replaced (its target keeps its
content), a link in place of a folder inside the run is refused, a full disk leaves the previous file intact.
``--overwrite`` resolves what it deletes and never deletes outside the run. Each test runs the command in this
process (``main([...])``) and checks the files afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.io.rundir import MARKER_FILE, read_marker
from ganforge.io.runlock import OWNER_FILE, RunLock

SMALL = ["--data", "grid25", "--batch-size", "16", "--latent-dim", "8", "--gen-option", "hidden=[32,32]",
         "--disc-option", "hidden=[32,32]", "--device", "cpu", "--log-every", "5", "--sample-every", "5",
         "--checkpoint-every", "5", "--no-progress"]


def _train(out, *extra) -> int:
    return main(["train", *SMALL, "--out", str(out), *extra])


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 5-step grid25 run (checkpoint, samples/step_0000005.png), copied by each test that changes it."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert _train(run, "--steps", "5") == 0
    return run


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy, symlinks=True)
    return copy


@pytest.fixture
def victim(tmp_path):
    """A file of the user's outside the run, that links planted in the run point to."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "victim.txt"
    path.write_bytes(b"the user's own file\n")
    return path


def _plant_link(link: Path, target: Path) -> None:
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)


def _regular(path: Path) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def _listing(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``folder`` (the folder itself included) with its type, size and modification time."""
    entries = [folder, *sorted(folder.rglob("*"))]
    return {str(p.relative_to(folder)): (os.lstat(p).st_mode, os.lstat(p).st_size, os.lstat(p).st_mtime_ns)
            for p in entries}


# -- S14: --overwrite deletes nothing outside the run ------------------------------------------------------------


def test_overwrite_never_deletes_through_a_link_out_of_the_run(run, tmp_path, victim, capsys):
    """The finding: a link inside the run plus a marker entry through it (link/secret.txt) deleted the user's file."""
    secret = victim.parent / "secret.txt"
    secret.write_text("keep me")
    (run / "link").symlink_to(victim.parent)  # a folder link
    (run / "alias.txt").symlink_to(secret)  # a file link
    marker = read_marker(run)
    marker["files"] += ["link/secret.txt", "link/victim.txt", "alias.txt"]
    marker["dirs"] += ["link"]
    (run / MARKER_FILE).write_text(json.dumps(marker))
    assert _train(run, "--steps", "5", "--overwrite", "--seed", "1") == 0
    assert secret.read_text() == "keep me"
    assert victim.read_bytes() == b"the user's own file\n"
    assert sorted(p.name for p in victim.parent.iterdir()) == ["secret.txt", "victim.txt"]
    assert json.loads((run / "config.json").read_text())["seed"] == 1  # the run itself was replaced


# -- S16, S17: no write follows a planted link ------------------------------------------------------------------


def test_the_owner_file_is_not_written_through_a_link(run, victim):
    """The finding: .ganforge-run.owner written through a planted link overwrote its target, then the link was
    removed, hiding what happened."""
    _plant_link(run / OWNER_FILE, victim)
    lock = RunLock(run).acquire()
    try:
        assert _regular(run / OWNER_FILE)
        assert json.loads((run / OWNER_FILE).read_text())["pid"] == os.getpid()
        assert victim.read_bytes() == b"the user's own file\n"
    finally:
        lock.release()
    assert victim.read_bytes() == b"the user's own file\n"
    assert not (run / OWNER_FILE).exists() and not (run / OWNER_FILE).is_symlink()


def test_training_samples_and_metrics_are_not_written_through_links(run, victim):
    """The finding: samples/step_N.png written through a planted link overwrote its target."""
    _plant_link(run / "samples" / "step_0000010.png", victim)
    assert main(["train", "--resume", str(run), "--steps", "10", "--no-progress"]) == 0
    assert victim.read_bytes() == b"the user's own file\n"
    png = run / "samples" / "step_0000010.png"
    assert _regular(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_fresh_run_does_not_append_its_metrics_through_a_link(run, victim):
    _plant_link(run / "metrics.jsonl", victim)
    assert _train(run, "--steps", "5", "--overwrite") == 0
    assert victim.read_bytes() == b"the user's own file\n"
    assert _regular(run / "metrics.jsonl")
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [5]


def test_a_planted_lock_link_is_refused_naming_it(run, victim, capsys):
    _plant_link(run / ".ganforge-run.lock", victim)
    assert main(["train", "--resume", str(run), "--steps", "10", "--no-progress"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"ganforge: error: Cannot lock the run folder at {run}/.ganforge-run.lock: "
                           f"{run}/.ganforge-run.lock is a symbolic link (to {victim})"), line
    assert victim.read_bytes() == b"the user's own file\n"


def test_a_linked_folder_inside_the_run_is_refused(run, victim, capsys):
    """A link in place of samples/ would make the run write its pictures elsewhere: refused in one line."""
    elsewhere = victim.parent
    shutil.rmtree(run / "samples")
    (run / "samples").symlink_to(elsewhere)
    assert main(["train", "--resume", str(run), "--steps", "10", "--no-progress"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"ganforge: error: Cannot write into {run}/samples: {run}/samples is a "
                           f"symbolic link (to {elsewhere}), and ganforge follows no link inside a run folder"), line
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim.txt"]


@pytest.mark.parametrize("command, outputs", [
    (["sample"], ["sample.png"]),
    (["interpolate", "--rows", "2", "--steps", "3"], ["interp_slerp.png"]),
    (["eval", "--n", "200"], ["eval.json", "eval_scatter.png"]),
])
def test_sample_and_eval_outputs_replace_a_planted_link(run, victim, command, outputs, capsys):
    """The findings: sample.png, eval.json and eval_scatter.png were written through planted links."""
    for name in outputs:
        _plant_link(run / name, victim)
    assert main([command[0], str(run), *command[1:]]) == 0
    assert victim.read_bytes() == b"the user's own file\n"
    for name in outputs:
        assert _regular(run / name), name
    if "eval.json" in outputs:
        assert json.loads((run / "eval.json").read_text())["modes"] >= 0


def test_an_out_that_is_a_link_is_replaced_not_followed(run, victim, tmp_path):
    out = tmp_path / "samples.npz"
    _plant_link(out, victim)
    assert main(["sample", str(run), "-n", "10", "--out", str(out)]) == 0
    assert victim.read_bytes() == b"the user's own file\n"
    assert _regular(out) and np.load(out)["samples"].shape == (10, 2)


# -- S28: --resume FILE.pt in a folder that is not a run ---------------------------------------------------------


def test_resume_in_a_folder_that_is_not_a_run_keeps_the_users_metrics(trained, tmp_path, capsys):
    """The finding: the resume replaced the user's own metrics.jsonl and adopted it into the marker."""
    mine = tmp_path / "project"
    mine.mkdir()
    shutil.copy(trained / "checkpoints" / "step_0000005.pt", mine / "model.pt")
    (mine / "metrics.jsonl").write_bytes(b'{"my": "own measurements"}\n')
    before = (mine / "metrics.jsonl").read_bytes()
    assert main(["train", "--resume", str(mine / "model.pt"), "--steps", "10", "--no-progress"]) == 1
    assert _one_error_line(capsys.readouterr().err) == (
        f"ganforge: error: Cannot resume into {mine}: it is not a ganforge run (it has no {MARKER_FILE} marker) and "
        "holds metrics.jsonl, which the resumed run would write over. Move the checkpoint into a folder of its own "
        f"(e.g. {mine}/run/checkpoints/) and resume from there, or move these files.")
    assert (mine / "metrics.jsonl").read_bytes() == before
    assert sorted(p.name for p in mine.iterdir()) == ["metrics.jsonl", "model.pt"]


def test_an_old_run_without_marker_is_still_adopted(trained, tmp_path):
    """A run of an older ganforge (config.json, metrics.jsonl, checkpoints/, no marker) still resumes."""
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    for name in (MARKER_FILE,):
        (old / name).unlink()
    assert main(["train", "--resume", str(old), "--steps", "10", "--no-progress"]) == 0
    steps = [json.loads(line)["step"] for line in (old / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10]
    assert "metrics.jsonl" in read_marker(old)["files"]


# -- F12: a full disk leaves the previous --out intact ------------------------------------------------------------


@pytest.fixture
def disk_full(monkeypatch):
    """Every fsync of a file raises ENOSPC, as a full disk does when the written data is committed."""
    real = os.fsync

    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return monkeypatch


@pytest.mark.parametrize("name", ["out.png", "out.npz", "out.pt"])
def test_sample_on_a_full_disk_keeps_the_previous_out(run, tmp_path, name, disk_full, capsys):
    """The finding: the previous X was destroyed and a partial file left (npz/png: a line without the path; .pt: a
    traceback)."""
    folder = tmp_path / "results"
    folder.mkdir()
    out = folder / name
    out.write_bytes(b"the previous samples")
    assert main(["sample", str(run), "-n", "50", "--out", str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert re.fullmatch(rf"ganforge: error: Cannot write {re.escape(str(out))}: no space is left on the device "
                        r"\(it needs [\d.]+ k?B; [\d.]+ [kMGT]?B free\)\. Free some space\.", line), line
    assert out.read_bytes() == b"the previous samples"
    assert sorted(p.name for p in folder.iterdir()) == [name]  # no temporary file left
    disk_full.undo()
    assert main(["sample", str(run), "-n", "50", "--out", str(out)]) == 0
    if name.endswith(".pt"):
        assert torch.load(out, weights_only=True)["samples"].shape == (50, 2)
    elif name.endswith(".npz"):
        assert np.load(out)["samples"].shape == (50, 2)
    else:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- F16: eval --out elsewhere writes nothing into the run --------------------------------------------------------


def test_eval_with_out_elsewhere_leaves_the_run_untouched(run, tmp_path, capsys):
    """The finding: a read-only run could not be evaluated even with --out elsewhere (eval_scatter.png went into the
    run). Tests run as root, so the run's listing and modification times stand in for a read-only folder."""
    before = _listing(run)
    out = tmp_path / "results" / "grid.json"
    assert main(["eval", str(run), "--n", "200", "--out", str(out)]) == 0
    assert _listing(run) == before
    result = json.loads(out.read_text())
    assert result["scatter"] == str(tmp_path / "results" / "grid_scatter.png")
    assert (tmp_path / "results" / "grid_scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["grid.json", "grid_scatter.png"]


# -- unclear items -----------------------------------------------------------------------------------------------


def test_run_files_honour_the_umask(run, tmp_path):
    """Item a: checkpoints and config.json were 0600 whatever the umask; a shared group could not resume."""
    old = os.umask(0o027)
    try:
        assert _train(tmp_path / "shared", "--steps", "5") == 0
    finally:
        os.umask(old)
    for rel in ("config.json", "checkpoints/step_0000005.pt", "metrics.jsonl", "samples/step_0000005.png",
                MARKER_FILE):
        assert stat.S_IMODE(os.stat(tmp_path / "shared" / rel).st_mode) == 0o640, rel


@pytest.mark.parametrize("command", [["train", *SMALL, "--steps", "5"], ["sample", "RUN"], ["eval", "RUN"],
                                     ["interpolate", "RUN"]])
def test_an_empty_out_is_refused(run, tmp_path, monkeypatch, command, capsys):
    """Item b: --out "" wrote into the working folder."""
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [str(run) if a == "RUN" else a for a in command]
    assert main([*argv, "--out", ""]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("ganforge: error: --out is empty"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_eval_json_records_seed_checkpoint_and_version(run, capsys):
    """Item c: eval.json recorded neither the seed nor the checkpoint."""
    assert main(["eval", str(run), "--n", "200", "--seed", "4"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["seed"] == 4
    assert result["checkpoint"] == str((run / "checkpoints" / "step_0000005.pt").resolve())
    assert result["ganforge_version"] == ganforge.__version__


def test_eval_n_beyond_the_bound_is_refused(run, capsys):
    """Item d: --n 2e7 took 6.2 GB before any message."""
    assert main(["eval", str(run), "--n", "20000000"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("ganforge: error: --n must be at most 1000000 (got 20000000)"), line

"""Item 4: a bad checkpoint file gives a CheckpointError naming the file and the problem, never a
raw torch error, and loading never runs code stored in the file (also through the CLI)."""

from __future__ import annotations

import pickle
import re
import subprocess

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ganforge
from ganforge.cli import main
from ganforge.io import checkpoint as ckpt

HYPO = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class CreatesFile:
    """Unpickling this calls ``open(path, "w")``: the file appearing proves code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def good(small, tmp_path):
    """A real Trainer checkpoint (bytes) and its path."""
    path = ganforge.Trainer(**small).setup().save_checkpoint(tmp_path / "good.pt")
    return path.read_bytes(), path


def _bad(tmp_path, kind: str, good_bytes: bytes):
    """Write a bad checkpoint of ``kind``; return its path and the problem the message must state."""
    path = tmp_path / f"{kind}.pt"
    if kind == "truncated":
        path.write_bytes(good_bytes[: len(good_bytes) // 2])
        return path, "it is truncated or corrupt"
    if kind == "random":
        path.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(1)).tolist()))
        return path, "it is truncated or corrupt"
    if kind == "foreign":
        torch.save({"model": torch.zeros(3), "epoch": 4}, path)
        return path, "is not a ganforge checkpoint"
    if kind == "code":
        torch.save({"format": ckpt.FORMAT, "format_version": 1, "payload": CreatesFile(tmp_path / "pwned")}, path)
        return path, "refuses to load, since loading it could run code"
    if kind == "newer":
        torch.save({"format": ckpt.FORMAT, "format_version": ckpt.FORMAT_VERSION + 1, "ganforge_version": "9.0"}, path)
        return path, f"has checkpoint format {ckpt.FORMAT_VERSION + 1}, newer than this ganforge understands"
    raise AssertionError(kind)


KINDS = ["truncated", "random", "foreign", "code", "newer"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_files_give_a_checkpoint_error_naming_file_and_problem(kind, good, tmp_path):
    path, problem = _bad(tmp_path, kind, good[0])
    with pytest.raises(ganforge.CheckpointError) as info:
        ckpt.load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and problem in message
    assert "\n" not in message and "Traceback" not in message
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("cut", [0, 1, 10, 200, 0.5, 0.9, -1])
def test_truncated_anywhere(cut, good, tmp_path):
    data = good[0]
    n = int(len(data) * cut) if isinstance(cut, float) else (len(data) + cut if cut < 0 else cut)
    path = tmp_path / "cut.pt"
    path.write_bytes(data[:n])
    with pytest.raises(ganforge.CheckpointError, match=re.escape(f"Cannot load checkpoint {path}: it is truncated")):
        ckpt.load_checkpoint(path)


@pytest.mark.parametrize("how", ["pickle protocol 2", "pickle default protocol", "torch.save"])
def test_a_pickled_class_is_never_executed(how, tmp_path):
    # The payload works: unpickling it unsafely creates its marker file ...
    pickle.loads(pickle.dumps(CreatesFile(tmp_path / "proof")))
    assert (tmp_path / "proof").exists()
    # ... but ganforge refuses it without running it.
    marker, path = tmp_path / "pwned", tmp_path / "evil.pt"
    if how.startswith("pickle"):
        with open(path, "wb") as f:
            pickle.dump({"format": ckpt.FORMAT, "x": CreatesFile(marker)}, f, protocol=2 if "2" in how else None)
    else:
        torch.save(CreatesFile(marker), path)
    with pytest.raises(ganforge.CheckpointError, match=re.escape(f"Cannot load checkpoint {path}: it ")) as info:
        ckpt.load_checkpoint(path)
    assert not marker.exists()
    if how != "pickle default protocol":  # that one is refused earlier, by its unsupported framing opcode
        assert re.search(r"pickled Python object \(.*open\) that ganforge refuses", str(info.value))


@pytest.mark.parametrize(
    "obj, what", [(torch.zeros(2), "a Tensor"), ([1, 2], "a list"), ({"weights": torch.ones(1)}, "a dict without the format=")]
)
def test_foreign_torch_files(obj, what, tmp_path):
    torch.save(obj, tmp_path / "other.pt")
    with pytest.raises(ganforge.CheckpointError, match=rf"other\.pt is not a ganforge checkpoint \({what}"):
        ckpt.load_checkpoint(tmp_path / "other.pt")


def test_incomplete_and_missing_files(good, tmp_path):
    state = ckpt.load_checkpoint(good[1])
    del state["gen"], state["rng"]
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(ganforge.CheckpointError, match=r"partial\.pt is an incomplete ganforge checkpoint: it lacks gen, rng"):
        ckpt.load_checkpoint(tmp_path / "partial.pt")
    with pytest.raises(ganforge.CheckpointError, match=r"nope\.pt does not exist"):
        ckpt.load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(ganforge.CheckpointError, match="does not exist"):
        ckpt.load_checkpoint(tmp_path)  # a folder
    with pytest.raises(ganforge.CheckpointError, match="no such run folder"):
        ganforge.Trainer.resume(tmp_path / "never-ran")
    with pytest.raises(ganforge.CheckpointError, match="No checkpoint found"):
        ganforge.Trainer.resume(tmp_path)


@HYPO
@given(data=st.binary(max_size=3000), prefix=st.sampled_from([b"", b"PK\x03\x04", b"\x80\x02", b"\x80\x04"]))
def test_random_bytes_only_ever_give_checkpoint_error(data, prefix, tmp_path):
    path = tmp_path / "fuzz.pt"
    path.write_bytes(prefix + data)
    with pytest.raises(ganforge.CheckpointError, match=re.escape(str(path))):
        ckpt.load_checkpoint(path)


@HYPO
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_mutated_checkpoints_load_or_give_checkpoint_error(edits, cut, good, tmp_path):
    data = bytearray(good[0])
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / "mutant.pt"
    path.write_bytes(bytes(data))
    try:
        state = ckpt.load_checkpoint(path)
    except ganforge.CheckpointError as exc:
        assert str(path) in str(exc)
    else:  # a flipped byte inside tensor data still loads: the structure is intact
        assert state["format"] == ckpt.FORMAT


def test_resume_from_a_run_whose_latest_checkpoint_is_corrupt(small, tmp_path):
    """A truncated newest checkpoint is skipped with a warning naming both files (it used to stop the resume)."""
    ganforge.Trainer(**small).fit()
    (_, previous), (_, latest) = ckpt.list_checkpoints(tmp_path / "run")[-2:]
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.warns(ckpt.ResumeWarning, match=re.escape(
            f"Resuming from the previous good checkpoint {previous}, not from the newer {latest}: Cannot load "
            f"checkpoint {latest}: it is truncated or corrupt")):
        trainer = ganforge.Trainer.resume(tmp_path / "run")
    assert trainer.setup().step == 15
    for _, path in ckpt.list_checkpoints(tmp_path / "run"):  # when none loads, the newest file's error
        path.write_bytes(b"")
    with pytest.raises(ganforge.CheckpointError, match=re.escape(f"Cannot load checkpoint {latest}")):
        ganforge.Trainer.resume(tmp_path / "run")


@pytest.mark.parametrize("kind", KINDS)
def test_cli_resume_from_a_bad_file_prints_one_line(kind, good, tmp_path, capsys):
    path, problem = _bad(tmp_path, kind, good[0])
    status = main(["train", "--resume", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("ganforge: error: ") and problem in err and str(path) in err
    assert err.count("\n") == 1
    assert not (tmp_path / "pwned").exists()


def test_cli_process_exit_status_and_message(good, tmp_path, helpers):
    """The real command: exit status 1, one line on stderr, no traceback, no code run."""
    path, problem = _bad(tmp_path, "code", good[0])
    proc = subprocess.run(helpers.cli_command("train", "--resume", str(path)), env=helpers.cli_env(),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ganforge: error: Cannot load checkpoint") and problem in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "pwned").exists()

"""Issue 17, item 3: every file-system failure is one line naming the path, the cause and the fix.

Disk full is tested twice: by injecting ENOSPC into the checkpoint's atomic write (everywhere), and on a
real 512 kB tmpfs filled up in a private mount namespace (where ``unshare -rm`` is allowed). A read-only
file system is a read-only tmpfs in such a namespace, so the test means the same as root and as a user.
After each failure the previous checkpoint is intact and the run resumes.
"""

from __future__ import annotations

import errno
import os
import re
import shlex

import pytest

import ganforge
from ganforge.cli import main
from ganforge.io import checkpoint as ckpt
from ganforge.io.atomic import describe_os_error

SMALL = ["--data", "grid25", "--batch-size", "16", "--latent-dim", "8", "--gen-option", "hidden=[32,32]",
         "--disc-option", "hidden=[32,32]", "--device", "cpu", "--log-every", "5", "--sample-every", "0",
         "--checkpoint-every", "5", "--no-progress"]


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- the messages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, text", [
    (errno.EROFS, "Cannot write /data/run/x.pt: the file system is read-only. Choose a place on a writable file "
                  "system."),
    (errno.EACCES, "Cannot write /data/run/x.pt: permission denied. Choose a place you may write to, or change its "
                   "permissions."),
    (errno.EDQUOT, "Cannot write /data/run/x.pt: the disk quota is exceeded. Free some space or ask for a larger "
                   "quota."),
    (errno.ENAMETOOLONG, "Cannot write /data/run/x.pt: the name is too long for the file system. Choose a shorter "
                         "path."),
    (errno.EIO, "Cannot write /data/run/x.pt: an input/output error occurred (a failing disk or network file system). "
                "Check the disk or the mount."),
])
def test_each_cause_is_named_with_its_fix(code, text):
    assert describe_os_error(OSError(code, os.strerror(code), "/data/run/x.pt")) == text


def test_disk_full_says_how_much_is_needed_and_a_file_in_the_way_is_named(tmp_path):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    message = describe_os_error(full, tmp_path / "c.pt", needed=1_234_567)
    assert re.fullmatch(rf"Cannot write {tmp_path}/c\.pt: no space is left on the device \(it needs 1\.2 MB; "
                        r"[\d.]+ [kMGT]?B free\)\. Free some space\.", message), message
    (tmp_path / "f").write_text("x")
    blocked = OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    assert describe_os_error(blocked, tmp_path / "f" / "run", "create the run folder", "choose another --out") == (
        f"Cannot create the run folder {tmp_path}/f/run: {tmp_path}/f is a file, not a folder. Choose another --out.")


# -- disk full, injected -------------------------------------------------------------------------------------


@pytest.fixture
def disk_full_at_second_checkpoint(monkeypatch):
    """The second checkpoint-sized file (> 20 kB) fsynced raises ENOSPC, as a full disk does mid-write."""
    real, seen = os.fsync, []

    def fsync(fd):
        if os.fstat(fd).st_size > 20_000:
            seen.append(fd)
            if len(seen) >= 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return monkeypatch


def test_disk_full_while_writing_a_checkpoint_keeps_the_last_one_and_resumes(small, tmp_path, helpers,
                                                                            disk_full_at_second_checkpoint):
    run = tmp_path / "run"
    with pytest.raises(ganforge.StorageError) as info:
        ganforge.Trainer(**small).fit()
    ten, five = run / "checkpoints" / "step_0000010.pt", run / "checkpoints" / "step_0000005.pt"
    assert re.fullmatch(
        rf"Cannot write {re.escape(str(ten))}: no space is left on the device \(it needs [\d.]+ kB; [\d.]+ [kMGT]?B "
        rf"free\)\. Free some space\. The run's last checkpoint, {re.escape(str(five))}, is intact: once that is "
        rf"fixed, continue with 'ganforge train --resume {re.escape(str(run))}'\.", str(info.value)), str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000005.pt"]  # no torn or temporary file
    assert ckpt.load_checkpoint(five)["step"] == 5
    disk_full_at_second_checkpoint.undo()  # space freed
    resumed = ganforge.Trainer.resume(run)
    resumed.fit()
    straight = ganforge.Trainer(**{**small, "out_dir": str(tmp_path / "straight")})
    straight.fit()
    helpers.assert_same_run(straight, resumed)


def test_disk_full_on_the_command_line_is_one_line(tmp_path, capsys, disk_full_at_second_checkpoint):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--steps", "20", "--out", str(run)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"ganforge: error: Cannot write {run}/checkpoints/step_0000010.pt: no space is left on "
                           "the device (it needs ")
    assert line.endswith(f"is intact: once that is fixed, continue with 'ganforge train --resume {run}'.")
    disk_full_at_second_checkpoint.undo()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [10, 15, 20]  # keep_checkpoints=3


# -- real file systems in a private mount namespace ----------------------------------------------------------


@pytest.fixture
def namespace(helpers):
    problem = helpers.namespace_problem()
    if problem:
        pytest.skip(problem)
    return helpers


def _script(*lines: str) -> str:
    return "\n".join(["set -u", 'M=$(mktemp -d)', *lines])


@pytest.mark.slow
def test_a_real_full_file_system(tmp_path, namespace):
    """A 512 kB tmpfs: one checkpoint fits; filled to 24 kB free, the next one fails in one line; freed, it resumes."""
    gf = shlex.join(namespace.cli_command())
    train = shlex.join(["train", *SMALL])
    script = _script(
        'mount -t tmpfs -o size=512k tmpfs "$M" || exit 90',
        f'{gf} {train} --steps 5 --out "$M/run" 2>first.txt; echo "first $?"',
        f'"{namespace.cli_command()[0]}" -c "import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n'
        'try:\n    while True: os.write(fd, bytes(4096))\nexcept OSError: pass\n'
        'os.ftruncate(fd, os.fstat(fd).st_size - 24 * 1024)" "$M/fill"',
        f'{gf} train --resume "$M/run" --steps 10 --no-progress 2>second.txt; echo "second $?"',
        'ls "$M/run/checkpoints" > after_full.txt',
        'rm "$M/fill"',
        f'{gf} train --resume "$M/run" --steps 10 --no-progress 2>third.txt; echo "third $?"',
        'ls "$M/run/checkpoints" > after_freed.txt',
        'echo "mount $M"',
    )
    proc = namespace.in_namespace(script, namespace.cli_env(), tmp_path)
    assert proc.returncode == 0, proc.stderr
    status = dict(line.split() for line in proc.stdout.splitlines())
    mount = status["mount"]
    assert (status["first"], status["second"], status["third"]) == ("0", "1", "0"), proc.stdout
    line = _one_error_line((tmp_path / "second.txt").read_text())
    assert re.fullmatch(
        rf"ganforge: error: Cannot write {mount}/run/checkpoints/step_0000010\.pt: no space is left on the device "
        rf"\(it needs [\d.]+ kB; [\d.]+ kB free\)\. Free some space\. The run's last checkpoint, "
        rf"{mount}/run/checkpoints/step_0000005\.pt, is intact: once that is fixed, continue with 'ganforge train "
        rf"--resume {mount}/run'\.", line), line
    assert (tmp_path / "after_full.txt").read_text().split() == ["step_0000005.pt"]
    assert (tmp_path / "after_freed.txt").read_text().split() == ["step_0000005.pt", "step_0000010.pt"]


@pytest.mark.slow
def test_a_read_only_out_for_train_and_sample(tmp_path, namespace):
    """The findings: a read-only --out, and 'ganforge sample --out' to an unwritable place, gave raw tracebacks."""
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--steps", "5", "--out", str(run)]) == 0
    before = namespace.snapshot(run)
    gf = shlex.join(namespace.cli_command())
    script = _script(
        'mount -t tmpfs -o ro tmpfs "$M" || exit 90',
        # --data mnist with no files: the folder is checked first, so the message is about --out.
        f'{gf} train --data mnist --data-root "$M/none" --out "$M/run" 2>train.txt; echo "train $?"',
        f'{gf} sample {shlex.quote(str(run))} --out "$M/grid.png" 2>sample.txt; echo "sample $?"',
        'echo "mount $M"',
    )
    proc = namespace.in_namespace(script, namespace.cli_env(), tmp_path)
    assert proc.returncode == 0, proc.stderr
    status = dict(line.split() for line in proc.stdout.splitlines())
    mount = status["mount"]
    assert (status["train"], status["sample"]) == ("1", "1"), proc.stdout
    assert _one_error_line((tmp_path / "train.txt").read_text()) == (
        f"ganforge: error: Cannot create the run folder {mount}/run: the file system is read-only. Choose another "
        "--out (out_dir).")
    assert _one_error_line((tmp_path / "sample.txt").read_text()) == (
        f"ganforge: error: Cannot write {mount}/grid.png: the file system is read-only. Choose a writable --out.")
    assert namespace.snapshot(run) == before


# -- other paths, in this process ----------------------------------------------------------------------------


def test_an_out_below_a_file_or_with_a_name_too_long(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep")
    assert main(["train", *SMALL, "--steps", "3", "--out", str(tmp_path / "notes.txt" / "run")]) == 1
    assert _one_error_line(capsys.readouterr().err) == (
        f"ganforge: error: Cannot create the run folder {tmp_path}/notes.txt/run: {tmp_path}/notes.txt is a file, "
        "not a folder. Choose another --out (out_dir).")
    long = tmp_path / ("x" * 300) / "run"
    assert main(["train", *SMALL, "--steps", "3", "--out", str(long)]) == 1
    assert _one_error_line(capsys.readouterr().err) == (
        f"ganforge: error: Cannot create the run folder {long}: the name is too long for the file system. Choose "
        "another --out (out_dir).")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_sample_out_below_a_file(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--steps", "5", "--out", str(run)]) == 0
    capsys.readouterr()
    (tmp_path / "f").write_text("keep")
    assert main(["sample", str(run), "--out", str(tmp_path / "f" / "grid.png")]) == 1
    assert _one_error_line(capsys.readouterr().err) == (
        f"ganforge: error: Cannot write {tmp_path}/f/grid.png: {tmp_path}/f is a file, not a folder. Choose a "
        "writable --out.")
    assert main(["sample", str(run), "--out", str(run / "samples")]) == 1  # a folder
    assert _one_error_line(capsys.readouterr().err) == (
        f"ganforge: error: Cannot write {run}/samples: it is a folder, not a file. Choose a writable --out.")


@pytest.mark.parametrize("kind", ["folder", "non-utf8"])
def test_config_given_a_folder_or_a_non_utf8_file(kind, tmp_path, capsys):
    if kind == "folder":
        path, message = tmp_path, f"Config file {tmp_path} is a folder; pass a TOML file such as run.toml."
    else:
        path = tmp_path / "run.toml"
        path.write_bytes('steps = 5\ndata = "grid25"\n# caf\xe9\n'.encode("latin-1"))
        message = (f"Config file {path} is not UTF-8 text (byte 31: invalid continuation byte); TOML files are UTF-8: "
                   "save it as UTF-8.")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert _one_error_line(capsys.readouterr().err) == f"ganforge: error: {message}"
    assert not (tmp_path / "run").exists()


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    (tmp_path / "f").write_text("x")
    argv = ["train", *SMALL, "--steps", "3", "--out", str(tmp_path / "f" / "run")]
    assert main(["--debug", *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "StorageError" in err
    assert err.rstrip().splitlines()[-1].startswith("ganforge: error: Cannot create the run folder")
    assert main([*argv, "--debug"]) == 1  # after the command as well
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    monkeypatch.setenv("GANFORGE_DEBUG", "1")
    assert main(argv) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    monkeypatch.setenv("GANFORGE_DEBUG", "0")
    assert main(argv) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_an_os_error_no_ganforge_code_wrapped_is_one_line(tmp_path, capsys):
    """The command line's last line of defence: any OSError (here from 'ganforge eval --out') is one line."""
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--steps", "5", "--out", str(run)]) == 0
    (tmp_path / "f").write_text("keep")
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "100", "--out", str(tmp_path / "f" / "sub" / "m.json")]) == 1
    assert _one_error_line(capsys.readouterr().err) == (
        f"ganforge: error: Cannot access {tmp_path}/f/sub: {tmp_path}/f is a file, not a folder. Choose a path whose "
        "folders are folders.")
    assert (tmp_path / "f").read_text() == "keep"

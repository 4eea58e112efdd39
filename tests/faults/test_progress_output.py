"""Issue 17, item 7: output for logs.

Findings: with stderr not a terminal the bar wrote thousands of carriage-return updates onto one line;
--no-progress also hid the start, stop and "resume with" lines, was saved with the run so every later
--resume was silent, and no flag turned it back on.
"""

from __future__ import annotations

import io
import re

import pytest

from ganforge.cli import main
from ganforge.training.progress import Progress, format_duration

SMALL = ["--data", "grid25", "--batch-size", "16", "--latent-dim", "8", "--gen-option", "hidden=[32,32]",
         "--disc-option", "hidden=[32,32]", "--device", "cpu", "--log-every", "5", "--sample-every", "0",
         "--checkpoint-every", "10"]
LINE = re.compile(r"^step (\d+)/(\d+) \((\d+)%\), [\d.e+]+ steps/s, g=-?[\d.]+ d=-?[\d.]+(, \S+ left)?$")


def test_not_a_terminal_gives_plain_lines_not_a_bar(tmp_path, capsys):
    assert main(["train", *SMALL, "--steps", "20", "--progress-seconds", "0.000001", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    progress = [ln for ln in lines if ln.startswith("step ")]
    assert [int(LINE.match(ln).group(1)) for ln in progress] == [5, 10, 15, 20], err
    assert progress[0].endswith(" left") and not progress[-1].endswith(" left")
    assert lines[0].startswith("Training 20 steps: mlp generator") and lines[-1].startswith("Done: 20 steps.")


def test_the_default_interval_prints_the_last_step_only_on_a_short_run(tmp_path, capsys):
    """progress_seconds defaults to 30: a 20-step run prints its last step's line only."""
    assert main(["train", *SMALL, "--steps", "20", "--out", str(tmp_path / "r")]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("step ")]
    assert len(lines) == 1 and LINE.match(lines[0]).group(1, 2, 3) == ("20", "20", "100")


def test_no_progress_hides_only_progress_and_is_not_inherited_on_resume(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", *SMALL, "--steps", "10", "--progress-seconds", "0.000001", "--no-progress",
                 "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert not [ln for ln in err.splitlines() if ln.startswith("step ")]
    assert "Training 10 steps" in err and "Done: 10 steps." in err  # messages stay
    # The resume shows progress again without being asked (not part of the run's identity) ...
    assert main(["train", "--resume", str(run), "--steps", "20", "--progress-seconds", "0.000001"]) == 0
    err = capsys.readouterr().err
    assert [int(LINE.match(ln).group(1)) for ln in err.splitlines() if ln.startswith("step ")] == [15, 20]
    assert "Resuming at step 10 of 20 steps" in err
    # ... and --no-progress / --progress may change it on any resume.
    assert main(["train", "--resume", str(run), "--steps", "30", "--no-progress"]) == 0
    assert not [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("step ")]
    assert main(["train", "--resume", str(run), "--steps", "40", "--progress", "--progress-seconds", "0.000001"]) == 0
    assert len([ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("step ")]) == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_and_the_messages_above_it():
    stream = _Terminal()
    progress = Progress(100, 0, show=True, every_s=0.0, stream=stream)
    assert progress.bar is not None
    progress.update(50)
    progress.log(50, "g=0.700 d=1.300")
    progress.say("Stopped at step 50: received SIGINT.")
    progress.close()
    text = stream.getvalue()
    assert "\r" in text and "50/100" in text and "Stopped at step 50: received SIGINT.\n" in text
    assert not re.search(r"^step 50/100", text, re.M)  # no plain lines on a terminal


def test_plain_lines_every_interval_with_a_fake_clock():
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(1000, 0, show=True, every_s=30.0, stream=stream, clock=lambda: now[0])
    for step in range(100, 1001, 100):
        now[0] += 10.0  # 10 steps/s
        progress.log(step, "g=1.000 d=1.000")
    lines = stream.getvalue().splitlines()
    assert lines == ["step 300/1000 (30%), 10 steps/s, g=1.000 d=1.000, 1m10s left",
                     "step 600/1000 (60%), 10 steps/s, g=1.000 d=1.000, 40s left",
                     "step 900/1000 (90%), 10 steps/s, g=1.000 d=1.000, 10s left",
                     "step 1000/1000 (100%), 10 steps/s, g=1.000 d=1.000"]
    quiet = io.StringIO()
    off = Progress(1000, 0, show=False, stream=quiet, clock=lambda: now[0])
    off.log(1000, "g=1 d=1")
    off.say("Done.")
    assert quiet.getvalue() == "Done.\n"
    assert Progress(10, 0, enabled=False, stream=quiet).say("rank 1 says nothing") is None
    assert quiet.getvalue() == "Done.\n"


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (45.4, "45s"), (250, "4m10s"), (3600 * 3 + 300, "3h05m")])
def test_durations(seconds, text):
    assert format_duration(seconds) == text

"""Two-process DDP runs on the CPU (gloo): torchrun end to end, equality with one process, dead and hung ranks.

Tolerance: a 2-process run and a 1-process run with the same global batch and
seed agree to within 1e-5 (losses of every step, every weight): they differ only
in the order floating-point sums are taken (each rank's mean over its half,
then the average of the two), measured at about 1e-7 here.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

import ganforge
from ganforge.io import checkpoint as ckpt

TOL = 1e-5


def _close(a: dict, b: dict) -> None:
    """Two checkpoints hold the same run up to :data:`TOL`."""
    assert a["step"] == b["step"]
    for key in ("g_loss", "d_loss"):
        diff = max(abs(x - y) for x, y in zip(a["history"][key], b["history"][key], strict=True))
        assert diff < TOL, f"{key} differs by {diff}"
    for net in ("gen", "disc"):
        assert a[net].keys() == b[net].keys()
        for k in a[net]:
            torch.testing.assert_close(a[net][k], b[net][k], atol=TOL, rtol=0, msg=f"{net}.{k}")


@pytest.mark.slow
def test_torchrun_two_processes_match_one_and_resume_in_one(tmp_path, dist_helpers):
    """torchrun -m ganforge train: rank 0 alone writes; same results as one process; resumes single-process."""
    out = tmp_path / "ddp"
    flags = [*dist_helpers.TINY_FLAGS, "--tricks", "d_steps", "--steps", "10", "--log-every", "5",
             "--checkpoint-every", "5", "--keep-checkpoints", "10", "--out", str(out)]
    proc = subprocess.run(dist_helpers.torchrun(2, "train", *flags), env=dist_helpers.env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Rank 0 alone wrote: one config, one metrics line per log, checkpoints, one final picture.
    assert sorted(p.name for p in out.iterdir()) == [".ganforge-run", ".ganforge-run.lock", "checkpoints", "config.json",
                                                     "metrics.jsonl", "samples"]  # the marker and the lock file too
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [5, 10]
    assert [s for s, _ in ckpt.list_checkpoints(out)] == [5, 10]
    assert [p.name for p in (out / "samples").iterdir()] == ["step_0000010.png"]
    ddp = ckpt.load_checkpoint(out / "checkpoints" / ckpt.checkpoint_name(10))
    assert len(ddp["ranks"]) == 2 and set(ddp["ranks"][1]) == {"rng", "tricks"}
    # The same global batch and seed in one process: equal up to summation order.
    settings = dist_helpers.tiny_settings(tmp_path / "one", tricks=["d_steps"], log_every=5, checkpoint_every=5)
    ganforge.Trainer(**settings, steps=15).fit()
    _close(ddp, ckpt.load_checkpoint(tmp_path / "one" / "checkpoints" / ckpt.checkpoint_name(10)))
    # The DDP checkpoint resumes in one process and continues like the one-process run.
    resumed = ganforge.Trainer.resume(out, steps=15, strategy="none")
    resumed.fit()
    assert resumed.dist.world_size == 1 and resumed.step == 15
    _close(ckpt.load_checkpoint(out / "checkpoints" / ckpt.checkpoint_name(15)),
           ckpt.load_checkpoint(tmp_path / "one" / "checkpoints" / ckpt.checkpoint_name(15)))


@pytest.mark.slow
def test_a_gradient_penalty_ema_and_schedule_under_two_processes_match_one(tmp_path, dist_helpers):
    """R1 runs D a third time and differentiates through it inside DDP's forward/backward: still equal to one process.

    Also the lazy form (a separate D update every 2 steps), the generator EMA and a learning-rate schedule.
    """
    out = tmp_path / "ddp"
    extra = ["--regularizers", "r1,r2", "--regularizer-option", "r1.gamma=1", "--regularizer-option", "r2.every=2",
             "--ema", "0.9", "--lr-schedule", "linear"]
    flags = [*dist_helpers.TINY_FLAGS, *extra, "--steps", "6", "--log-every", "3", "--checkpoint-every", "6",
             "--out", str(out)]
    proc = subprocess.run(dist_helpers.torchrun(2, "train", *flags), env=dist_helpers.env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    settings = dist_helpers.tiny_settings(tmp_path / "one", steps=6, log_every=3, checkpoint_every=6,
                                          regularizers=["r1", "r2"],
                                          regularizer_options={"r1": {"gamma": 1}, "r2": {"every": 2}},
                                          ema_decay=0.9, g_optim={"schedule": "linear"},
                                          d_optim={"schedule": "linear"})
    ganforge.Trainer(**settings).fit()
    ddp = ckpt.load_checkpoint(out / "checkpoints" / ckpt.checkpoint_name(6))
    one = ckpt.load_checkpoint(tmp_path / "one" / "checkpoints" / ckpt.checkpoint_name(6))
    _close(ddp, one)
    for k, v in one["ema"]["model"].items():
        torch.testing.assert_close(ddp["ema"]["model"][k], v, atol=TOL, rtol=0, msg=f"ema.{k}")


@pytest.mark.slow
@pytest.mark.parametrize("fault, bound", [("killed", 15.0), ("hung", 20.0)])
def test_a_dead_or_hung_rank_ends_the_run_with_an_error(fault, bound, tmp_path, dist_helpers):
    """Rank 1 is SIGKILLed (or SIGSTOPped) mid-run: rank 0 exits with a ganforge error within ``bound`` seconds.

    ``bound`` = dist_timeout (4 s) + the 3 s rank 0 waits for the others to report + start-up slack.
    """
    out = tmp_path / "run"
    port = dist_helpers.free_port()
    flags = [*dist_helpers.TINY_FLAGS, "--steps", "100000", "--log-every", "5", "--checkpoint-every", "10",
             "--out", str(out), "--dist-timeout", "4"]
    procs = [subprocess.Popen([sys.executable, "-m", "ganforge", "train", *flags], env=dist_helpers.rank_env(r, 2, port),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for r in (0, 1)]
    try:
        start = time.monotonic()
        while not (out / "checkpoints" / ckpt.checkpoint_name(10)).exists():
            assert procs[0].poll() is None, procs[0].stderr.read()
            assert time.monotonic() - start < 90, "the two ranks did not reach step 10"
            time.sleep(0.1)
        os.kill(procs[1].pid, signal.SIGKILL if fault == "killed" else signal.SIGSTOP)
        faulted = time.monotonic()
        err = procs[0].communicate(timeout=60)[1]
        took = time.monotonic() - faulted
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    assert procs[0].returncode == 1
    assert took < bound, f"rank 0 needed {took:.1f}s to give up"
    last = err.strip().splitlines()[-1]
    assert last.startswith("ganforge: error: Rank 0 of 2: a collective failed while")
    assert "rank 1 died or hung" in last and "dist_timeout=4s (--dist-timeout)" in last
    assert ckpt.list_checkpoints(out)[0][0] == 10  # what was saved before the failure stays resumable


AGREEMENT_SCRIPT = '''
import os, sys
import torch
import ganforge


class NanOnRank1(ganforge.Trick):
    """A test fault: rank 1's generator loss is NaN in the third step."""

    name = "nan_on_rank1"
    description = "test fault"

    def __init__(self):
        self.calls = 0

    def extra_loss(self, net, batch):
        if net != "gen":
            return None
        self.calls += 1
        return torch.tensor(float("nan")) if os.environ["RANK"] == "1" and self.calls == 3 else None


class Plugin:
    @ganforge.hookimpl
    def ganforge_register_tricks(self):
        return [NanOnRank1]


ganforge.register_plugin(Plugin(), name="test-fault")
trainer = ganforge.Trainer(data="grid25", batch_size=16, latent_dim=8, gen_options={"hidden": (16, 16), "norm": "none"},
                           disc_options={"hidden": (16, 16), "norm": "batch"}, tricks=["nan_on_rank1"],
                           nan_policy="skip", steps=6, log_every=2, sample_every=0, checkpoint_every=0,
                           device="cpu", progress=False, out_dir=sys.argv[1])
trainer.fit()
print(f"rank {os.environ['RANK']} world {trainer.dist.world_size} skipped {trainer.step_fn.skipped}", flush=True)
'''


@pytest.mark.slow
def test_ranks_agree_on_skipping_a_nonfinite_update_with_a_batchnorm_discriminator(tmp_path, dist_helpers):
    """One rank's NaN loss makes every rank skip that update (else DDP's all-reduce would wait for it).

    The discriminator has BatchNorm and runs forward twice (real, fake) before one backward through
    DDP, which breaks when DDP broadcasts buffers before each forward on PyTorch releases without the
    fix of pytorch/pytorch#175024 (releases with it pass either way; test_ddp_setup checks the setting).
    """
    script = tmp_path / "agree.py"
    script.write_text(AGREEMENT_SCRIPT)
    argv = dist_helpers.torchrun(2, "train")
    argv = argv[: argv.index("-m", 3)] + [str(script), str(tmp_path / "run")]
    proc = subprocess.run(argv, env=dist_helpers.env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = re.findall(r"rank \d world \d skipped \d+", proc.stdout)  # the two ranks' lines may interleave
    assert sorted(reports) == ["rank 0 world 2 skipped 1", "rank 1 world 2 skipped 1"]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("skipped_updates") for r in records] == [None, 1, 1]

"""The generic step under two-process DDP (gloo, torchrun): networks owned by a trick, and conditions from data.

A 2-process run and a 1-process run of the same global batch and seed must agree to within the suite's
tolerance (1e-5: only the order of floating-point sums differs, see test_ddp_runs.py): for a trick's own
networks that holds only if their gradients are averaged across the ranks, as ganforge does by hand
(they sit outside the DDP wrappers of G and D).
"""

from __future__ import annotations

import subprocess

import pytest
import torch

import ganforge
from ganforge.io import checkpoint as ckpt

TOL = 1e-5


def _close(a: dict, b: dict, networks: tuple[str, ...]) -> None:
    assert a["step"] == b["step"]
    for key in ("g_loss", "d_loss"):
        diff = max(abs(x - y) for x, y in zip(a["history"][key], b["history"][key], strict=True))
        assert diff < TOL, f"{key} differs by {diff}"
    pairs = [(net, a[net], b[net]) for net in ("gen", "disc")]
    pairs += [(name, a["networks"][name], b["networks"][name]) for name in networks]
    for what, x, y in pairs:
        assert x.keys() == y.keys()
        for k in x:
            torch.testing.assert_close(x[k], y[k], atol=TOL, rtol=0, msg=f"{what}.{k}")


@pytest.mark.slow
def test_a_tricks_own_networks_under_two_processes_match_one(tmp_path, dist_helpers):
    """infogan's Q network is joined to G's optimizer: its gradients are averaged across the ranks."""
    out = tmp_path / "ddp"
    flags = [*dist_helpers.TINY_FLAGS, "--tricks", "infogan", "--trick-option", "infogan.categorical=4",
             "--trick-option", "infogan.continuous=1", "--trick-option", "infogan.hidden=8", "--steps", "6",
             "--log-every", "3", "--checkpoint-every", "6", "--out", str(out)]
    proc = subprocess.run(dist_helpers.torchrun(2, "train", *flags), env=dist_helpers.env(), capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    settings = dist_helpers.tiny_settings(tmp_path / "one", tricks=["infogan"], log_every=3, checkpoint_every=6,
                                          trick_options={"infogan": {"categorical": 4, "continuous": 1, "hidden": 8}})
    ganforge.Trainer(**settings, steps=6).fit()
    ddp = ckpt.load_checkpoint(out / "checkpoints" / ckpt.checkpoint_name(6))
    one = ckpt.load_checkpoint(tmp_path / "one" / "checkpoints" / ckpt.checkpoint_name(6))
    assert set(ddp["networks"]) == {"infogan.q"}
    _close(ddp, one, ("infogan.q",))


@pytest.mark.slow
def test_conditions_from_data_under_two_processes_match_one(tmp_path, dist_helpers, mnist_root):
    """pix2pix on mnist-edges2digits: each rank splits its own rows into targets and conditions."""
    out = tmp_path / "ddp"
    common = ["--data", "mnist-edges2digits", "--data-root", str(mnist_root), "--split", "test", "--gen", "unet",
              "--disc", "patchgan", "--tricks", "pix2pix", "--latent-dim", "0", "--batch-size", "8",
              "--gen-option", "width=4", "--gen-option", "norm=none", "--gen-option", "dropout=0",
              "--disc-option", "width=4", "--disc-option", "norm=none", "--sample-every", "0", "--device", "cpu",
              "--no-progress"]
    flags = [*common, "--steps", "4", "--log-every", "2", "--checkpoint-every", "4", "--out", str(out)]
    proc = subprocess.run(dist_helpers.torchrun(2, "train", *flags), env=dist_helpers.env(), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = subprocess.run(["python", "-m", "ganforge", "train", *flags[:-1], str(tmp_path / "one")],
                         env=dist_helpers.env(), capture_output=True, text=True, timeout=240)
    assert one.returncode == 0, one.stderr[-3000:]
    _close(ckpt.load_checkpoint(out / "checkpoints" / ckpt.checkpoint_name(4)),
           ckpt.load_checkpoint(tmp_path / "one" / "checkpoints" / ckpt.checkpoint_name(4)), ())

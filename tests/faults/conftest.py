"""Shared settings and helpers of the fault-tolerance suite (tests/faults).

Runs here are tiny (grid25, 32-unit MLPs, 8-d latents) so that training to a
checkpoint, killing, resuming and comparing stays within CI time on two cores.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import ganforge
from ganforge.io import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[2]



@pytest.fixture
def small(tmp_path):
    """Settings of a tiny grid25 run writing to ``tmp_path/run`` (checkpoints every 5 steps)."""
    return dict(data="grid25", steps=20, batch_size=16, latent_dim=8, log_every=5, sample_every=0,
                checkpoint_every=5, keep_checkpoints=10, progress=False, device="cpu",
                gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)},
                out_dir=str(tmp_path / "run"))


def flat_params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers (batch-norm statistics included) by name, detached copies."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_run(a: ganforge.Trainer, b: ganforge.Trainer) -> None:
    """Two trainers hold bitwise-identical weights, optimizer state and per-step losses."""
    assert a.step == b.step
    assert a.history.g_loss == b.history.g_loss  # exact float equality, every step
    assert a.history.d_loss == b.history.d_loss
    for net in ("gen", "disc"):
        pa, pb = flat_params(getattr(a, net)), flat_params(getattr(b, net))
        assert pa.keys() == pb.keys()
        for k in pa:
            assert torch.equal(pa[k], pb[k]), f"{net}.{k} differs"
    for opt in ("opt_g", "opt_d"):
        sa, sb = getattr(a, opt).state_dict()["state"], getattr(b, opt).state_dict()["state"]
        for idx in sa:
            for k in sa[idx]:
                assert torch.equal(torch.as_tensor(sa[idx][k]), torch.as_tensor(sb[idx][k])), f"{opt}[{idx}].{k}"


def cli_env() -> dict[str, str]:
    """Environment for ``python -m ganforge`` subprocesses: this checkout, no third-party plugins, 1 thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["GANFORGE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def cli_command(*args: str) -> list[str]:
    """The argv of ``python -m ganforge ARGS`` with this interpreter."""
    return [sys.executable, "-m", "ganforge", *args]


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """Steps of the periodic checkpoints in ``run_dir``."""
    return [step for step, _ in ckpt.list_checkpoints(run_dir)]


def snapshot(folder: str | Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) with the SHA-256 of its bytes."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def namespace_problem() -> str | None:
    """Why a private mount namespace (``unshare -rm``, for a small or read-only file system) is unavailable, or None."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return "needs Linux's unshare(1) to mount a private file system"
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null "
                            "|| mount -t tmpfs -o size=64k tmpfs /tmp"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"unprivileged mount namespaces are not allowed here ({probe.stderr.strip() or probe.returncode})"
    return None


def in_namespace(script: str, env: dict[str, str], cwd: str | Path,
                 timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a POSIX shell ``script`` in a private user and mount namespace (its mounts vanish when it exits)."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


_HELPERS = SimpleNamespace(flat_params=flat_params, assert_same_run=assert_same_run, cli_env=cli_env,
                           cli_command=cli_command, checkpoint_steps=checkpoint_steps, REPO=REPO, snapshot=snapshot,
                           namespace_problem=namespace_problem, in_namespace=in_namespace)


@pytest.fixture
def helpers() -> SimpleNamespace:
    """The helpers above, for test files (tests/ is not a package, so they cannot import this module)."""
    return _HELPERS


class ShadowWeights(ganforge.Trick):
    """Test trick with state: an exponential moving average of G's weights and a step counter.

    It stands in for the EMA generator ganforge does not have yet: its tensors
    must travel through checkpoints for a resumed run to match.
    """

    name = "shadow_weights"

    def __init__(self, decay: float = 0.9):
        self.decay = decay
        self.count = 0
        self.shadow: dict[str, torch.Tensor] = {}

    def setup(self, trainer):
        self.shadow = {k: v.detach().clone() for k, v in trainer.gen.state_dict().items() if v.is_floating_point()}

    def after_step(self, trainer, step):
        self.count += 1
        with torch.no_grad():
            for k, v in trainer.gen.state_dict().items():
                if k in self.shadow:
                    self.shadow[k].mul_(self.decay).add_(v, alpha=1 - self.decay)

    def state_dict(self):
        return {"count": self.count, "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state):
        self.count = int(state["count"])
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}


@pytest.fixture
def tiny_idx(tmp_path):
    """A data root holding a 64-image MNIST-format test split (random 28x28 digits, labels 0-9)."""
    import numpy as np

    from ganforge.data.idx import write_idx

    root = tmp_path / "idxdata"
    root.mkdir()
    rng = np.random.default_rng(0)
    write_idx(root / "t10k-images-idx3-ubyte", rng.integers(0, 256, (64, 28, 28), dtype=np.uint8))
    write_idx(root / "t10k-labels-idx1-ubyte", (np.arange(64) % 10).astype(np.uint8))
    return root


_HELPERS.ShadowWeights = ShadowWeights

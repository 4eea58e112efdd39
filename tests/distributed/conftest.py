"""Helpers of the distributed suite: free ports, launch environments, tiny grid25 settings.

Every test here runs on the CPU with the gloo backend; two-process runs are
real subprocesses (torchrun, or two ``python -m ganforge`` processes given the
environment torchrun would set).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ganforge.training.distributed import free_port

REPO = Path(__file__).resolve().parents[2]

#: CLI flags of the tiny run every subprocess test trains (no BatchNorm: see docs/distributed.md).
TINY_FLAGS = ["--data", "grid25", "--batch-size", "16", "--latent-dim", "8", "--sample-every", "0", "--device", "cpu",
              "--gen-option", "hidden=[16,16]", "--gen-option", "norm=none", "--disc-option", "hidden=[16,16]",
              "--no-progress"]


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread (restored afterwards): the runs are tiny and the machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def env(**extra: str) -> dict[str, str]:
    """Environment for ganforge subprocesses: this checkout, no third-party plugins, one thread."""
    out = dict(os.environ)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        out.pop(key, None)
    out.update(PYTHONPATH=str(REPO) + os.pathsep + out.get("PYTHONPATH", ""), GANFORGE_DISABLE_PLUGIN_AUTOLOAD="1",
               OMP_NUM_THREADS="1", **extra)
    return out


def rank_env(rank: int, world_size: int, port: int) -> dict[str, str]:
    """What torchrun sets for ``rank`` of a one-node world of ``world_size``."""
    return env(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_WORLD_SIZE=str(world_size),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def torchrun(nproc: int, *args: str) -> list[str]:
    """argv of ``python -m torch.distributed.run --nproc_per_node=N -m ganforge ARGS`` on a free port."""
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
            f"--master_port={free_port()}", "-m", "ganforge", *args]


def tiny_settings(out_dir: Path, **changes) -> dict:
    """The Python settings matching :data:`TINY_FLAGS`."""
    return dict(data="grid25", batch_size=16, latent_dim=8, sample_every=0, device="cpu", progress=False,
                gen_options={"hidden": (16, 16), "norm": "none"}, disc_options={"hidden": (16, 16)},
                out_dir=str(out_dir), **changes)


@pytest.fixture
def dist_helpers() -> SimpleNamespace:
    """The helpers above (tests/ is not a package, so test files cannot import this module)."""
    return SimpleNamespace(env=env, rank_env=rank_env, torchrun=torchrun, tiny_settings=tiny_settings,
                           TINY_FLAGS=TINY_FLAGS, free_port=free_port)

"""Shared fixtures: isolation from installed plugins, the MNIST location, tiny runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.registry import DISABLE_AUTOLOAD_ENV

# Tests use tiny models: one thread is faster than two fighting over 2 cores, and steadier. The
# Trainer's threads="auto" would measure before every run; GANFORGE_THREADS=1 tells it the answer
# (tests of the measurement itself remove the variable).
torch.set_num_threads(1)
os.environ["GANFORGE_THREADS"] = "1"

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    """Unit tests see ganforge's builtins only, never whatever plugins are installed here.

    Tests of entry-point discovery delete the variable and call reset_registry() themselves.
    """
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    ganforge.reset_registry()
    yield
    ganforge.reset_registry()


def find_mnist() -> Path | None:
    """The folder holding the MNIST test split: $GANFORGE_DATA, else ../shared/data/mnist beside the checkout."""
    for candidate in (os.environ.get("GANFORGE_DATA"), SHARED_MNIST):
        if candidate and (Path(candidate) / "t10k-images-idx3-ubyte.gz").is_file() or (
            candidate and (Path(candidate) / "t10k-images-idx3-ubyte").is_file()
        ):
            return Path(candidate)
    return None


@pytest.fixture
def mnist_root() -> Path:
    """Folder of the MNIST test split; skips the test (saying why) where it is absent."""
    root = find_mnist()
    if root is None:
        pytest.skip(
            f"MNIST test split not found: set GANFORGE_DATA to a folder holding t10k-images-idx3-ubyte(.gz), "
            f"or place it at {SHARED_MNIST}"
        )
    return root


@pytest.fixture
def tiny(tmp_path):
    """Settings for a fast run: few steps, no progress bar, output in a temporary folder."""
    return dict(steps=20, batch_size=32, log_every=10, sample_every=0, checkpoint_every=0, progress=False,
                out_dir=str(tmp_path / "run"), device="cpu")

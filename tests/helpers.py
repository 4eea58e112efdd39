"""Plain helpers shared by the whole suite; tests/conftest.py hands them out as fixtures.

Test functions take the fixtures (``cli``, ``write_mnist``, ``tiny_mnist``, ``point_data``, ``installed``,
``wait_for``, ``error_line``); this module is imported directly only where a fixture cannot reach (module-level
helpers such as tests/tune/tune_helpers.py). tests/ is on ``sys.path`` because tests/conftest.py sits there
(pytest's default "prepend" import mode).

- the command line in a fresh interpreter: :func:`cli_env`, :func:`cli_command`, :func:`run_cli`;
- tiny data sets: :func:`write_mnist` (MNIST-format IDX files), :func:`point_data` (a 2-D point data set);
- distribution installs: :func:`pip_install_target`, :func:`site_env`, :func:`run_code`;
- waiting and reading errors: :func:`wait_for`, :func:`error_line`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ganforge
from ganforge.data.idx import write_idx
from ganforge.registry import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV

REPO = Path(__file__).resolve().parent.parent

_DIST_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


# -- the command line in a fresh interpreter ----------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    """Environment of a ``python -m ganforge`` subprocess: this checkout first on the path, no third-party
    plugins, one thread, no torchrun variables inherited; ``extra`` is set last."""
    env = {k: v for k, v in os.environ.items() if k not in _DIST_VARIABLES}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env[DISABLE_AUTOLOAD_ENV] = "1"
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    """The argv of ``python -m ganforge ARGS`` with this interpreter."""
    return [sys.executable, "-m", "ganforge", *args]


def run_cli(*args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m ganforge ARGS`` to the end (``env`` defaults to :func:`cli_env`); text output captured."""
    return subprocess.run(cli_command(*args), cwd=cwd, env=cli_env() if env is None else env, capture_output=True,
                          text=True, timeout=timeout)


# -- tiny data sets ---------------------------------------------------------------------------------------


def write_mnist(folder: str | Path, n: int = 64, split: str = "test", *, seed: int = 0, gzip_images: bool = False,
                gzip_labels: bool = False, random_labels: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Write an MNIST-format split of ``n`` random 28x28 uint8 digits into ``folder`` (made if missing).

    Labels are ``0, 1, ..., 9, 0, ...``, or with ``random_labels`` drawn from the same generator after the images.
    ``split`` "test" writes ``t10k-*`` files, "train" ``train-*``; ``gzip_*`` adds ``.gz`` (gzipped).
    Returns ``(images, labels)`` as written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8) if random_labels else (np.arange(n) % 10).astype(np.uint8)
    stem = "t10k" if split == "test" else "train"
    write_idx(folder / f"{stem}-images-idx3-ubyte{'.gz' if gzip_images else ''}", images)
    write_idx(folder / f"{stem}-labels-idx1-ubyte{'.gz' if gzip_labels else ''}", labels)
    return images, labels


def point_data(name: str, draw: Callable[[int, Any], torch.Tensor], doc: str) -> type[ganforge.Dataset]:
    """A 2-D point data set class named ``name``, unlabelled, drawn fresh: ``draw(n, device)`` gives its points.

    ``doc`` becomes its docstring (the registry's description). Subclass it to change ``sample``.
    """
    chosen = name

    class Points(ganforge.Dataset):
        __doc__ = doc
        name = chosen
        is_distribution = True

        @property
        def sample_shape(self):
            return (2,)

        def sample(self, n, device="cpu"):
            return draw(n, device), None

    return Points


# -- distribution installs ----------------------------------------------------------------------------------


def pip_install_target(project: Path, target: Path) -> Path:
    """``pip install --target target project`` (no dependencies, no build isolation: offline); returns ``target``.

    Put ``target`` on a child process's ``PYTHONPATH`` (:func:`site_env`) to use the distribution there; its entry
    points are then found like an installed distribution's.
    """
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(project)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return target


def site_env(site: Path, **extra: str) -> dict[str, str]:
    """Environment of a child process that uses the distributions installed in ``site``: plugin autoloading on
    (no allow-list), ``site`` first on the path, one thread; ``extra`` is set last."""
    env = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, ALLOW_LIST_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def run_code(code: str, site: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -c CODE`` (dedented) with the distributions in ``site`` (:func:`site_env`); output captured."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=site_env(site, **env),
                          capture_output=True, text=True, timeout=300)


# -- waiting and reading errors -------------------------------------------------------------------------------


def wait_for(condition: Callable[[], Any], timeout: float = 240.0, every: float = 0.1) -> Any:
    """Poll ``condition()`` until it returns something true and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")


def error_line(err: str) -> str:
    """The ``ganforge: error:`` line of ``err``, checked to be the only one and without a traceback."""
    lines = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]

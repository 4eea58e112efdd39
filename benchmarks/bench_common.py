"""What the benchmark scripts share: the machine's description, JSON results, the MNIST folder, one-thread workers."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def machine() -> str:
    """One line naming the host's CPU (or GPU) and the software versions, for every recorded figure."""
    import torch

    import ganforge

    cpu = platform.processor() or platform.machine()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.node()}: {cpu}, {cores} usable CPU cores, {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, ganforge {ganforge.__version__}")


def save_json(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``report`` as indented JSON (folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def find_mnist(explicit: str | None) -> str | None:
    """The MNIST folder: explicit, $GANFORGE_DATA, or ../shared/data/mnist beside the checkout, if it holds files."""
    for candidate in (explicit, os.environ.get("GANFORGE_DATA"), str(REPO.parent / "shared" / "data" / "mnist")):
        if candidate and any((Path(candidate) / f).is_file()
                             for f in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte", "train-images-idx3-ubyte.gz")):
            return candidate
    return None


def require_mnist(explicit: str | None) -> str:
    """:func:`find_mnist`, or exit saying how to point at the files."""
    root = find_mnist(explicit)
    if root is None:
        raise SystemExit("needs the MNIST files: pass --mnist-root or set GANFORGE_DATA")
    return root


def one_thread_worker() -> None:
    """Initializer of the scripts' worker processes: each trains on one CPU thread (``GANFORGE_THREADS=1`` too)."""
    import torch

    os.environ["GANFORGE_THREADS"] = "1"
    torch.set_num_threads(1)

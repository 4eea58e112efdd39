"""What the benchmark scripts share: a description of the machine and writing results as JSON."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


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

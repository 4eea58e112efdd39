"""Optional TensorBoard logging (``tensorboard=True`` / ``--tensorboard``)."""

from __future__ import annotations

import os
from typing import Any

from ganforge.errors import ConfigError

TENSORBOARD_DIR = "tensorboard"


def summary_writer_class():
    """torch's SummaryWriter; a ConfigError naming the extra to install when tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "tensorboard=True (--tensorboard) needs the tensorboard package: pip install 'ganforge[tensorboard]'"
        ) from None
    return SummaryWriter


class TensorBoardWriter:
    """Writes every numeric logged value as a scalar, at its step, under ``RUN_DIR/tensorboard``."""

    def __init__(self, run_dir: str | os.PathLike):
        self.writer = summary_writer_class()(log_dir=os.path.join(os.fspath(run_dir), TENSORBOARD_DIR))

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

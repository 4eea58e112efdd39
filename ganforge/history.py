"""The record of a run: per-step losses and the logged values."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import attrs


@attrs.define
class History:
    """What :meth:`Trainer.fit <ganforge.Trainer.fit>` returns.

    Attributes:
        g_loss: Generator loss of every step, in order (index = step - 1).
        d_loss: Discriminator loss of every step (mean over its D updates).
        records: The values logged every ``log_every`` steps, as written to ``metrics.jsonl``.
    """

    g_loss: list[float] = attrs.field(factory=list)
    d_loss: list[float] = attrs.field(factory=list)
    records: list[dict[str, Any]] = attrs.field(factory=list)

    def __len__(self) -> int:
        return len(self.g_loss)

    def __getitem__(self, key: str) -> list[Any]:
        """``history["g_loss"]``, or a logged value by name across records."""
        if key in ("g_loss", "d_loss"):
            return getattr(self, key)
        return [r[key] for r in self.records if key in r]

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(list(data["g_loss"]), list(data["d_loss"]), [dict(r) for r in data["records"]])


class MetricsWriter:
    """Appends one JSON object per line to ``metrics.jsonl``; non-finite numbers become null."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")

"""The record of a run: per-step losses and the logged values, and the ``metrics.jsonl`` writer."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import attrs

from ganforge.io.atomic import append_line, atomic_write


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
        """Plain lists and dicts (what checkpoints store)."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild what :meth:`to_dict` returned."""
        return cls(list(data["g_loss"]), list(data["d_loss"]), [dict(r) for r in data["records"]])


def _line(record: dict[str, Any]) -> str:
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    return json.dumps(clean) + "\n"


class MetricsWriter:
    """Appends one JSON object per line to ``metrics.jsonl``; non-finite numbers become null.

    Args:
        path: The file (None: write nothing).
        restart: When resuming, the records the checkpoint holds. The file is
            then rewritten (atomically) to exactly these lines first, dropping
            lines logged after the checkpoint and any half-written last line a
            crash left, so the resumed run's file matches an uninterrupted one.
    """

    def __init__(self, path: str | os.PathLike | None, restart: Sequence[dict[str, Any]] | None = None):
        self.path = path
        if path is not None and restart is not None:
            atomic_write(path, lambda f: f.writelines(_line(r) for r in restart), binary=False)

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line (a refused write raises :class:`~ganforge.errors.StorageError`)."""
        if self.path is None:
            return
        append_line(self.path, _line(record))

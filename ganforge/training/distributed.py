"""Data-parallel training over ``torch.distributed``: one process per device, on one or several machines.

:class:`DistContext` describes where this process stands (rank, world size,
local device) and owns the process group when ganforge created it. The
Trainer uses it to wrap both networks in ``DistributedDataParallel``, to
let rank 0 alone write files, to average logged losses across ranks (one
``all_reduce`` per log interval), and to turn a collective that fails
because a rank died or hung into a :class:`DistributedError` that names the
likely culprit and the timeout. Nothing here assumes one machine: the device
comes from ``LOCAL_RANK``, sharding from ``RANK`` and ``WORLD_SIZE``.
See ``docs/distributed.md``.
"""

from __future__ import annotations

import gc
import inspect
import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ganforge.errors import (
    ConfigError,
    DistributedError,
    GanforgeError,
    IncompatibleError,
)

STRATEGIES = ("auto", "ddp", "none")

#: DDP's switch for "do not broadcast buffers before every forward pass": ``forward_sync_buffers``
#: in recent PyTorch (which deprecates ``broadcast_buffers``), ``broadcast_buffers`` before it.
NO_FORWARD_BUFFER_SYNC: dict[str, bool] = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


def launched_distributed() -> bool:
    """True when a launcher such as torchrun started this process as one of several (``WORLD_SIZE > 1``)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def wants_ddp(strategy: str) -> bool:
    """Whether ``strategy`` (``"auto"``, ``"ddp"``, ``"none"``) means DDP in this process."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"'strategy' must be one of {STRATEGIES} (got {strategy!r})")
    if strategy == "none":
        if launched_distributed():
            raise ConfigError(
                f"strategy='none' but this process was launched as one of WORLD_SIZE={os.environ['WORLD_SIZE']} "
                "(torchrun); each would train alone and write to the same folder. Use strategy='auto' or 'ddp', "
                "or launch without torchrun."
            )
        return False
    joined = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1  # the caller's group
    return strategy == "ddp" or launched_distributed() or joined


def free_port() -> int:
    """A TCP port on this machine that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


class DistContext:
    """This process's place in a data-parallel run.

    Args:
        enabled: False for a single-process run (every method is then a no-op).
        device_type: ``"cuda"`` or ``"cpu"``: NCCL on CUDA, gloo on the CPU.
        timeout_s: Process-group timeout in seconds: a collective waiting
            longer than this on a rank that died or hung fails.

    With ``enabled``, the process group is joined from the environment that
    torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
    ``MASTER_PORT``); without those, a one-process group on a free local port.
    A group that already exists (the caller made it) is used and left alone.
    """

    def __init__(self, enabled: bool, device_type: str = "cpu", timeout_s: float = 300.0):
        self.enabled = enabled
        self.timeout_s = float(timeout_s)
        self.rank, self.world_size, self.local_rank = 0, 1, 0
        self.backend = None
        self.owns_group = False
        if not enabled:
            return
        if not dist.is_available():
            raise IncompatibleError("strategy='ddp' needs torch.distributed, which this PyTorch build lacks.")
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device_type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise ConfigError(
                    f"LOCAL_RANK={self.local_rank} but this machine has {torch.cuda.device_count()} CUDA device(s); "
                    "start at most that many processes per node (--nproc_per_node)."
                )
            torch.cuda.set_device(self.local_rank)
        if not dist.is_initialized():
            backend = "nccl" if device_type == "cuda" else "gloo"
            where: dict[str, Any] = {}
            if "MASTER_ADDR" not in os.environ:  # strategy="ddp" without a launcher: a world of one
                where = dict(init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
            try:
                dist.init_process_group(backend, timeout=timedelta(seconds=self.timeout_s), **where)
            except (RuntimeError, ValueError) as exc:
                raise DistributedError(
                    f"Could not join the process group ({backend}, MASTER_ADDR={os.environ.get('MASTER_ADDR')}, "
                    f"MASTER_PORT={os.environ.get('MASTER_PORT')}) within dist_timeout={self.timeout_s:g}s: {exc}. "
                    "Check that every node was started with the same rendezvous address and that it is reachable."
                ) from exc
            self.owns_group = True
        self.backend = dist.get_backend()
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes files and prints."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """The device this rank trains on: ``cuda:LOCAL_RANK`` on CUDA, else ``device`` unchanged."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def split_batch(self, batch_size: int) -> int:
        """Samples per rank of a global ``batch_size``; raises :class:`ConfigError` when it does not divide."""
        if batch_size % self.world_size:
            raise ConfigError(
                f"'batch_size' {batch_size} is the global batch and must divide evenly among the "
                f"{self.world_size} processes; use a multiple of {self.world_size} (e.g. "
                f"{max(self.world_size, batch_size - batch_size % self.world_size)})."
            )
        return batch_size // self.world_size

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel (rank 0's weights are broadcast to all ranks).

        Buffers are not broadcast before every forward pass
        (:data:`NO_FORWARD_BUFFER_SYNC`): D runs forward twice (real, fake) before
        one backward, and the in-place broadcast of rank 0's BatchNorm running
        statistics between the two broke that backward in PyTorch releases
        before the fix of pytorch/pytorch#175024. Running statistics are not
        used in training mode; each rank keeps its own, and rank 0's, which
        the broadcast would have imposed anyway, are the ones saved and sampled with.
        """
        if not self.enabled:
            return module
        ids = [self.local_rank] if next(module.parameters()).device.type == "cuda" else None
        return self.guard(lambda: nn.parallel.DistributedDataParallel(module, device_ids=ids, **NO_FORWARD_BUFFER_SYNC),
                          "wrapping a model")

    # -- collectives -------------------------------------------------------------

    def guard(self, fn: Callable[[], Any], what: str, step: int | None = None) -> Any:
        """Run ``fn``; turn a failed collective into a :class:`DistributedError` naming the likely dead rank."""
        if not self.enabled:
            return fn()
        try:
            return fn()
        except RuntimeError as exc:
            if isinstance(exc, GanforgeError) or not _is_comm_error(exc):
                raise
            raise self._failure(exc, what, step) from exc

    def mean_(self, tensor: torch.Tensor, step: int | None = None) -> torch.Tensor:
        """Average ``tensor`` over the ranks, in place (one all_reduce)."""
        if self.enabled and self.world_size > 1:
            self.guard(lambda: dist.all_reduce(tensor), "averaging the logged losses", step)
            tensor.div_(self.world_size)
        return tensor

    def any(self, flag: bool, step: int | None = None) -> bool:
        """True when ``flag`` is true on any rank (one small all_reduce)."""
        if not self.enabled or self.world_size == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self._comm_device())
        self.guard(lambda: dist.all_reduce(t), "agreeing on a stop request", step)
        return bool(t.item() > 0)

    def on_main(self, fn: Callable[[], Any], what: str, step: int | None = None) -> Any:
        """Run ``fn`` on rank 0 only and give every rank its result; an error there is raised on every rank."""
        if not self.enabled or self.world_size == 1:
            return fn()
        payload: list[Any] = [None]
        error: BaseException | None = None
        if self.is_main:
            try:
                payload[0] = ("ok", fn())
            except Exception as exc:  # noqa: BLE001 - re-raised below on every rank
                error = exc
                payload[0] = ("error", exc if isinstance(exc, GanforgeError) else GanforgeError(str(exc)))
        self.guard(lambda: dist.broadcast_object_list(payload, src=0), what, step)
        if error is not None:
            raise error
        status, value = payload[0]
        if status == "error":
            raise value
        return value

    def gather_to_main(self, obj: Any, step: int | None = None) -> list[Any] | None:
        """Every rank's ``obj`` (tensors moved to the CPU) as a list on rank 0; None on the others."""
        obj = _cpu(obj)
        if not self.enabled or self.world_size == 1:
            return [obj]
        out = [None] * self.world_size if self.is_main else None
        self.guard(lambda: dist.gather_object(obj, out, dst=0), "gathering the ranks' states for a checkpoint", step)
        return out

    def close(self, *holders: Any, barrier: bool = True) -> None:
        """Leave the process group if ganforge created it.

        ``holders`` are objects whose ``gen``/``disc`` attributes may hold DDP
        wrappers: these are replaced by the models inside first, since
        destroying the group under a live DDP wrapper can abort the process.
        ``barrier=False`` skips waiting for the other ranks (after an error).
        """
        for holder in holders:
            for name in ("gen", "disc"):
                module = getattr(holder, name, None)
                if isinstance(module, nn.parallel.DistributedDataParallel):
                    setattr(holder, name, module.module)
        if holders:
            gc.collect()
        if self.enabled and self.owns_group and dist.is_initialized():
            # Wait until every rank is done with the group (a rank leaving while rank 0 still
            # writes its last files can abort the others' connections).
            if barrier:
                self.guard(dist.barrier, "finishing the run")
            dist.destroy_process_group()
            self.owns_group = False

    def describe(self) -> str:
        """One phrase for the start-of-run log line."""
        if not self.enabled:
            return "single process"
        return f"DDP over {self.world_size} process(es) ({self.backend}, rank {self.rank})"

    # -- failure reports ---------------------------------------------------------

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def _failure(self, exc: BaseException, what: str, step: int | None) -> DistributedError:
        at = f" at step {step}" if step is not None else ""
        suspects = self._missing_ranks()
        if suspects is None:
            who = ("the other rank" if self.world_size == 2 else "another rank") + (
                f" (rank {1 - self.rank})" if self.world_size == 2 else "")
        elif suspects:
            who = f"rank {', '.join(map(str, suspects))}"
        else:
            who = "no rank in particular (all answered after the failure; a network problem?)"
        detail = " ".join(str(exc).split())[:300]
        return DistributedError(
            f"Rank {self.rank} of {self.world_size}: a collective failed while {what}{at}. The likely cause is "
            f"that {who} died or hung (see that rank's output). Collectives wait at most "
            f"dist_timeout={self.timeout_s:g}s (--dist-timeout). Resume from the last checkpoint with "
            f"'ganforge train --resume RUN_DIR' under the same launcher. ({type(exc).__name__}: {detail})"
        )

    def _missing_ranks(self, wait_s: float = 3.0) -> list[int] | None:
        """Ranks that do not report in the rendezvous store within ``wait_s`` (None: the store is unreachable)."""
        try:
            store = dist.distributed_c10d._get_default_store()
            store.set_timeout(timedelta(seconds=wait_s))
            store.set(f"ganforge/failed/{self.rank}", "1")
            keys = [f"ganforge/failed/{r}" for r in range(self.world_size)]
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                present = [r for r, k in enumerate(keys) if store.check([k])]
                if len(present) == self.world_size:
                    return []
                time.sleep(0.2)
            return [r for r, k in enumerate(keys) if not store.check([k])]
        except Exception:  # noqa: BLE001 - the store lives on the dead rank, or is gone
            return None


def _is_comm_error(exc: BaseException) -> bool:
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("gloo", "nccl", "connection", "timed out", "timeout", "peer", "socket",
                                   "broken pipe", "process group", "c10d"))

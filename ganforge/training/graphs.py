"""Whole-step CUDA-graph capture.

A GAN step on small models is launch-bound: hundreds of tiny kernels, each
costing more to launch than to run. Capturing the whole step (both forward
passes, both backward passes, both optimizer steps) in one CUDA graph
replaces them with a single launch per step. Capture needs static shapes and
device-only work, which :class:`~ganforge.training.step.GANStep` guarantees, and
optimizers built with ``capturable=True``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ganforge.training.step import Batch, GANStep

#: Eager steps run (for real, on real batches) before capture, on a side stream,
#: so that lazily initialised state (optimizer moments, cuDNN plans) exists.
WARMUP_STEPS = 3


class _Captured:
    """One captured variant of the step: its graph, static inputs and output."""

    def __init__(self) -> None:
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: list[tuple[Tensor, Tensor | None]] = []
        self.static_out: Tensor | None = None


class GraphedStep:
    """Runs ``step`` eagerly for :data:`WARMUP_STEPS` calls, then captures it and replays the graph.

    A step's shape of work can vary: the number of discriminator updates
    (``d_steps_at`` of a trick) and the lazy regularizers due. Each variant
    gets its own graph, warmed up and captured the first times it runs.
    """

    def __init__(self, step: GANStep):
        self.step = step
        self.variants: dict[tuple[int, tuple[int, ...], int | None], _Captured] = {}
        # Streams belong to a device: make them on the step's own (the current device may be another).
        self.device = step.device
        self.side_stream = torch.cuda.Stream(device=self.device)

    def __call__(self, batches: list[Batch], lazy: Sequence[int] = (), d_updates: int | None = None) -> Tensor:
        with torch.cuda.device(self.device):
            return self._call(batches, tuple(lazy), d_updates)

    def _call(self, batches: list[Batch], lazy: tuple[int, ...], d_updates: int | None = None) -> Tensor:
        v = self.variants.setdefault((len(batches), lazy, d_updates), _Captured())
        if v.graph is not None:
            for (sx, sy), (x, y) in zip(v.static_in, batches):
                sx.copy_(x, non_blocking=True)
                if sy is not None:
                    sy.copy_(y, non_blocking=True)
            v.graph.replay()
            return v.static_out
        v.calls += 1
        if v.calls <= WARMUP_STEPS:
            self.side_stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side_stream):
                out = self.step(batches, lazy, d_updates)
            torch.cuda.current_stream().wait_stream(self.side_stream)
            return out
        v.static_in = [(x.clone(), None if y is None else y.clone()) for x, y in batches]
        self.step.opt_g.zero_grad(set_to_none=True)
        self.step.opt_d.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        # thread_local: work in other threads (a DataLoader pinning the next batch) may go on during capture.
        with torch.cuda.graph(graph, stream=self.side_stream, capture_error_mode="thread_local"):
            v.static_out = self.step(v.static_in, lazy, d_updates)
        v.graph = graph
        graph.replay()  # capture records the work without running it
        return v.static_out

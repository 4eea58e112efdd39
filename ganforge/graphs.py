"""Whole-step CUDA-graph capture.

A GAN step on small models is launch-bound: hundreds of tiny kernels, each
costing more to launch than to run. Capturing the whole step (both forward
passes, both backward passes, both optimizer steps) in one CUDA graph
replaces them with a single launch per step. Capture needs static shapes and
device-only work, which :class:`~ganforge.step.GANStep` guarantees, and
optimizers built with ``capturable=True``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.step import Batch, GANStep

#: Eager steps run (for real, on real batches) before capture, on a side stream,
#: so that lazily initialised state (optimizer moments, cuDNN plans) exists.
WARMUP_STEPS = 3


class GraphedStep:
    """Runs ``step`` eagerly for :data:`WARMUP_STEPS` calls, then captures it and replays the graph."""

    def __init__(self, step: GANStep):
        self.step = step
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: list[tuple[Tensor, Tensor | None]] = []
        self.static_out: Tensor | None = None
        # Streams belong to a device: make them on the step's own (the current device may be another).
        self.device = step.device
        self.side_stream = torch.cuda.Stream(device=self.device)

    def _copy_in(self, batches: list[Batch]) -> None:
        for (sx, sy), (x, y) in zip(self.static_in, batches):
            sx.copy_(x, non_blocking=True)
            if sy is not None:
                sy.copy_(y, non_blocking=True)

    def __call__(self, batches: list[Batch]) -> Tensor:
        with torch.cuda.device(self.device):
            return self._call(batches)

    def _call(self, batches: list[Batch]) -> Tensor:
        if self.graph is not None:
            self._copy_in(batches)
            self.graph.replay()
            return self.static_out
        self.calls += 1
        if self.calls <= WARMUP_STEPS:
            self.side_stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side_stream):
                out = self.step(batches)
            torch.cuda.current_stream().wait_stream(self.side_stream)
            return out
        self.static_in = [(x.clone(), None if y is None else y.clone()) for x, y in batches]
        self.step.opt_g.zero_grad(set_to_none=True)
        self.step.opt_d.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        # thread_local: work in other threads (a DataLoader pinning the next batch) may go on during capture.
        with torch.cuda.graph(graph, stream=self.side_stream, capture_error_mode="thread_local"):
            self.static_out = self.step(self.static_in)
        self.graph = graph
        graph.replay()  # capture records the work without running it
        return self.static_out

"""Time the ``r3gan-cifar10`` preset's training step (the paper's CIFAR-10 networks, rpgan + R1 + R2) on random
CIFAR-shaped images, for the GPU check.

    python benchmarks/r3gan_step.py --device cuda --json gpu-results/r3gan.json
    python benchmarks/r3gan_step.py --device cpu --width 16 --batch 8 --steps 3 --warmup 1   # a quick look

The preset's settings are used as they are (``ganforge.presets``) except the data -- 10,000 random 3x32x32 uint8
images in 10 classes, held in memory (``random-cifar-shaped``, registered here: no CIFAR-10 files are needed) --
and whatever ``--width``/``--batch`` override. For each CUDA-graph setting (``--graphs``), the Trainer runs
``--warmup`` steps, then ``--steps`` more are timed with the device synchronised at both ends. Reported: steps/s,
images/s, peak device memory. It measures the step's cost only, not the quality of anything.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ganforge
from bench_common import machine, save_json
from ganforge.presets import get_preset


class RandomCifarShaped(ganforge.Dataset):
    """10,000 random 3x32x32 uint8 images with random labels in 10 classes (a stand-in of CIFAR-10's shape)."""

    name = "random-cifar-shaped"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (3, 32, 32)

    @property
    def num_classes(self) -> int:
        return 10

    def load(self):
        g = torch.Generator().manual_seed(0)
        return (torch.randint(0, 256, (10_000, 3, 32, 32), generator=g, dtype=torch.uint8),
                torch.randint(0, 10, (10_000,), generator=g))


class _Bundle:
    @ganforge.hookimpl
    def ganforge_register_datasets(self):
        return [RandomCifarShaped]


def time_step(settings: dict, device: str, warmup: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = ganforge.Trainer(**{**settings, "steps": warmup + steps, "out_dir": tmp, "overwrite": True})
        trainer.setup()
        for _ in range(warmup):
            trainer._one_step()
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            trainer._one_step()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        batch = settings["batch_size"]
        return {"graphs": trainer.use_graphs, "path": "CUDA graph" if trainer.use_graphs else "eager",
                "steps_per_s": steps / seconds, "images_per_s": steps * batch / seconds,
                "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--width", type=int, default=None, help="override the networks' width (default: the preset's 768)")
    p.add_argument("--batch", type=int, default=None, help="override the batch (default: the preset's 512)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--graphs", default="auto,off", help="cuda_graphs settings to time, comma-separated")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    ganforge.register_plugin(_Bundle(), name="r3gan-step-benchmark")
    settings = get_preset("r3gan-cifar10")
    settings.update(data=RandomCifarShaped.name, device=args.device, progress=False, sample_every=0,
                    checkpoint_every=0, checkpoint_minutes=0, log_every=10_000)
    if args.width is not None:
        for key in ("gen_options", "disc_options"):
            settings[key] = {**settings[key], "width": args.width}
    if args.batch is not None:
        settings["batch_size"] = args.batch
    runs = []
    for graphs in args.graphs.split(","):
        result = {"cuda_graphs": graphs, **time_step({**settings, "cuda_graphs": graphs}, args.device, args.warmup,
                                                     args.steps)}
        print(result, flush=True)
        runs.append(result)
    report = {"command": "python benchmarks/r3gan_step.py " + " ".join(argv or sys.argv[1:]), "machine": machine(),
              "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
              "preset": "r3gan-cifar10", "width": settings["gen_options"]["width"],
              "batch_size": settings["batch_size"], "runs": runs}
    if args.json:
        print(f"wrote {save_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

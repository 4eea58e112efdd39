"""Time ganforge's training step against a plain hand-written PyTorch loop of the same models.

Both sides train the same generator and discriminator (built by ganforge's
registry from the same spec and seed) on the same resident MNIST-shaped data
at the same batch size. The plain loop is written the way the classic
PyTorch-GAN ``gan.py`` is: numpy noise copied to the device, default Adam,
``zero_grad``/``backward``/``step`` for G then D on the detached fakes, and
both losses read with ``.item()`` every step. ganforge's side is
``Trainer.fit()`` itself, timed between two steps by a tiny timing trick, so
the progress bar, logging and data loading are all included.

Runs alternate (ganforge, plain, ganforge, plain, ...) so that load on a shared
machine hits both alike; the median of the repeats is reported.

    python benchmarks/step.py --device cpu
    python benchmarks/step.py --device cuda --model mlp,dcgan --batch-sizes 64,1024 --json out.json
    python benchmarks/step.py --loss hinge --regularizers r1 --tricks diffaugment   # an extra ganforge row
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ganforge
from ganforge.interfaces import ModelSpec

IMAGE_SHAPE = {"mlp": (1, 28, 28), "dcgan": (1, 32, 32)}


class _Timer(ganforge.Trick):
    """Records the wall time at step ``start`` and after the last step (benchmark only)."""

    name = "_bench_timer"

    def __init__(self, start: int = 0, end: int = 0):
        self.start, self.end, self.t0, self.t1 = start, end, 0.0, 0.0

    def _sync(self, trainer):
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()

    def before_step(self, trainer, step):
        if step == self.start:
            self._sync(trainer)
            self.t0 = time.perf_counter()

    def after_step(self, trainer, step):
        if step == self.end - 1:
            self._sync(trainer)
            self.t1 = time.perf_counter()


class _TimerPlugin:
    @staticmethod
    @ganforge.hookimpl
    def ganforge_register_tricks():
        return [_Timer]


def fake_images(n: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Deterministic uint8 images (the timing does not depend on their content)."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)


class _Images(ganforge.Dataset):
    """Random uint8 images of a fixed shape (benchmark only)."""

    name = "_bench_images"
    shape: tuple[int, ...] = (1, 28, 28)

    @property
    def sample_shape(self):
        return self.shape

    def load(self):
        return fake_images(10_000, self.shape), None


class _ImagesPlugin:
    @staticmethod
    @ganforge.hookimpl
    def ganforge_register_datasets():
        return [_Images]


def time_ganforge(model: str, batch: int, device: str, warmup: int, steps: int, extra: dict) -> float:
    """Seconds per step of Trainer.fit() between step ``warmup`` and the end."""
    _Images.shape = IMAGE_SHAPE[model]
    with tempfile.TemporaryDirectory() as tmp:
        trainer = ganforge.Trainer(
            gen=model, disc=model, data="_bench_images", batch_size=batch, steps=warmup + steps, device=device,
            tricks=["_bench_timer", *extra.get("tricks", [])],
            trick_options={"_bench_timer": {"start": warmup, "end": warmup + steps}, **extra.get("trick_options", {})},
            loss=extra.get("loss", "bce"), regularizers=extra.get("regularizers", []),
            out_dir=tmp, progress=False, sample_every=0, checkpoint_every=0, log_every=100,
        )
        trainer.fit()
        timer = trainer.tricks[0]
        return (timer.t1 - timer.t0) / steps


def time_plain(model: str, batch: int, device: str, warmup: int, steps: int, tuned: bool = False) -> float:
    """Seconds per step of a plain hand-written loop on the same models and data.

    ``tuned`` adds two of ganforge's savings by hand, to show what they buy:
    fused Adam, and no discriminator weight gradients in the generator's backward.
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    spec = ModelSpec(IMAGE_SHAPE[model], latent_dim=100)
    gen = ganforge.create_plugin("generator", model, spec).to(dev)
    disc = ganforge.create_plugin("discriminator", model, spec).to(dev)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=tuned or None)
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=tuned or None)
    g_params = list(gen.parameters()) if tuned else None
    criterion = torch.nn.BCEWithLogitsLoss()
    data = fake_images(10_000, IMAGE_SHAPE[model]).to(dev)
    order, pos = torch.randperm(len(data), device=dev), 0
    valid = torch.ones(batch, device=dev)
    fake_t = torch.zeros(batch, device=dev)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        if pos + batch > len(data):
            order, pos = torch.randperm(len(data), device=dev), 0
        real = data[order[pos:pos + batch]].float() / 127.5 - 1
        pos += batch
        z = torch.from_numpy(np.random.normal(0, 1, (batch, 100)).astype(np.float32)).to(dev)
        opt_g.zero_grad()
        fake = gen(z)
        g_loss = criterion(disc(fake), valid)
        g_loss.backward(inputs=g_params)
        opt_g.step()
        opt_d.zero_grad()
        d_loss = (criterion(disc(real), valid) + criterion(disc(fake.detach()), fake_t)) / 2
        d_loss.backward()
        opt_d.step()
        g_loss.item(), d_loss.item()  # the classic loop logs both every step
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def save_json(path: str | None, result: dict) -> None:
    """Write a benchmark's result as JSON (nothing when ``path`` is None)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="mlp", help="comma-separated: mlp, dcgan")
    parser.add_argument("--batch-sizes", default="64")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tricks", default="", help="comma-separated tricks for an extra ganforge row")
    parser.add_argument("--loss", default="", help="loss for the extra ganforge row (default bce)")
    parser.add_argument("--regularizers", default="", help="comma-separated regularizers for the extra ganforge row")
    parser.add_argument("--json", dest="json_path", help="write the results here")
    args = parser.parse_args(argv)
    ganforge.register_plugin(_TimerPlugin, name="bench-timer")
    ganforge.register_plugin(_ImagesPlugin, name="bench-images")
    rows = []
    for model in args.model.split(","):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            variants = {"ganforge": {}}
            if args.tricks or args.loss or args.regularizers:
                extra = {"tricks": [t for t in args.tricks.split(",") if t], "loss": args.loss or "bce",
                         "regularizers": [r for r in args.regularizers.split(",") if r]}
                variants["ganforge+" + ",".join(filter(None, [args.loss, args.regularizers, args.tricks]))] = extra
            plain_tuned = "plain + fused Adam + no D grads in G step"
            times: dict[str, list[float]] = {name: [] for name in [*variants, "plain", plain_tuned]}
            for _ in range(args.repeats):
                for name, extra in variants.items():
                    times[name].append(time_ganforge(model, batch, args.device, args.warmup, args.steps, extra))
                times["plain"].append(time_plain(model, batch, args.device, args.warmup, args.steps))
                times[plain_tuned].append(time_plain(model, batch, args.device, args.warmup, args.steps, tuned=True))
            plain = statistics.median(times["plain"])
            for name, values in times.items():
                ms = statistics.median(values) * 1e3
                rows.append({"model": model, "batch": batch, "loop": name, "ms_per_step": round(ms, 3),
                             "ratio_to_plain": round(ms / (plain * 1e3), 3),
                             "runs_ms": [round(v * 1e3, 3) for v in values]})
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(args.device), "device": args.device, "torch": torch.__version__,
        "ganforge": ganforge.__version__, "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "rows": rows,
    }
    print(f"{result['date']}  {result['machine']}  torch {result['torch']}  ({args.repeats} runs x {args.steps} steps, median)")
    width = max(len(r["loop"]) for r in rows) + 2
    print(f"{'model':<7}{'batch':>6}  {'loop':<{width}}{'ms/step':>9}{'x plain':>9}")
    for r in rows:
        print(f"{r['model']:<7}{r['batch']:>6}  {r['loop']:<{width}}{r['ms_per_step']:>9.3f}{r['ratio_to_plain']:>9.3f}")
    save_json(args.json_path, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

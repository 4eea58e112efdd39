"""Step cost of each piece of the modern toolkit, beside the baseline step, on the same machine in the same run.

Each configuration changes one thing in the baseline (ganforge's ``mlp`` G/D on
MNIST-shaped images, ``bce``, batch 64) and is timed for ``--steps`` steps after
``--warmup`` steps (the 32x32 pairs fewer: see ``FEWER_STEPS``); configurations are run round-robin ``--repeats`` times so
that load on a shared machine hits all alike, and the median is reported with
its ratio to the baseline's median. The SNGAN ResNet pair at 32x32 (with and
without spectral normalisation in D) is timed the same way against the
``dcgan`` pair at 32x32. One CPU thread; run nothing else at the same time.

Example::

    python benchmarks/pieces.py --steps 60 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))

MLP = {"gen": "mlp", "disc": "mlp", "batch_size": 64}
#: name -> (settings change, baseline it is compared with)
CONFIGS: dict[str, tuple[dict[str, Any], str]] = {
    "baseline (mlp, bce)": ({}, "baseline (mlp, bce)"),
    "loss hinge": ({"loss": "hinge"}, "baseline (mlp, bce)"),
    "loss lsgan": ({"loss": "lsgan"}, "baseline (mlp, bce)"),
    "loss ragan": ({"loss": "ragan"}, "baseline (mlp, bce)"),
    "loss wgan_gp": ({"loss": "wgan_gp"}, "baseline (mlp, bce)"),
    "r1 (every step)": ({"regularizers": ["r1"]}, "baseline (mlp, bce)"),
    "r1 lazy (every 16)": ({"regularizers": ["r1"], "regularizer_options": {"r1": {"every": 16}}},
                           "baseline (mlp, bce)"),
    "bcr": ({"regularizers": ["bcr"]}, "baseline (mlp, bce)"),
    "spectral norm in D": ({"disc_options": {"spectral_norm": True}}, "baseline (mlp, bce)"),
    "generator EMA": ({"ema_decay": 0.999}, "baseline (mlp, bce)"),
    "lr schedule (linear)": ({"g_optim": {"schedule": "linear"}, "d_optim": {"schedule": "linear"}},
                             "baseline (mlp, bce)"),
    "diffaugment (color,translation,cutout)": ({"tricks": ["diffaugment"]}, "baseline (mlp, bce)"),
    "diffaugment adaptive": ({"tricks": ["diffaugment"], "trick_options": {"diffaugment": {"adaptive": True}}},
                             "baseline (mlp, bce)"),
    "clip_weights": ({"tricks": ["clip_weights"]}, "baseline (mlp, bce)"),
    "dcgan pair 32x32": ({"gen": "dcgan", "disc": "dcgan", "image_size": 32}, "dcgan pair 32x32"),
    "sngan pair 32x32 (SN in D)": ({"gen": "sngan", "disc": "sngan", "image_size": 32}, "dcgan pair 32x32"),
    "sngan pair 32x32, no SN": ({"gen": "sngan", "disc": "sngan", "image_size": 32,
                                 "disc_options": {"spectral_norm": False}}, "dcgan pair 32x32"),
}


#: The ResNet pair costs seconds per step on a CPU: fewer timed steps (at least 3).
FEWER_STEPS = {"dcgan pair 32x32": 4, "sngan pair 32x32 (SN in D)": 20, "sngan pair 32x32, no SN": 20}


def steps_for(name: str, steps: int) -> int:
    return max(3, steps // FEWER_STEPS.get(name, 1))


def build(name: str, data_root: str, workdir: Path) -> Any:
    import ganforge

    change, _ = CONFIGS[name]
    settings: dict[str, Any] = {**MLP, "data": "mnist", "data_root": data_root, "split": "test", "device": "cpu",
                                "progress": False, "sample_every": 0, "checkpoint_every": 0,
                                "checkpoint_minutes": 0, "threads": 1, "steps": 10**6,
                                "out_dir": str(workdir / name.replace(" ", "_")), "overwrite": True}
    for key, value in change.items():
        settings[key] = {**settings.get(key, {}), **value} if isinstance(value, dict) else value
    return ganforge.Trainer(**settings).setup()


def time_steps(trainer: Any, steps: int) -> float:
    """Milliseconds per step over ``steps`` steps (host events included, as in ``fit``)."""
    start = time.perf_counter()
    for _ in range(steps):
        trainer._one_step()
        trainer.step += 1
    return (time.perf_counter() - start) / steps * 1000


def main(argv: list[str] | None = None) -> int:
    from bench_common import machine, require_mnist, save_json

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=60, help="timed steps per run (default 60)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="round-robin repeats (default 3)")
    p.add_argument("--mnist-root", default=None, help="MNIST folder (default $GANFORGE_DATA or ../shared/data/mnist)")
    p.add_argument("--out", default=None, help="output path without extension (default benchmarks/results/pieces-cpu)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    root = require_mnist(args.mnist_root)
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {name: build(name, root, Path(tmp)) for name in CONFIGS}
        for name, trainer in trainers.items():
            time_steps(trainer, steps_for(name, args.warmup))
        for repeat in range(args.repeats):
            for name, trainer in trainers.items():
                times[name].append(time_steps(trainer, steps_for(name, args.steps)))
            print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)
    rows = []
    for name, (_, base) in CONFIGS.items():
        med = statistics.median(times[name])
        rows.append({"config": name, "ms_per_step": med, "runs_ms": times[name], "baseline": base,
                     "timed_steps": steps_for(name, args.steps),
                     "ratio": med / statistics.median(times[base])})
        print(f"{name:<40} {med:8.2f} ms/step  x{rows[-1]['ratio']:.2f} of {base}")
    report = {"benchmark": "pieces", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "command": " ".join(["python", *sys.argv]), "threads": 1,
              "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "rows": rows}
    out = Path(args.out) if args.out else RESULTS / "pieces-cpu"
    save_json(report, out.with_suffix(".json"))
    print(f"Wrote {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

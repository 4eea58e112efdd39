"""The one-seed trials behind the ``r3gan-mnist`` preset: its settings with one choice put back as the paper has it.

Each trial trains the preset changed by one setting for ``--steps`` steps (default
1,000) on the MNIST test split, one CPU thread per run, seed 0, then records the
discriminator's last logged loss and the domain-classifier FID and class KL of
``--n`` samples (default 2,000; the EMA's weights where the trial keeps one).
Trials run as parallel one-thread processes (``--jobs``). One seed and a short
run: this says which settings make digits quickly, not a tested difference.

Example::

    python benchmarks/r3gan_trials.py --jobs 2
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_common import one_thread_worker


def _adam(lr: float) -> dict[str, Any]:
    return {"name": "adam", "lr": lr, "betas": (0.0, 0.99)}


#: Trial name -> the settings changed from the preset.
TRIALS: dict[str, dict[str, Any]] = {
    "r3gan-mnist (gamma 1, lr 2e-3, EMA 0.99)": {},
    "gamma 0.05 (the paper's), lr 2e-4, no EMA": {
        "regularizer_options": {"r1": {"gamma": 0.05}, "r2": {"gamma": 0.05}},
        "g_optim": _adam(2e-4), "d_optim": _adam(2e-4), "ema_decay": None},
    "lr 5e-4, no EMA": {"g_optim": _adam(5e-4), "d_optim": _adam(5e-4), "ema_decay": None},
    "lr 1e-3, no EMA": {"g_optim": _adam(1e-3), "d_optim": _adam(1e-3), "ema_decay": None},
    "no EMA": {"ema_decay": None},
    "EMA 0.995 (warm-up 500)": {"ema_decay": 0.995, "ema_warmup": 500},
}


def run(settings: dict[str, Any], n: int) -> dict[str, Any]:
    """Train ``settings`` to its end, then measure (in a worker process)."""
    import ganforge
    from ganforge.metrics import evaluate

    trainer = ganforge.Trainer(**settings)
    start = time.perf_counter()
    history = trainer.fit()
    seconds = time.perf_counter() - start
    d_loss = [r["d_loss"] for r in history.records if "d_loss" in r]  # the logged values, as in metrics.jsonl
    result = evaluate(trainer, n=n)
    return {"seconds": seconds, "d_loss_last": d_loss[-1] if d_loss else None,
            **{k: result[k] for k in ("fid", "class_kl", "classes") if k in result}}


def main(argv: list[str] | None = None) -> int:
    from bench_common import machine, require_mnist, save_json

    from ganforge.presets import get_preset

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1000, help="steps per trial (default 1,000)")
    p.add_argument("--n", type=int, default=2000, help="evaluation samples (default 2,000)")
    p.add_argument("--jobs", type=int, default=2, help="parallel one-thread processes (default 2)")
    p.add_argument("--only", default=None, help="comma-separated trial names to run")
    p.add_argument("--mnist-root", default=None)
    p.add_argument("--out", default=None, help="output path without extension")
    args = p.parse_args(argv)
    root = require_mnist(args.mnist_root)
    trials = TRIALS
    if args.only:
        keep = [name.strip() for name in args.only.split(",")]
        unknown = sorted(set(keep) - set(TRIALS))
        if unknown:
            p.error(f"unknown trial(s) {', '.join(unknown)}; the trials are: {'; '.join(TRIALS)}")
        trials = {name: TRIALS[name] for name in keep}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, cf.ProcessPoolExecutor(
            args.jobs, mp_context=mp.get_context("spawn"), initializer=one_thread_worker) as pool:
        futures = {}
        for i, (name, change) in enumerate(trials.items()):
            settings = {**get_preset("r3gan-mnist"), **change, "data_root": root, "split": "test", "device": "cpu",
                        "progress": False, "sample_every": 0, "checkpoint_every": 0, "checkpoint_minutes": 0,
                        "threads": 1, "steps": args.steps, "seed": 0, "log_every": 50, "overwrite": True,
                        "out_dir": str(Path(tmp) / f"trial-{i}")}
            futures[pool.submit(run, settings, args.n)] = name
        for future in cf.as_completed(futures):
            name = futures[future]
            results[name] = future.result()
            print(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in results[name].items() if v is not None),
                  flush=True)
    report = {"benchmark": "r3gan_trials", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "command": " ".join(["python", *sys.argv]), "steps": args.steps, "n": args.n,
              "seed": 0, "jobs": args.jobs, "trials": {name: trials[name] for name in trials},
              "results": {name: results[name] for name in trials}}
    out = Path(args.out) if args.out else RESULTS / "r3gan-mnist-trials"
    save_json(report, out.with_suffix(".json"))
    print(f"Wrote {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

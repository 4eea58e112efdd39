"""Recipes compared at the same wall-clock budget: each trains for ``--budget`` seconds of one CPU thread, then is measured.

Training stops at the first step after the budget is spent (evaluation is not
counted), then :func:`ganforge.metrics.evaluate` measures the generator (the
weight average when the recipe keeps one) with the same metrics as
``ganforge eval``. Seeds run as parallel processes of one thread each
(``--jobs``, one per core). Results: mean and 95 % interval per metric, and
the exact permutation test of each recipe against the first one.

Suites (``--suite``):

* ``mnist-dcgan``: issue 14's comparison on MNIST at 28x28: ``dcgan`` with the
  DCGAN recipe (``bce``, Adam 2e-4 (0.5, 0.999)) against ``dcgan`` with hinge
  loss, spectral norm in D, generator EMA and DiffAugment (and each of those
  added alone), domain-classifier FID.
* ``mnist-mlp``: issue 15's MNIST recipe against the seed recipe (``mlp``,
  ``bce``, no tricks).
* ``mnist-r3gan``: issue 25's comparison: the presets ``mnist``, ``dcgan`` and
  ``r3gan-mnist`` as they are (but for their step counts), domain-classifier
  FID and class KL.
* ``stacked-r3gan``: the presets ``dcgan`` and ``r3gan-mnist`` on
  ``stacked-mnist`` (three digits as the channels; the mode count of 1,000).

Example::

    python benchmarks/same_budget.py --suite mnist-dcgan --budget 240 --seeds 3 --jobs 2
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
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

_DCGAN = {"gen": "dcgan", "disc": "dcgan", "gen_options": {"width": 32}, "disc_options": {"width": 32},
          "batch_size": 64, "latent_dim": 100}
#: Suite -> recipe name -> TrainConfig fields, or "preset:NAME" for a preset as it is (see from_preset).
SUITES: dict[str, dict[str, dict[str, Any] | str]] = {
    "mnist-dcgan": {
        "dcgan recipe (bce)": {**_DCGAN, "loss": "bce"},
        "+ hinge": {**_DCGAN, "loss": "hinge"},
        "+ spectral norm in D": {**_DCGAN, "loss": "bce", "disc_options": {"width": 32, "spectral_norm": True}},
        "+ EMA 0.999": {**_DCGAN, "loss": "bce", "ema_decay": 0.999},
        "+ diffaugment": {**_DCGAN, "loss": "bce", "tricks": ["diffaugment"]},
        "hinge + SN + EMA + diffaugment": {**_DCGAN, "loss": "hinge", "ema_decay": 0.999,
                                           "disc_options": {"width": 32, "spectral_norm": True},
                                           "tricks": ["diffaugment"]},
    },
    "mnist-mlp": {
        "seed recipe (mlp, bce)": {"gen": "mlp", "disc": "mlp", "loss": "bce", "batch_size": 64},
    },
    "mnist-r3gan": {"mnist": "preset:mnist", "dcgan": "preset:dcgan", "r3gan-mnist": "preset:r3gan-mnist"},
    "stacked-r3gan": {"dcgan": "preset:dcgan", "r3gan-mnist": "preset:r3gan-mnist"},
}
#: Each suite's data set (default: mnist).
SUITE_DATA = {"stacked-r3gan": "stacked-mnist"}


#: The measurements tabled (those the data set's metrics give).
KEYS = ("fid", "kid", "precision", "recall", "classes", "class_kl", "stacked_modes", "stacked_kl", "steps")


def from_preset(name: str) -> dict[str, Any]:
    """A preset as a recipe: its settings but the length and the data (the suite sets the data, the budget the length)."""
    from ganforge.presets import get_preset

    return {k: v for k, v in get_preset(name).items() if k not in ("steps", "data", "data_options")}


def suite_recipes(suite: str) -> dict[str, dict[str, Any]]:
    """The recipes of ``suite`` as settings (``"preset:NAME"`` entries resolved)."""
    return {name: from_preset(r[len("preset:"):]) if isinstance(r, str) else dict(r) for name, r in SUITES[suite].items()}


def run(settings: dict[str, Any], budget: float, n: int | None) -> dict[str, Any]:
    """Train until ``budget`` seconds are spent, then evaluate (in a worker process)."""
    import ganforge
    from ganforge.metrics import evaluate

    trainer = ganforge.Trainer(**settings)
    trainer.setup()
    start = time.perf_counter()
    while time.perf_counter() - start < budget:
        for _ in range(10):
            trainer._one_step()
            trainer.step += 1
    trained = time.perf_counter() - start
    result = evaluate(trainer, n=n)
    result.update(train_seconds=trained, steps=trainer.step)
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str)) or v is None}


def main(argv: list[str] | None = None) -> int:
    from bench_common import machine, require_mnist, save_json
    from stats import mean_ci, verdict

    from ganforge.metrics import HIGHER_IS_BETTER

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default="mnist-dcgan", choices=sorted(SUITES))
    p.add_argument("--recipe", action="append", default=[], metavar="NAME=PRESET",
                   help="add a preset as a recipe to the suite (repeatable), e.g. 'mnist recipe=mnist'")
    p.add_argument("--settings", action="append", default=[], metavar="NAME=JSON",
                   help="add a recipe given as TrainConfig fields in JSON (repeatable), e.g. "
                        "'ema={\"gen\": \"mlp\", \"disc\": \"mlp\", \"ema_decay\": 0.999}'")
    p.add_argument("--only-added", action="store_true", help="leave out the suite's own recipes but its first")
    p.add_argument("--only", default=None, help="comma-separated suite recipes to run (its first always runs)")
    p.add_argument("--budget", type=float, default=240.0, help="training seconds per run (default 240)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--jobs", type=int, default=2, help="parallel one-thread processes (default 2)")
    p.add_argument("--n", type=int, default=None, help="evaluation samples (default: evaluate()'s)")
    p.add_argument("--mnist-root", default=None)
    p.add_argument("--out", default=None, help="output path without extension")
    args = p.parse_args(argv)
    root = require_mnist(args.mnist_root)
    recipes = suite_recipes(args.suite)
    if args.only_added:
        recipes = dict(list(recipes.items())[:1])
    if args.only:
        keep = {name.strip() for name in args.only.split(",")}
        unknown = keep - set(recipes)
        if unknown:
            p.error(f"unknown recipe(s) {', '.join(sorted(unknown))}; the suite has: {', '.join(recipes)}")
        first = next(iter(recipes))
        recipes = {name: r for name, r in recipes.items() if name == first or name in keep}
    for text in args.recipe:
        name, _, preset = text.partition("=")
        recipes[name] = from_preset(preset)
    for text in args.settings:
        name, _, settings = text.partition("=")
        recipes[name] = json.loads(settings)
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp, cf.ProcessPoolExecutor(
            args.jobs, mp_context=mp.get_context("spawn"), initializer=one_thread_worker) as pool:
        futures = {}
        for seed in range(args.seeds):
            for name, change in recipes.items():
                settings = {"data": SUITE_DATA.get(args.suite, "mnist"), "data_root": root, "split": "test",
                            "device": "cpu", "progress": False, "sample_every": 0, "checkpoint_every": 0,
                            "checkpoint_minutes": 0, "threads": 1, "steps": 10**7, "seed": seed, "overwrite": True,
                            "out_dir": str(Path(tmp) / f"{name.replace(' ', '_')}-{seed}"), **change}
                futures[pool.submit(run, settings, args.budget, args.n)] = name
        for future in cf.as_completed(futures):
            name = futures[future]
            result = future.result()
            rows.setdefault(name, []).append(result)
            print(f"{name}: " + ", ".join(f"{key} {result[key]:.4g}" for key in KEYS if result.get(key) is not None),
                  flush=True)
    first = next(iter(recipes))
    table = []
    for name in recipes:
        entry: dict[str, Any] = {"recipe": name}
        for key in KEYS:
            vals = [float(r[key]) for r in rows[name] if r.get(key) is not None]
            if not vals:
                continue
            mean, lo, hi = mean_ci(vals)
            cell: dict[str, Any] = {"mean": mean, "ci": [lo, hi], "values": vals}
            base = [float(r[key]) for r in rows[first] if r.get(key) is not None]
            if name != first and key != "steps" and len(vals) > 1 and len(base) > 1:
                cell["verdict"], cell["p"] = verdict(vals, base, higher_is_better=key in HIGHER_IS_BETTER)
            entry[key] = cell
        table.append(entry)
        print(name, {k: (round(v["mean"], 4), v.get("verdict")) for k, v in entry.items() if isinstance(v, dict)})
    report = {"benchmark": "same_budget", "suite": args.suite,
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "command": " ".join(["python", *sys.argv]), "budget_s": args.budget, "seeds": args.seeds,
              "jobs": args.jobs, "recipes": recipes, "table": table, "runs": rows}
    out = Path(args.out) if args.out else RESULTS / f"same-budget-{args.suite}"
    save_json(report, out.with_suffix(".json"))
    print(f"Wrote {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

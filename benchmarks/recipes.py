"""The 2-D recipes measured: each preset over seeds, timed on one CPU thread and scored like ``ganforge eval``.

For every preset in ``--presets`` and every seed, one worker process with one
CPU thread runs ``Trainer.from_preset(NAME, seed=SEED).fit()`` exactly as
``ganforge train --preset NAME --seed SEED --threads 1`` would (sample
pictures and checkpoints included in the time), then scores the generator
with :func:`ganforge.metrics.evaluate` under PacGAN's protocol (2,500 samples,
the generator's weight average when the run keeps one) -- the numbers
``ganforge eval`` prints. The table gives the mean over the seeds with the
sample standard deviation and the range, and whether every seed met the
target the recipe is held to:

==============  ======  ===============  ==========  ============
preset          modes   high quality     reverse KL  wall seconds
==============  ======  ===============  ==========  ============
grid25          25      >= 95 %          <= 0.02     <= 180
ring8           8       >= 97 %          <= 0.02     <= 180
grid25-quick    >= 24   >= 80 %          --          <= 30
==============  ======  ===============  ==========  ============

``grid25-quick`` is the README's first run: its target is the README's
promise (at least 24 of 25 modes and 80 % high-quality samples, trained in
at most 30 s on an idle core). ``--jobs 2`` runs two seeds at once, one per
core (each still one thread); run nothing else meanwhile: the load average
at the start and the end is recorded with the results, since on a shared
machine the seconds (not the samples, which one thread makes the same every
time) grow with the load. Seed 0's scatter of samples over the modes is
saved beside the results as a PNG.

Examples::

    python benchmarks/recipes.py --presets grid25,ring8,grid25-quick --seeds 5 --jobs 2
    python benchmarks/recipes.py --presets grid25-quick --seeds 5 --jobs 2 --out benchmarks/results/recipes-grid25-quick
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_common import one_thread_worker

#: preset -> (minimum modes, minimum high-quality %, maximum reverse KL or None, maximum wall seconds)
TARGETS: dict[str, tuple[int, float, float | None, float]] = {
    "grid25": (25, 95.0, 0.02, 180.0),
    "ring8": (8, 97.0, 0.02, 180.0),
    "grid25-quick": (24, 80.0, None, 30.0),
}
SHOWN = ("modes", "hq_percent", "reverse_kl", "train_seconds", "steps_per_second")


def run_one(preset: str, seed: int, out_dir: str, scatter: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Train preset ``preset`` with ``seed`` (in a worker process) and score it; returns the metrics."""
    from ganforge import Trainer
    from ganforge.metrics import evaluate

    trainer = Trainer.from_preset(preset, seed=seed, out_dir=out_dir, threads=1, device="cpu", progress=False,
                                  **overrides)
    start = time.perf_counter()
    trainer.fit()
    train_s = time.perf_counter() - start
    result = evaluate(trainer, scatter=scatter)
    result.update(train_seconds=train_s, seed=seed, steps=trainer.step, steps_per_second=trainer.step / train_s)
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str)) or v is None}


def meets(preset: str, run: dict[str, Any]) -> bool:
    """Whether one run meets its preset's target (:data:`TARGETS`)."""
    modes, hq, rkl, seconds = TARGETS[preset]
    return (run["modes"] >= modes and run["hq_percent"] >= hq and (rkl is None or run["reverse_kl"] <= rkl)
            and run["train_seconds"] <= seconds)


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation, min and max of each shown metric over the runs."""
    out = {}
    for key in SHOWN:
        values = [float(r[key]) for r in runs]
        out[key] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "min": min(values), "max": max(values)}
    return out


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [f"Recipes, {len(meta['seeds'])} seeds each ({meta['date']}; {meta['machine']}; "
             f"{meta['jobs']} runs at a time, one CPU thread each; load average "
             f"{_load_text(meta)}).", "",
             f"Command: `{meta['command']}`", "",
             "| preset | steps | modes | high quality % | reverse KL | wall s (training) | steps/s "
             "| seeds meeting the target |",
             "|---|---|---|---|---|---|---|---|"]
    for preset, entry in report["results"].items():
        s = entry["summary"]

        def cell(key: str, fmt: str) -> str:
            m = s[key]
            return (f"{m['mean']:{fmt}} ± {m['sd']:{fmt}} ({m['min']:{fmt}}–{m['max']:{fmt}})")

        lines.append(f"| `{preset}` | {entry['runs'][0]['steps']} | {cell('modes', '.1f')} | {cell('hq_percent', '.1f')}"
                     f" | {cell('reverse_kl', '.4f')} | {cell('train_seconds', '.1f')} | "
                     f"{cell('steps_per_second', '.0f')} | {entry['met']}/{len(entry['runs'])} |")
    lines += ["", "Cells: mean ± sample standard deviation (min–max) over the seeds; scored by "
              "`ganforge.metrics.evaluate` with 2,500 samples (PacGAN's protocol)."]
    return "\n".join(lines) + "\n"


def _load() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the system has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return None


def _load_text(meta: dict[str, Any]) -> str:
    start, end = meta.get("load_start"), meta.get("load_end")
    if not start or not end:
        return "not recorded"
    return f"{start[0]:.2f} at the start, {end[0]:.2f} at the end (1 minute)"


def main(argv: list[str] | None = None) -> int:
    from bench_common import machine, save_json

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", default="grid25,ring8,grid25-quick", help="comma-separated presets")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per preset (default 5)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time, one CPU thread each (default 2)")
    p.add_argument("--steps", type=int, default=None, help="override the presets' steps (for a quick look)")
    p.add_argument("--override", default=None, metavar="JSON",
                   help="TrainConfig fields to change in every preset, e.g. '{\"regularizer_options\": "
                        "{\"r1\": {\"gamma\": 0.1, \"every\": 4}}}' (for trying a variant)")
    p.add_argument("--out", default=None, help="results path without suffix (default benchmarks/results/recipes)")
    args = p.parse_args(argv)
    presets = [name.strip() for name in args.presets.split(",") if name.strip()]
    unknown = [name for name in presets if name not in TARGETS]
    if unknown:
        p.error(f"no target for preset(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    out = Path(args.out) if args.out else RESULTS / "recipes"
    overrides = {} if args.steps is None else {"steps": args.steps}
    if args.override:
        overrides.update(json.loads(args.override))
    report: dict[str, Any] = {"meta": {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/recipes.py", *(argv if argv is not None else sys.argv[1:])]),
        "seeds": list(range(args.seeds)), "jobs": args.jobs, "machine": machine(), "targets": TARGETS,
        "load_start": _load(),
    }, "results": {}}
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ganforge-recipes-") as tmp, \
            cf.ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=one_thread_worker) as pool:
        futures = {}
        for preset in presets:
            for seed in range(args.seeds):
                scatter = str(out.parent / f"{out.name}-{preset}-seed0.png") if seed == 0 else None
                futures[pool.submit(run_one, preset, seed, str(Path(tmp) / f"{preset}-{seed}"), scatter,
                                    overrides)] = preset
        runs: dict[str, list[dict[str, Any]]] = {}
        for future in cf.as_completed(futures):
            preset = futures[future]
            run = future.result()
            runs.setdefault(preset, []).append(run)
            print(f"{preset} seed {run['seed']}: " + ", ".join(f"{k}={run[k]:.4g}" for k in SHOWN)
                  + (" (meets the target)" if meets(preset, run) else " (misses the target)"), flush=True)
    report["meta"]["load_end"] = _load()
    for preset in presets:
        entry = sorted(runs[preset], key=lambda r: r["seed"])
        report["results"][preset] = {"runs": entry, "summary": summarize(entry),
                                     "met": sum(meets(preset, r) for r in entry)}
    save_json(report, out.with_suffix(".json"))
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    print(f"Wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU threads: steps per second of a small GAN with 1, 2 and ``threads="measure"``, with and without a busy core.

For each condition (no other load; one other process spinning on a core) and
each thread setting (every count from 1 to the usable cores, and ``measure``),
train the README's first run (the ``grid25-quick`` preset) for ``--steps`` steps and report
the training rate (steps after ``--warmup`` warm-up steps, excluding the
``measure`` timing itself, which is reported separately as ``choose_s``).
The busy process is a pure-Python loop (no threads of its own), like any
other job sharing the machine.

Example::

    python benchmarks/threads.py --steps 600 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))


def spin(stop: Any) -> None:
    """Keep one core busy until ``stop`` is set."""
    x = 0
    while not stop.is_set():
        for _ in range(10_000):
            x += 1


def rate(setting: int | str, steps: int, warmup: int, settings: dict[str, Any], out: Path) -> dict[str, float]:
    """Train with ``threads=setting``; return the steady steps/s, the chosen count and the choosing time."""
    import torch

    import ganforge

    os.environ.pop("GANFORGE_THREADS", None)
    start = time.perf_counter()
    trainer = ganforge.Trainer(**settings, threads=setting, steps=warmup + steps, out_dir=str(out), overwrite=True)
    trainer.setup()
    setup_s = time.perf_counter() - start
    for _ in range(warmup):
        trainer._one_step()
    begin = time.perf_counter()
    for _ in range(steps):
        trainer._one_step()
    elapsed = time.perf_counter() - begin
    return {"steps_per_s": steps / elapsed, "threads": torch.get_num_threads(), "setup_s": setup_s,
            "note": trainer.threads_note}


def main(argv: list[str] | None = None) -> int:
    from bench_common import machine, save_json

    from ganforge.training.threads import usable_cores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=600, help="timed steps per run (default 600)")
    p.add_argument("--warmup", type=int, default=50, help="untimed steps first (default 50)")
    p.add_argument("--repeats", type=int, default=3, help="runs per setting and condition (default 3)")
    p.add_argument("--out", default=None, help="output path without extension (default benchmarks/results/threads-cpu)")
    args = p.parse_args(argv)
    from ganforge.presets import get_preset

    # The README's first run (the grid25-quick preset), without its pictures and checkpoints.
    settings = {**{k: v for k, v in get_preset("grid25-quick").items() if k != "steps"}, "device": "cpu",
                "progress": False, "sample_every": 0, "checkpoint_every": 0, "log_every": 100}
    cores = usable_cores()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "ganforge-threads-bench"
    results: dict[str, Any] = {}
    for condition in ("idle", "one busy core"):
        stop = mp.Event()
        busy = mp.Process(target=spin, args=(stop,), daemon=True) if condition != "idle" else None
        if busy is not None:
            busy.start()
            time.sleep(1.0)
        try:
            for setting in [*range(1, cores + 1), "measure"]:
                runs = [rate(setting, args.steps, args.warmup, settings, work) for _ in range(args.repeats)]
                rates = [r["steps_per_s"] for r in runs]
                results.setdefault(condition, {})[str(setting)] = {
                    "steps_per_s_median": statistics.median(rates), "steps_per_s": rates,
                    "threads_used": [r["threads"] for r in runs], "setup_s": [r["setup_s"] for r in runs],
                    "notes": [r["note"] for r in runs]}
                print(f"{condition:>14} threads={setting!s:>4}: {statistics.median(rates):7.1f} step/s "
                      f"(runs {', '.join(f'{r:.1f}' for r in rates)}; used {[r['threads'] for r in runs]})",
                      flush=True)
        finally:
            if busy is not None:
                stop.set()
                busy.join(5)
    report = {"benchmark": "threads", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "command": " ".join(["python", *sys.argv]), "settings": settings,
              "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "usable_cores": cores,
              "results": results}
    out = Path(args.out) if args.out else RESULTS / "threads-cpu"
    save_json(report, out.with_suffix(".json"))
    print(f"Wrote {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

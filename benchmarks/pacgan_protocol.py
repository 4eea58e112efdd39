"""PacGAN's 2-D protocol: the ``pacgan`` preset against a plain implementation, at equal updates, over seeds.

Runs, for each seed, ``benchmarks/pacgan_plain.py`` (a hand-written PyTorch
loop of PacGAN's protocol in the paper's units: its generator, maxout
discriminator, Adam 1e-4 (0.8, 0.999), batch 100) and ``ganforge train
--preset pacgan`` for the same number of updates, each in its own process on
one CPU thread, and scores both with the same mixture metrics (2,500 samples,
3-sigma high quality). ``--pack 4`` compares PacGAN4 (``--preset pacgan4``
against the plain loop with ``--m 4``). The table gives mean ± sample standard
deviation over the seeds and an exact two-sided permutation test of the
difference in means (``benchmarks/stats.py``).

Known differences that remain (the preset uses ganforge's building blocks):
the plain loop updates G and D from one forward pass (as ALI's code does),
keeps Blocks-style batch-norm statistics and draws from a fixed set of
100,000 points; ganforge alternates D then G, uses ``torch.nn.BatchNorm1d``
and draws fresh points every step.

Example::

    python benchmarks/pacgan_protocol.py --updates 10000 --seeds 3 --jobs 2
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))
METRICS = ("modes", "hq_percent", "reverse_kl")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GANFORGE_THREADS": "1", "PYTHONPATH": str(REPO)}


def run_plain(seed: int, updates: int, pack: int) -> dict[str, Any]:
    """The plain loop's final evaluation (it prints one JSON line per evaluation)."""
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "pacgan_plain.py"), "--seed", str(seed),
                          "--updates", str(updates), "--m", str(pack), "--tag", "plain"],
                         env=ENV, check=True, capture_output=True, text=True).stdout
    last = json.loads(out.strip().splitlines()[-1])
    return {"impl": "plain", "seed": seed, "updates": last["updates"], "train_seconds": last["train_wall_s"],
            **{k: last[k] for k in METRICS}}


def run_ganforge(seed: int, updates: int, pack: int, folder: str) -> dict[str, Any]:
    """``ganforge train --preset pacgan[4]`` then ``ganforge eval --json``."""
    preset = "pacgan" if pack == 1 else f"pacgan{pack}"
    ganforge = [sys.executable, "-m", "ganforge"]
    start = time.perf_counter()
    subprocess.run([*ganforge, "train", "--preset", preset, "--steps", str(updates), "--seed", str(seed),
                    "--threads", "1", "--device", "cpu", "--sample-every", "0", "--checkpoint-every", "0",
                    "--no-progress", "--out", folder], env=ENV, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start  # the whole command, Python start-up included
    out = subprocess.run([*ganforge, "eval", folder, "--json"], env=ENV, check=True, capture_output=True,
                         text=True).stdout
    result = json.loads(out)
    return {"impl": "ganforge", "seed": seed, "updates": result["step"], "train_seconds": seconds,
            **{k: result[k] for k in METRICS}}


def main(argv: list[str] | None = None) -> int:
    from bench_common import machine, save_json
    from stats import mean_ci, verdict

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--updates", type=int, default=10_000, help="updates per run (default 10000)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--pack", type=int, default=1, choices=[1, 4], help="1: GAN, 4: PacGAN4 (default 1)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time, one CPU thread each (default 2)")
    p.add_argument("--out", default=None, help="results path without suffix")
    args = p.parse_args(argv)
    out = Path(args.out) if args.out else RESULTS / f"pacgan-protocol-m{args.pack}"
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ganforge-pacgan-") as tmp, cf.ThreadPoolExecutor(args.jobs) as pool:
        futures = []
        for seed in range(args.seeds):
            futures.append(pool.submit(run_plain, seed, args.updates, args.pack))
            futures.append(pool.submit(run_ganforge, seed, args.updates, args.pack, f"{tmp}/gf-{seed}"))
        for future in cf.as_completed(futures):
            run = future.result()
            runs.append(run)
            print(json.dumps(run), flush=True)
    table = []
    for key in METRICS:
        plain = [float(r[key]) for r in runs if r["impl"] == "plain"]
        ours = [float(r[key]) for r in runs if r["impl"] == "ganforge"]
        word, p_value = verdict(ours, plain, higher_is_better=key != "reverse_kl")
        word = {"helps": "better", "hurts": "worse"}.get(word, "no detectable difference")
        table.append({"metric": key, "plain": mean_ci(plain), "ganforge": mean_ci(ours),
                      "plain_sd": statistics.stdev(plain) if len(plain) > 1 else 0.0,
                      "ganforge_sd": statistics.stdev(ours) if len(ours) > 1 else 0.0, "p": p_value,
                      "ganforge_vs_plain": word})
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    command = " ".join(["python", "benchmarks/pacgan_protocol.py", *(argv if argv is not None else sys.argv[1:])])
    report = {"meta": {"date": now, "command": command, "machine": machine(), "updates": args.updates,
                       "seeds": args.seeds, "pack": args.pack}, "table": table, "runs": runs}
    save_json(report, out.with_suffix(".json"))
    lines = [f"PacGAN protocol (m = {args.pack}), {args.updates} updates, seeds 0-{args.seeds - 1} ({now}; "
             f"{machine()}).", "", f"Command: `{command}`", "",
             "| metric | plain loop | ganforge preset | p (permutation) | ganforge vs plain |", "|---|---|---|---|---|"]
    for row in table:
        lines.append(f"| {row['metric']} | {row['plain'][0]:.3g} ± {row['plain_sd']:.2g} | "
                     f"{row['ganforge'][0]:.3g} ± {row['ganforge_sd']:.2g} | {row['p']:.2f} | "
                     f"{row['ganforge_vs_plain']} |")
    lines += ["", "Per run (seed: plain / ganforge): " + "; ".join(
        f"{s}: " + " / ".join(f"{r['modes']} modes {r['hq_percent']:.1f} % {r['reverse_kl']:.3f}"
                              for impl in ("plain", "ganforge") for r in runs if r["seed"] == s and r["impl"] == impl)
        for s in range(args.seeds))]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

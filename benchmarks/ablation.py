"""Trick ablation: every registered trick (and a few pairs) against the baseline, over several seeds.

For each data set, each configuration (the baseline, each trick alone, the
pairs) and each seed, train a fresh GAN for ``--steps`` steps, measure it
with :func:`ganforge.metrics.evaluate`, and write a table of mean ± sample
standard deviation over the seeds per metric, with the steps, seeds, machine
and date, as Markdown and JSON under ``benchmarks/results/``.

Runs that cannot be built (a trick needing class labels, an incompatible
pair) are listed as skipped with the reason; nothing is silently dropped.

Examples::

    # the small run in docs/metrics.md (2 seeds, 300 steps, grid25, a handful of tricks)
    python benchmarks/ablation.py --data grid25 --steps 300 --seeds 2 \\
        --tricks soft_labels,instance_noise,pack,minibatch_discrimination,d_steps --pairs pack+soft_labels
    # everything registered, on both mixtures and MNIST (domain-classifier FID) -- hours on a CPU
    python benchmarks/ablation.py --data grid25,ring8,mnist --steps 5000 --seeds 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
#: Pairs run by default when both tricks are registered.
DEFAULT_PAIRS = ("pack+soft_labels", "instance_noise+soft_labels", "pack+minibatch_discrimination",
                 "spherical_z+normalize", "one_sided_label_smoothing+instance_noise")
#: Metrics shown per kind of data, with the direction shown in the table header.
SHOWN = {
    "mixture": ["modes", "hq_percent", "reverse_kl"],
    "image": ["fid", "kid", "precision", "recall", "classes", "class_kl"],
    "stacked": ["stacked_modes", "stacked_kl"],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring for examples)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="grid25,ring8,mnist",
                   help="comma-separated data sets (default grid25,ring8,mnist; mnist is skipped when absent)")
    p.add_argument("--steps", type=int, default=2000, help="training steps per run (default 2000)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per configuration: 0..N-1 (default 3)")
    p.add_argument("--tricks", default="all", help="comma-separated tricks to test alone, or 'all' (default)")
    p.add_argument("--pairs", default="default",
                   help="comma-separated a+b pairs, 'default' (a few useful ones) or 'none'")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default 128, a multiple of pack's m)")
    p.add_argument("--gen-hidden", default="128,128,128", help="generator widths of the mlp (default 128,128,128)")
    p.add_argument("--disc-hidden", default="128,128", help="discriminator widths of the mlp (default 128,128)")
    p.add_argument("--n", type=int, default=None, help="evaluation samples (default: evaluate()'s per-data default)")
    p.add_argument("--mnist-root", default=None, help="MNIST folder (default $GANFORGE_DATA, then ../shared/data/mnist)")
    p.add_argument("--split", default="test", help="MNIST split to train on (default test, the one shared here)")
    p.add_argument("--device", default="cpu", help="device (default cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default=None, help="output path without extension (default benchmarks/results/ablation-DATE)")
    return p.parse_args(argv)


def find_mnist(explicit: str | None) -> str | None:
    """The MNIST folder: explicit, $GANFORGE_DATA, or ../shared/data/mnist beside the checkout, if it holds files."""
    for candidate in (explicit, os.environ.get("GANFORGE_DATA"), str(REPO.parent / "shared" / "data" / "mnist")):
        if candidate and any((Path(candidate) / f).is_file() for f in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
                                                                       "train-images-idx3-ubyte.gz")):
            return candidate
    return None


def configurations(tricks_opt: str, pairs_opt: str) -> list[tuple[str, ...]]:
    """The trick lists to run: the baseline ``()``, each trick alone, then the pairs."""
    from ganforge.registry import get_registry

    registered = get_registry().names("trick")
    singles = registered if tricks_opt == "all" else [t.strip() for t in tricks_opt.split(",") if t.strip()]
    unknown = [t for t in singles if t not in registered]
    if unknown:
        raise SystemExit(f"unknown trick(s) {unknown}; registered: {', '.join(registered)}")
    if pairs_opt == "none":
        pairs = []
    else:
        wanted = DEFAULT_PAIRS if pairs_opt == "default" else [p.strip() for p in pairs_opt.split(",") if p.strip()]
        pairs = [tuple(p.split("+")) for p in wanted if all(t in registered for t in p.split("+"))]
    return [()] + [(t,) for t in singles] + pairs


def run_one(data: str, tricks: tuple[str, ...], seed: int, args: argparse.Namespace, mnist_root: str | None,
            workdir: Path) -> dict[str, Any]:
    """Train and evaluate one configuration; returns the metrics, or ``{"skipped": reason}``."""
    from ganforge import GanforgeError, Trainer
    from ganforge.metrics import evaluate

    settings: dict[str, Any] = dict(
        data=data, tricks=list(tricks), seed=seed, steps=args.steps, batch_size=args.batch_size,
        gen_options={"hidden": [int(w) for w in args.gen_hidden.split(",")]},
        disc_options={"hidden": [int(w) for w in args.disc_hidden.split(",")]},
        device=args.device, progress=False, sample_every=0, checkpoint_every=0, log_every=max(1, args.steps // 10),
        out_dir=str(workdir / f"{data}-{'+'.join(tricks) or 'baseline'}-{seed}"), overwrite=True,
    )
    if data == "mnist":
        settings.update(data_root=mnist_root, split=args.split)
    start = time.perf_counter()
    try:
        trainer = Trainer(**settings)
        trainer.fit()
        result = evaluate(trainer, n=args.n)
    except GanforgeError as exc:
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = time.perf_counter() - start
    return result


def summarise(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min and max."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def machine() -> str:
    """One line naming the host's CPU/GPU and software versions."""
    import ganforge

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} CPU cores visible, {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, ganforge {ganforge.__version__}")


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables, one per data set."""
    meta = report["meta"]
    lines = [f"# Trick ablation ({meta['date']})", "",
             f"- command: `{meta['command']}`",
             f"- steps per run: {meta['steps']}; seeds: {meta['seeds']}; batch {meta['batch_size']}; "
             f"mlp generator {meta['gen_hidden']}, discriminator {meta['disc_hidden']}",
             f"- machine: {meta['machine']}; device {meta['device']}, {meta['threads']} thread(s)",
             "- cells: mean ± sample standard deviation over the seeds; ↑ higher is better, ↓ lower is better", ""]
    for data, block in report["results"].items():
        keys = SHOWN[block["kind"]]
        arrows = {k: "↓" if k in report["lower_is_better"] else "↑" for k in keys}
        lines += [f"## {data}", "", "| tricks | " + " | ".join(f"{k} {arrows[k]}" for k in keys) + " | s/run |",
                  "|---" * (len(keys) + 2) + "|"]
        for row in block["rows"]:
            if "skipped" in row:
                continue
            cells = [f"{row[k]['mean']:.3g} ± {row[k]['std']:.2g}" for k in keys]
            lines.append(f"| {row['tricks']} | " + " | ".join(cells) + f" | {row['seconds']['mean']:.1f} |")
        skipped = [row for row in block["rows"] if "skipped" in row]
        if skipped:
            lines += ["", "Skipped:"] + [f"- {row['tricks']}: {row['skipped']}" for row in skipped]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the ablation and write ``<out>.md`` and ``<out>.json``; returns 0."""
    import tempfile

    from ganforge.metrics import LOWER_IS_BETTER

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    now = dt.datetime.now(dt.timezone.utc)
    out = Path(args.out) if args.out else RESULTS / f"ablation-{now:%Y%m%d-%H%M%S}"
    mnist_root = find_mnist(args.mnist_root)
    configs = configurations(args.tricks, args.pairs)
    report: dict[str, Any] = {
        "meta": {"date": now.isoformat(timespec="seconds"), "command": " ".join(["python", *sys.argv]),
                 "steps": args.steps, "seeds": list(range(args.seeds)), "batch_size": args.batch_size,
                 "gen_hidden": args.gen_hidden, "disc_hidden": args.disc_hidden, "machine": machine(),
                 "device": args.device, "threads": args.threads},
        "lower_is_better": sorted(LOWER_IS_BETTER),
        "results": {},
    }
    with tempfile.TemporaryDirectory(prefix="ganforge-ablation-") as tmp:
        for data in [d.strip() for d in args.data.split(",") if d.strip()]:
            if data == "mnist" and mnist_root is None:
                print("mnist: skipped (no MNIST files found; pass --mnist-root)", flush=True)
                continue
            rows, kind = [], "mixture"
            for tricks in configs:
                name = "+".join(tricks) or "baseline"
                runs = [run_one(data, tricks, seed, args, mnist_root, Path(tmp)) for seed in range(args.seeds)]
                done = [r for r in runs if "skipped" not in r]
                if not done:
                    rows.append({"tricks": name, "skipped": runs[0]["skipped"]})
                    print(f"{data} {name}: skipped ({runs[0]['skipped'][:100]})", flush=True)
                    continue
                kind = done[0]["kind"]
                row: dict[str, Any] = {"tricks": name, "runs": done}
                for key in SHOWN[kind] + ["seconds"]:
                    vals = [float(r[key]) for r in done if r.get(key) is not None and math.isfinite(float(r[key]))]
                    if vals:
                        row[key] = summarise(vals)
                rows.append(row)
                shown = ", ".join(f"{k}={row[k]['mean']:.3g}±{row[k]['std']:.2g}" for k in SHOWN[kind] if k in row)
                print(f"{data} {name}: {shown}", flush=True)
            report["results"][data] = {"kind": kind, "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(f"Wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

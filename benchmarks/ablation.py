"""Ablation: every trick alone and each modern technique against a baseline, over seeds, with a stated test.

For each data set and each configuration (the baseline; each registered trick
alone; each technique of the modern toolkit alone: other losses, regularizers,
spectral norm, generator EMA, a learning-rate decay, DiffAugment on images),
train ``--seeds`` fresh runs for ``--steps`` steps, measure each with
:func:`ganforge.metrics.evaluate` (the same numbers as ``ganforge eval``), and
compare every configuration with its baseline:

* cells show the mean over the seeds with its 95 % t interval;
* the verdict per metric is "helps" or "hurts" when the exact two-sided
  permutation test of the difference in means (every relabelling of the
  pooled seeds enumerated; ``benchmarks/stats.py``) gives p < 0.05, else "no
  detectable effect at this budget". No correction for the many comparisons
  is applied: at alpha 0.05 about one comparison in twenty shows an effect by
  chance, so single verdicts near p = 0.05 deserve a rerun.

Tricks that need class labels are compared with a conditional baseline.
Runs run in ``--jobs`` parallel processes of one CPU thread each (one per
core keeps the step rates honest). Results go to ``benchmarks/results/`` as
JSON (every run) and Markdown (the tables).

Examples::

    # the 2-D mixtures, 5 seeds, 6,000 steps (the budget docs/tricks.md reports)
    python benchmarks/ablation.py --data grid25,ring8 --steps 6000 --seeds 5 --jobs 2
    # MNIST (domain-classifier FID), 5 seeds, 3,000 steps
    python benchmarks/ablation.py --data mnist --steps 3000 --seeds 5 --jobs 2
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import math
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_common import find_mnist, one_thread_worker

#: Metrics compared per kind of data (the first family ``evaluate`` reports).
SHOWN = {
    "mixture": ["modes", "hq_percent", "reverse_kl"],
    "image": ["fid", "precision", "recall", "classes", "class_kl"],
    "stacked": ["stacked_modes", "stacked_kl"],
}


def modern(data_is_image: bool, preset: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The modern toolkit's techniques, each as a change to the baseline's settings.

    With a ``preset`` baseline (``--base-preset``), techniques the preset already
    uses are measured by taking them out ("no ema", "no r1", "constant lr")
    and the other losses by swapping the preset's.
    """
    if preset is not None:
        out = {f"loss={name}": {"loss": name} for name in ("bce", "hinge", "lsgan", "ragan", "wgan_gp")
               if name != preset.get("loss", "bce")}
        out["disc spectral_norm"] = {"disc_options": {"spectral_norm": True}}
        if preset.get("ema_decay"):
            out["no ema"] = {"ema_decay": None}
        else:
            out["ema 0.999"] = {"ema_decay": 0.999}
        if "r1" in preset.get("regularizers", ()):
            others = {k: v for k, v in preset.get("regularizer_options", {}).items() if k != "r1"}
            out["no r1"] = {"regularizers": [r for r in preset["regularizers"] if r != "r1"],
                            "regularizer_options": Replace(others)}
        else:
            out["r1"] = {"regularizers": ["r1"], "regularizer_options": {"r1": {"gamma": 1.0}}}
        if preset.get("g_optim", {}).get("schedule", "constant") != "constant":
            out["constant lr"] = {"g_optim": {"schedule": "constant"}, "d_optim": {"schedule": "constant"}}
        else:
            out["lr linear decay"] = {"g_optim": {"schedule": "linear"}, "d_optim": {"schedule": "linear"}}
        return out
    out: dict[str, dict[str, Any]] = {
        "loss=hinge": {"loss": "hinge"},
        "loss=lsgan": {"loss": "lsgan"},
        "loss=ragan": {"loss": "ragan"},
        "loss=wgan_gp": {"loss": "wgan_gp"},
        "r1": {"regularizers": ["r1"], "regularizer_options": {"r1": {"gamma": 1.0}}},
        "disc spectral_norm": {"disc_options": {"spectral_norm": True}},
        "ema 0.999": {"ema_decay": 0.999},
        "lr linear decay": {"g_optim": {"schedule": "linear"}, "d_optim": {"schedule": "linear"}},
    }
    if data_is_image:
        out["diffaugment"] = {"tricks": ["diffaugment"]}
        out["bcr"] = {"regularizers": ["bcr"]}
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring for examples)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="grid25,ring8", help="comma-separated data sets (default grid25,ring8)")
    p.add_argument("--steps", type=int, default=6000, help="training steps per run (default 6000)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per configuration: 0..N-1 (default 5)")
    p.add_argument("--base-preset", default=None, metavar="PRESET",
                   help="use a preset as the baseline (e.g. grid25: ganforge's 2-D recipe) instead of the classic "
                        "MLP GAN; --steps still sets the budget, --batch-size and the widths are the preset's")
    p.add_argument("--only", default=None, help="comma-separated configuration names to run (default: all)")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default 128, a multiple of pack's m)")
    p.add_argument("--gen-hidden", default="128,128,128", help="mlp generator widths (default 128,128,128)")
    p.add_argument("--disc-hidden", default="128,128,128", help="mlp discriminator widths (default 128,128,128)")
    p.add_argument("--n", type=int, default=None, help="evaluation samples (default: evaluate()'s per-data default)")
    p.add_argument("--mnist-root", default=None, help="MNIST folder (default $GANFORGE_DATA, then ../shared/data/mnist)")
    p.add_argument("--split", default="test", help="MNIST split to train on (default test, the one shared here)")
    p.add_argument("--jobs", type=int, default=2, help="parallel processes, one CPU thread each (default 2)")
    p.add_argument("--out", default=None, help="output path without extension (default benchmarks/results/ablation-DATA)")
    return p.parse_args(argv)


def configurations(data: str, preset: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any], str]]:
    """``(name, settings change, baseline name)`` of every configuration for ``data``."""
    import ganforge

    image = data not in ("grid25", "ring8")
    configs: list[tuple[str, dict[str, Any], str]] = [("baseline", {}, "baseline")]
    labelled = [i.name for i in ganforge.list_plugins("trick") if i.cls.requires_labels]
    if labelled:
        configs.append(("baseline (conditional)", {"conditional": True}, "baseline (conditional)"))
    for info in ganforge.list_plugins("trick"):
        if info.name == "diffaugment":
            continue  # among the modern techniques (images only)
        change: dict[str, Any] = {"tricks": [info.name]}
        base = "baseline"
        if info.cls.requires_labels:
            change["conditional"] = True
            base = "baseline (conditional)"
        configs.append((info.name, change, base))
    configs += [(name, change, "baseline") for name, change in modern(image, preset).items()]
    return configs


def base_settings(data: str, args: argparse.Namespace, mnist_root: str | None) -> dict[str, Any]:
    """The baseline's settings: the classic MLP GAN, non-saturating loss, Adam 2e-4 (0.5, 0.999); or a preset's."""
    run = dict(device="cpu", progress=False, sample_every=0, checkpoint_every=0, checkpoint_minutes=0,
               log_every=max(1, args.steps // 10), overwrite=True, threads=1)
    if args.base_preset:
        from ganforge.presets import get_preset

        settings = {**get_preset(args.base_preset), "data": data, "steps": args.steps, **run}
        if data not in ("grid25", "ring8"):
            settings.update(data_root=mnist_root, split=args.split)
        return settings
    settings: dict[str, Any] = dict(
        data=data, steps=args.steps, batch_size=args.batch_size,
        gen_options={"hidden": [int(w) for w in args.gen_hidden.split(",")]},
        disc_options={"hidden": [int(w) for w in args.disc_hidden.split(",")]}, **run,
    )
    if data not in ("grid25", "ring8"):
        settings.update(data_root=mnist_root, split=args.split)
    return settings


class Replace(dict):
    """An option mapping that replaces the baseline's instead of being merged into it."""


def merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``change`` applied; option mappings are merged key by key (a :class:`Replace` replaces)."""
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and not isinstance(value, Replace) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def run_one(settings: dict[str, Any], n: int | None) -> dict[str, Any]:
    """Train and evaluate one run (in a worker process); returns the metrics, or ``{"skipped": reason}``."""
    from ganforge import GanforgeError, Trainer
    from ganforge.metrics import evaluate

    start = time.perf_counter()
    try:
        trainer = Trainer(**settings)
        trainer.fit()
        train_s = time.perf_counter() - start
        result = evaluate(trainer, n=n)
    except GanforgeError as exc:
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    result["train_seconds"] = train_s
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str)) or v is None}


def compare(rows: dict[str, list[dict[str, Any]]], configs: list[tuple[str, dict[str, Any], str]],
            kind: str) -> list[dict[str, Any]]:
    """Per configuration and metric: mean, 95 % interval, and the verdict against its baseline."""
    from stats import mean_ci, verdict

    from ganforge.metrics import HIGHER_IS_BETTER

    table = []
    for name, _, base in configs:
        runs = rows.get(name, [])
        done = [r for r in runs if "skipped" not in r]
        if not done:
            table.append({"config": name, "skipped": runs[0]["skipped"] if runs else "not run"})
            continue
        entry: dict[str, Any] = {"config": name, "baseline": base, "seeds": len(done)}
        base_runs = [r for r in rows.get(base, []) if "skipped" not in r]
        for key in SHOWN[kind] + ["train_seconds"]:
            vals = [float(r[key]) for r in done if r.get(key) is not None and math.isfinite(float(r[key]))]
            if not vals:
                continue
            mean, lo, hi = mean_ci(vals)
            cell: dict[str, Any] = {"mean": mean, "ci": [lo, hi], "values": vals}
            base_vals = [float(r[key]) for r in base_runs if r.get(key) is not None]
            if name != base and key != "train_seconds" and len(base_vals) >= 2 and len(vals) >= 2:
                cell["verdict"], cell["p"] = verdict(vals, base_vals, higher_is_better=key in HIGHER_IS_BETTER)
            entry[key] = cell
        table.append(entry)
    return table


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: one table per data set, verdicts beside the numbers."""
    meta = report["meta"]
    lines = [f"# Ablation ({meta['date']})", "",
             f"- command: `{meta['command']}`",
             f"- {meta['steps']} steps per run, seeds {meta['seeds']}; baseline: " + (
                 f"the `{meta['base_preset']}` preset (its batch, models and optimizers; its schedules span "
                 "these steps)" if meta.get("base_preset") else
                 f"batch {meta['batch_size']}, mlp generator {meta['gen_hidden']}, mlp discriminator "
                 f"{meta['disc_hidden']}, bce loss, Adam 2e-4 (0.5, 0.999)"),
             f"- machine: {meta['machine']}; {meta['jobs']} parallel processes of one CPU thread",
             "- cells: mean [95 % t interval] over the seeds; verdict vs the baseline by an exact two-sided "
             "permutation test of the difference in means, p < 0.05 (uncorrected for the number of comparisons): "
             "+ helps, − hurts, · no detectable effect at this budget", ""]
    for data, block in report["results"].items():
        keys = SHOWN[block["kind"]]
        lines += [f"## {data}", "", "| configuration | " + " | ".join(keys) + " | train s |", "|---" * (len(keys) + 2) + "|"]
        skipped = []
        for row in block["table"]:
            if "skipped" in row:
                skipped.append(row)
                continue
            cells = []
            for k in keys:
                c = row.get(k)
                if c is None:
                    cells.append("–")
                    continue
                mark = {"helps": " +", "hurts": " −", "no detectable effect": " ·"}.get(c.get("verdict"), "")
                cells.append(f"{c['mean']:.3g} [{c['ci'][0]:.3g}, {c['ci'][1]:.3g}]{mark}")
            secs = row.get("train_seconds", {}).get("mean", float("nan"))
            lines.append(f"| {row['config']} | " + " | ".join(cells) + f" | {secs:.0f} |")
        if skipped:
            lines += ["", "Not run:"] + [f"- {row['config']}: {row['skipped']}" for row in skipped]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the ablation; write ``<out>.md`` and ``<out>.json``; returns 0."""
    from bench_common import machine, save_json

    from ganforge.metrics import LOWER_IS_BETTER

    args = parse_args(argv)
    now = dt.datetime.now(dt.timezone.utc)
    datas = [d.strip() for d in args.data.split(",") if d.strip()]
    out = Path(args.out) if args.out else RESULTS / f"ablation-{'-'.join(datas)}"
    mnist_root = find_mnist(args.mnist_root)
    only = None if args.only is None else {c.strip() for c in args.only.split(",")}
    report: dict[str, Any] = {
        "meta": {"date": now.isoformat(timespec="seconds"), "command": " ".join(["python", *sys.argv]),
                 "steps": args.steps, "seeds": list(range(args.seeds)), "batch_size": args.batch_size,
                 "gen_hidden": args.gen_hidden, "disc_hidden": args.disc_hidden, "machine": machine(),
                 "jobs": args.jobs, "base_preset": args.base_preset},
        "lower_is_better": sorted(LOWER_IS_BETTER),
        "results": {},
    }
    partial: dict[str, Any] = {"meta": report["meta"], "runs": {}}
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ganforge-ablation-") as tmp, \
            cf.ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=one_thread_worker) as pool:
        for data in datas:
            if data == "mnist" and mnist_root is None:
                print("mnist: skipped (no MNIST files found; pass --mnist-root)", flush=True)
                continue
            base = base_settings(data, args, mnist_root)
            preset = base if args.base_preset else None
            configs = [c for c in configurations(data, preset) if only is None or c[0] in only or c[0] == c[2]]
            futures = {}
            for name, change, _ in configs:
                for seed in range(args.seeds):
                    folder = Path(tmp) / f"{data}-{name.replace(' ', '_')}-{seed}"
                    settings = merge(base, {**change, "seed": seed, "out_dir": str(folder)})
                    futures[pool.submit(run_one, settings, args.n)] = name
            rows: dict[str, list[dict[str, Any]]] = {}
            for future in cf.as_completed(futures):
                name = futures[future]
                result = future.result()
                rows.setdefault(name, []).append(result)
                partial["runs"][data] = rows  # every finished run is on disk if the ablation is stopped early
                save_json(partial, out.with_suffix(".partial.json"))
                shown = result.get("skipped", "")[:80] or ", ".join(
                    f"{k}={result[k]:.3g}" for k in ("modes", "hq_percent", "reverse_kl", "fid") if k in result)
                print(f"{data} {name} [{len(rows[name])}/{args.seeds}]: {shown}", flush=True)
            kinds = [r["kind"] for runs in rows.values() for r in runs if "kind" in r]
            kind = kinds[0] if kinds else "mixture"
            report["results"][data] = {"kind": kind, "table": compare(rows, configs, kind), "runs": rows}
    save_json(report, out.with_suffix(".json"))
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    out.with_suffix(".partial.json").unlink(missing_ok=True)
    print(f"Wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

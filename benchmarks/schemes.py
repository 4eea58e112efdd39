"""Measure the builtin GAN schemes ``infogan`` and ``vaegan`` on the MNIST test split, on one CPU thread.

    python benchmarks/schemes.py --scheme infogan --seeds 3
    python benchmarks/schemes.py --scheme vaegan --seeds 3

Each seed trains the scheme's preset (``infogan-mnist`` or ``vaegan-mnist`` in ``ganforge.presets``) for its steps, one training at a time, and measures:

- ``infogan``: 100 samples per value of the categorical code (fresh noise, continuous codes 0, the trained
  G that Q was trained with), classified by the MNIST domain classifier (``ganforge.metrics.classifier``,
  the one ``ganforge eval`` uses); the accuracy of the best one-to-one code -> digit assignment
  (:func:`ganforge.tricks.infogan.best_assignment_accuracy`), the per-code majority classes, and the
  information loss and Q's accuracy logged at the end.
- ``vaegan``: the run trains on the first 9,000 digits of the test split only (data set
  ``mnist-first9000``, registered here), and the reconstruction MSE ``G(mu(x))`` against ``x`` is measured on
  the last 1,000 (held out), in model space ([-1, 1]) and in [0, 1] pixel units, beside the untrained
  run's error on the same digits; and the domain-classifier FID of 5,000 samples against the training digits
  (``ganforge.metrics.evaluate``, as ``ganforge eval``) beside the same FID of the ``mnist`` recipe trained on the
  same digits for the same CPU seconds (its steps from a 300-step timing of it).

Results (per seed, and mean and standard deviation over the seeds) go to
``benchmarks/results/schemes-<scheme>.json`` with the machine and the settings. Where the MNIST files are:
``--data-root``, else ``$GANFORGE_DATA``, else ``../shared/data/mnist`` beside the checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_common import machine, save_json

import ganforge
from ganforge.data.mnist import MNIST

SCHEMES = ("infogan", "vaegan")
#: Samples of the domain-classifier FID (against the training digits, as ``ganforge eval`` measures it).
FID_SAMPLES = 5_000
#: Steps of the mnist recipe timed to find how many it makes in vaegan's CPU seconds.
RATE_PROBE_STEPS = 300

#: Held-out digits of the test split for the reconstruction error (the last ones; the run trains on the rest).
HELD_OUT = 1_000


class MNISTFirst9000(MNIST):
    """The MNIST test split without its last 1,000 digits (held out for measuring reconstructions)."""

    name = "mnist-first9000"

    def load(self):
        images, labels = super().load()
        return images[:-HELD_OUT], labels[:-HELD_OUT]


class _Bundle:
    @ganforge.hookimpl
    def ganforge_register_datasets(self):
        return [MNISTFirst9000]


def preset(scheme: str) -> tuple[dict[str, Any], str]:
    """The scheme's settings (its preset ``<scheme>-mnist`` in ganforge.presets) and where they come from."""
    from ganforge.presets import get_preset

    return get_preset(f"{scheme}-mnist"), f"ganforge.presets: {scheme}-mnist"


def data_root(given: str | None) -> str:
    for candidate in (given, os.environ.get("GANFORGE_DATA"), str(HERE.parent.parent / "shared" / "data" / "mnist")):
        if candidate and Path(candidate).is_dir():
            return candidate
    raise SystemExit("MNIST test split not found: pass --data-root DIR (the folder of t10k-images-idx3-ubyte)")


def train(settings: dict[str, Any], seed: int, out: Path) -> tuple[ganforge.Trainer, dict[str, float]]:
    """Train one seed; return the trainer and the fit's wall-clock and process CPU seconds (the CPU time is the
    one to read on a shared machine: other processes' load stretches the wall clock, not it)."""
    trainer = ganforge.Trainer(**{**settings, "seed": seed, "out_dir": str(out), "overwrite": True,
                                  "progress": False, "sample_every": 0, "checkpoint_every": 0, "threads": 1,
                                  "device": "cpu"})
    trainer.setup()
    start, cpu = time.perf_counter(), time.process_time()
    trainer.fit()
    return trainer, {"train_seconds": round(time.perf_counter() - start, 1),
                     "train_cpu_seconds": round(time.process_time() - cpu, 1)}


def last_logged(trainer: ganforge.Trainer, *keys: str) -> dict[str, float]:
    records = [r for r in trainer.history.records if all(k in r for k in keys)]
    return {k: records[-1][k] for k in keys} if records else {}


def measure_infogan(settings: dict[str, Any], seed: int, out: Path, per_code: int = 100) -> dict[str, Any]:
    from ganforge.metrics.classifier import load_or_train
    from ganforge.tricks.infogan import InfoGAN, best_assignment_accuracy

    trainer, seconds = train(settings, seed, out)
    trick = next(t for t in trainer.tricks if isinstance(t, InfoGAN))
    classifier, meta = load_or_train(trainer.dataset)
    k = trick.options.categorical
    category = torch.arange(k).repeat_interleave(per_code)
    samples = trick.generate(trainer, category)
    with torch.no_grad():
        predicted = classifier(samples).argmax(1)
    counts = torch.zeros(k, classifier.num_classes, dtype=torch.long)
    counts.index_put_((category, predicted), torch.ones_like(predicted), accumulate=True)
    accuracy, assignment = best_assignment_accuracy(counts)
    return {"seed": seed, "steps": trainer.step, **seconds,
            "code_accuracy": accuracy, "assignment": assignment,
            "majority_class": counts.argmax(1).tolist(), "counts": counts.tolist(),
            **last_logged(trainer, "info_loss", "info_acc"),
            "classifier_holdout_accuracy": meta.get("holdout_accuracy")}


def measure_vaegan(settings: dict[str, Any], seed: int, out: Path) -> dict[str, Any]:
    from ganforge.metrics import evaluate
    from ganforge.presets import get_preset
    from ganforge.tricks.vaegan import reconstruction_error

    held = MNIST(root=settings["data_root"], split="test").load()[0][-HELD_OUT:]
    settings = {**settings, "data": MNISTFirst9000.name}
    untrained = ganforge.Trainer(**{**settings, "seed": seed, "out_dir": str(out / "untrained"),
                                    "progress": False, "device": "cpu", "threads": 1})
    before = reconstruction_error(untrained.setup(), held)
    trainer, seconds = train(settings, seed, out / "trained")
    after = reconstruction_error(trainer, held)
    fid = evaluate(trainer, n=FID_SAMPLES)["fid"]
    # The mnist recipe on the same digits for the same CPU seconds: its rate from a short run, then that many steps.
    recipe = {**get_preset("mnist"), "data": MNISTFirst9000.name, "data_root": settings["data_root"],
              "split": "test"}
    _, probe = train({**recipe, "steps": RATE_PROBE_STEPS}, seed, out / "probe")
    recipe_steps = max(1, round(seconds["train_cpu_seconds"] * RATE_PROBE_STEPS / probe["train_cpu_seconds"]))
    baseline, recipe_seconds = train({**recipe, "steps": recipe_steps}, seed, out / "recipe")
    return {"seed": seed, "steps": trainer.step, **seconds,
            "recon_mse": after, "recon_mse_01": after / 4, "untrained_recon_mse": before,
            **last_logged(trainer, "vae_kl", "vae_feature"),
            "fid_classifier": fid, "recipe_steps": recipe_steps,
            "recipe_train_cpu_seconds": recipe_seconds["train_cpu_seconds"],
            "recipe_fid_classifier": evaluate(baseline, n=FID_SAMPLES)["fid"]}


def summarise(runs: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    out = {}
    for key in keys:
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if values:
            out[key] = {"mean": statistics.fmean(values),
                        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "min": min(values), "max": max(values), "n": len(values)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheme", choices=SCHEMES, required=True)
    parser.add_argument("--seeds", type=int, default=3, help="Seeds 0..N-1, trained one after another.")
    parser.add_argument("--steps", type=int, default=None, help="Override the preset's steps (quick checks).")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/schemes-<scheme>.json).")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings, source = preset(args.scheme)
    settings["data_root"] = data_root(args.data_root)
    settings["split"] = "test"
    if args.steps is not None:
        settings["steps"] = args.steps
    ganforge.register_plugin(_Bundle(), name="benchmarks-schemes")
    measure = measure_infogan if args.scheme == "infogan" else measure_vaegan
    runs = []
    with tempfile.TemporaryDirectory(prefix=f"ganforge-{args.scheme}-") as tmp:
        for seed in range(args.seeds):
            result = measure(settings, seed, Path(tmp) / f"seed{seed}")
            print({k: v for k, v in result.items() if k != "counts"}, flush=True)
            runs.append(result)
    keys = (["code_accuracy", "info_loss", "info_acc", "train_seconds", "train_cpu_seconds"] if args.scheme == "infogan"
            else ["recon_mse", "recon_mse_01", "untrained_recon_mse", "vae_kl", "vae_feature", "fid_classifier",
                  "recipe_fid_classifier", "recipe_steps", "train_seconds", "train_cpu_seconds",
                  "recipe_train_cpu_seconds"])
    report = {"scheme": args.scheme, "command": "python benchmarks/schemes.py " + " ".join(argv or sys.argv[1:]),
              "machine": machine(), "threads": torch.get_num_threads(), "settings_from": source,
              "settings": {k: v for k, v in settings.items() if k != "data_root"}, "runs": runs,
              "summary": summarise(runs, keys)}
    path = save_json(report, args.out or HERE / "results" / f"schemes-{args.scheme}.json")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Image-to-image translation on MNIST: the ``pix2pix`` and ``cyclegan`` schemes trained on one CPU thread, measured
on rows they never saw.

Only MNIST's test split is needed (the one this project ships to its machines): the translation data sets are built
from it, their first rows train and their last rows are held out (``--held-out``, default 1,000):

* ``pix2pix`` on ``mnist-edges2digits`` (a digit's outline -> the digit; 9,000 training pairs): on the held-out
  outlines, G's outputs against their digits -- L1 (mean absolute error in [-1, 1]), PSNR (dB, pixels in [0, 1],
  the mean over images of 10 log10(1 / MSE)) and the domain-classifier FID (ganforge's MNIST classifier features,
  as ``ganforge eval`` computes it: :func:`ganforge.metrics.features.classifier_extractor` and
  :func:`ganforge.metrics.frechet.fid_from_features`) of the outputs against the held-out digits.
* ``cyclegan`` on ``mnist-digits2thick`` (digits -> thickened digits of other images; 4,000 training rows): on the
  held-out A digits, class preservation -- the accuracy, against the A digit's class, of the data set's own
  classifier of thick digits (its ``metric_support()``: the domain classifier of ``domain("sample")``) on
  G_AB(A) -- beside the same classifier on the untranslated A digits (what translating adds) and on held-out real B
  digits (the classifier's own accuracy); the cycle errors mean |G_BA(G_AB(A)) - A| and mean |G_AB(G_BA(B)) - B|;
  and the domain-classifier FID of G_AB(A) against held-out real B digits (the thick-digit classifier's features).

Generators are measured in eval mode (``unet`` dropout off, BatchNorm's running statistics), without EMA. Training
uses one CPU thread (``threads=1``), seeds one after another (never two trainings at once). The settings are the
presets ``pix2pix-mnist`` and ``cyclegan-mnist`` of ``ganforge.presets`` (about 5 minutes of training each on one
thread of the machine that made the committed results); ``--steps`` overrides the preset's count.

Example::

    OMP_NUM_THREADS=1 python benchmarks/translation.py --scheme pix2pix --seeds 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

SCHEMES = ("pix2pix", "cyclegan")


def preset(scheme: str) -> dict[str, Any]:
    """The scheme's settings: its preset ``<scheme>-mnist`` in ganforge.presets."""
    from ganforge.presets import get_preset

    return get_preset(f"{scheme}-mnist")


#: Rows of the held-out images measured at a time.
CHUNK = 500


def data_root(given: str | None) -> str:
    for root in (given, os.environ.get("GANFORGE_DATA"), str(REPO.parent / "shared" / "data" / "mnist")):
        if root and Path(root).is_dir():
            return root
    raise SystemExit("MNIST's test split not found: pass --data-root DIR (the folder of t10k-*-idx*-ubyte(.gz)).")


def training_part(base: type, held_out: int) -> type:
    """``base`` (a translation data set) without its last ``held_out`` rows, registered as ``<name>-train-part``."""

    class TrainingPart(base):
        name = f"{base.name}-train-part"

        def load(self):
            rows, labels = super().load()
            return rows[:-held_out], labels[:-held_out]

    TrainingPart.__doc__ = f"{base.name} without its last {held_out} rows (held out by benchmarks/translation.py)."
    return TrainingPart


_REGISTERED = False


def register_parts(held_out: int) -> None:
    import ganforge
    from ganforge.data.translation import MNISTDigits2Thick, MNISTEdges2Digits

    parts = [training_part(MNISTEdges2Digits, held_out), training_part(MNISTDigits2Thick, held_out)]

    class Parts:
        @ganforge.hookimpl
        def ganforge_register_datasets(self):
            return parts

    global _REGISTERED
    if not _REGISTERED:
        ganforge.register_plugin(Parts(), name="translation-benchmark")
        _REGISTERED = True


def held_out_rows(name: str, root: str, held_out: int) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The full data set, and its last ``held_out`` rows: ``(data, samples, conditions, labels)`` in model space."""
    import ganforge

    data = ganforge.create_plugin("dataset", name, root=root, split="test", download=False)
    rows, labels = data.load()
    rows = rows[-held_out:].float() / 127.5 - 1
    samples, conditions = data.split_condition(rows)
    return data, samples.contiguous(), conditions.contiguous(), labels[-held_out:]


@torch.no_grad()
def translate(trainer, conditions: torch.Tensor) -> torch.Tensor:
    """G_AB (the run's generator, eval mode, no EMA) on ``conditions``."""
    return torch.cat([trainer.sample(condition=c, ema=False) for c in conditions.split(CHUNK)])


@torch.no_grad()
def translate_back(trainer, images: torch.Tensor) -> torch.Tensor:
    """cyclegan's G_BA in eval mode on ``images`` (its mode restored)."""
    g_ba = trainer.tricks[0].g_ba
    was = g_ba.training
    g_ba.eval()
    try:
        z = torch.zeros(images.shape[0], trainer.spec.latent_dim)  # what the runs' latents average to
        return torch.cat([g_ba(zi, None, condition=c) for zi, c in zip(z.split(CHUNK), images.split(CHUNK))])
    finally:
        g_ba.train(was)


def psnr(made: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over images of the PSNR in dB, pixels mapped from [-1, 1] to [0, 1]."""
    mse = (((made + 1) / 2 - (target + 1) / 2) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def measure_pix2pix(trainer, root: str, held_out: int) -> dict[str, Any]:
    from ganforge.metrics.features import classifier_extractor
    from ganforge.metrics.frechet import fid_from_features

    data, targets, conditions, _ = held_out_rows("mnist-edges2digits", root, held_out)
    made = translate(trainer, conditions)
    extractor = classifier_extractor(data.mnist)  # ganforge's MNIST domain classifier (the test split's)
    return {"held_out_pairs": held_out, "l1": float((made - targets).abs().mean()), "psnr_db": psnr(made, targets),
            "fid_classifier": fid_from_features(extractor(targets), extractor(made)),
            "baseline_l1_black": float((-1 - targets).abs().mean()),
            "baseline_psnr_black_db": psnr(torch.full_like(targets, -1.0), targets)}


def measure_cyclegan(trainer, root: str, held_out: int) -> dict[str, Any]:
    from ganforge.metrics.features import classifier_extractor
    from ganforge.metrics.frechet import fid_from_features

    data, real_b, real_a, labels_a = held_out_rows("mnist-digits2thick", root, held_out)
    _, labels_b = data.load_side("sample")
    labels_b = labels_b[-held_out:]
    classify = data.metric_support().classifier()  # the thick digits' (domain B's) classifier
    made_b = translate(trainer, real_a)
    back_a = translate_back(trainer, made_b)
    made_a = translate_back(trainer, real_b)
    back_b = translate(trainer, made_a)
    extractor = classifier_extractor(data.domain("sample"))

    def acc(images: torch.Tensor, labels: torch.Tensor) -> float:
        return float((torch.as_tensor(classify(images)) == labels).float().mean())

    return {"held_out_rows": held_out,
            "class_preservation": acc(made_b, labels_a),
            "classifier_on_untranslated_a": acc(real_a, labels_a),
            "classifier_on_real_b": acc(real_b, labels_b),
            "classifier_holdout_accuracy": classify.accuracy,
            "cycle_error_a": float((back_a - real_a).abs().mean()),
            "cycle_error_b": float((back_b - real_b).abs().mean()),
            "fid_classifier_ab_vs_real_b": fid_from_features(extractor(real_b), extractor(made_b))}


def run(scheme: str, seed: int, steps: int, root: str, held_out: int, out_dir: Path) -> dict[str, Any]:
    import ganforge

    settings = {**preset(scheme), "steps": steps}
    settings.update(data=f"{settings['data']}-train-part", data_root=root, split="test",
                    data_options={"download": False}, seed=seed, threads=1, device="cpu", progress=False,
                    sample_every=0, checkpoint_every=0, log_every=max(1, steps // 10), out_dir=str(out_dir))
    trainer = ganforge.Trainer(**settings)
    start, cpu = time.perf_counter(), time.process_time()
    trainer.fit()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    measured = (measure_pix2pix if scheme == "pix2pix" else measure_cyclegan)(trainer, root, held_out)
    last = [r for r in trainer.history.records if "g_loss" in r][-1]
    return {"seed": seed, "steps": steps, "train_seconds": round(seconds, 1),
            "train_cpu_seconds": round(cpu_seconds, 1), "last_log": {k: v for k, v in last.items() if k != "steps_per_s"}, **measured}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key, value in runs[0].items():
        if key in ("seed", "steps", "last_log") or not isinstance(value, int | float) or value is None:
            continue
        values = [r[key] for r in runs]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        out[key] = {"mean": mean, "sd": sd, "min": min(values), "max": max(values)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scheme", choices=SCHEMES, required=True)
    p.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1, one after another (default 1)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's)")
    p.add_argument("--held-out", type=int, default=1000, help="last rows of the data set held out (default 1000)")
    p.add_argument("--data-root", default=None, help="folder of MNIST's test split (default: GANFORGE_DATA, "
                                                     "../shared/data/mnist)")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/translation-<scheme>.json)")
    args = p.parse_args(argv)
    from bench_common import machine, save_json

    root = data_root(args.data_root)
    register_parts(args.held_out)
    steps = args.steps or preset(args.scheme)["steps"]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            result = run(args.scheme, seed, steps, root, args.held_out, Path(tmp) / f"seed{seed}")
            print({k: v for k, v in result.items() if k != "last_log"}, flush=True)
            runs.append(result)
    report = {"scheme": args.scheme, "machine": machine(), "date": dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds"), "command": "python benchmarks/translation.py " + " ".join(argv or sys.argv[1:]),
        "threads": 1, "preset": f"{args.scheme}-mnist", "settings": preset(args.scheme), "steps": steps, "runs": runs, "summary": summary(runs)}
    path = save_json(report, args.out or REPO / "benchmarks" / "results" / f"translation-{args.scheme}.json")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

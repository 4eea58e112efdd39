"""Any folder of image files, optionally sorted into class subfolders."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import DataError, DataNotFoundError
from ganforge.interfaces import Dataset
from ganforge.options import choice, integer, option, optional, options

#: File name endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _is_image(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _images_under(folder: Path) -> list[Path]:
    """Image files anywhere below ``folder``, sorted, skipping hidden files and folders."""
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).parts
        if not any(part.startswith(".") for part in rel) and _is_image(p):
            found.append(p)
    return sorted(found)


#: Modes of unsigned 16-bit greyscale images (16-bit PNG and TIFF).
_UINT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
#: Formats whose 32-bit integer mode ``I`` holds 16-bit values scaled to 0..65535 (Pillow's 16-bit PNG and
#: PGM/PPM with a maxval over 255); elsewhere (TIFF) the range of an ``I`` image is unknown.
_SIXTEEN_BIT_I_FORMATS = ("PNG", "PPM")
_CONVERT = "Convert it to 8-bit (or 16-bit) greyscale or RGB"


def _number(x: float) -> str:
    return f"{x:.6g}"


def _to_8bit(img: Any, path: Path) -> Any:
    """``img`` as an 8-bit Pillow image: 16-bit and float images scaled by their range, not clipped at 255.

    * 8-bit modes (L, P, RGB, RGBA, LA, CMYK, 1, ...) are returned as they are (Pillow converts them).
    * Unsigned 16-bit greyscale (mode ``I;16*``, and mode ``I`` from PNG or PGM/PPM, which Pillow scales to
      0..65535): ``value / 257`` rounded, so 65535 is white.
    * Float (mode ``F``, e.g. a float TIFF) whose values all lie in [0, 1]: ``value * 255`` rounded.

    Raises:
        DataError: naming the file, for NaN or infinite pixels, float values outside [0, 1], and 32-bit or
            signed integer images (whose white is unknown).
    """
    from PIL import Image

    mode = img.mode
    sixteen = mode in _UINT16_MODES or (mode == "I" and img.format in _SIXTEEN_BIT_I_FORMATS)
    if not (sixteen or mode in ("I", "F") or mode.startswith("I;")):
        return img
    if not sixteen and mode != "F":
        kind = "32-bit integer" if mode == "I" else "signed integer"
        raise DataError(f"Image {path} holds {kind} pixels (mode {mode}) whose range ganforge cannot know "
                        f"(no bit depth says what white is). {_CONVERT}, or remove the file.")
    values = np.asarray(img)
    if mode == "F" or values.dtype.kind == "f":
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise DataError(f"Image {path} has {bad} NaN or infinite pixels (of {values.size}). Remove or replace "
                            "the file.")
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            raise DataError(f"Image {path} holds floating-point pixels (mode {mode}) from {_number(low)} to "
                            f"{_number(high)}; ganforge reads float images only with values in [0, 1] (0 black, "
                            f"1 white). {_CONVERT}, or scale its values to [0, 1].")
        scaled = np.rint(values.astype(np.float64) * 255.0)
    else:
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:  # not what Pillow gives for a 16-bit file; refuse rather than clip
            raise DataError(f"Image {path} holds integer pixels (mode {mode}) from {low} to {high}, outside the "
                            f"16-bit range 0..65535. {_CONVERT}, or remove the file.")
        scaled = np.rint(values.astype(np.float64) / 257.0)
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


@contextmanager
def _pillow_limit(pixels: int | None) -> Iterator[None]:
    """Pillow's decompression-bomb limit set to ``pixels`` (None: off), its warnings silenced, for one image.

    Pillow's own check raises (or warns, between its limit and twice it) without naming the file or its
    size, and ganforge's limit may differ from Pillow's (``max_image_pixels``): :func:`load_image` reads the
    header with Pillow's check off, applies the limit itself, then decodes with Pillow's check set to the
    same limit (it guards the parts of a file, such as TIFF tiles). The setting is restored afterwards;
    images are decoded one at a time in each process (training process or DataLoader worker).
    """
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def pixel_limit(max_pixels: int | None) -> int | None:
    """The largest image read, in pixels: ``max_pixels`` (0: none), or Pillow's ``PIL.Image.MAX_IMAGE_PIXELS``."""
    from PIL import Image

    if max_pixels is None:
        return Image.MAX_IMAGE_PIXELS or None
    return max_pixels or None


def load_image(path: Path, size: int, channels: int, max_pixels: int | None = None) -> np.ndarray:
    """Decode one image file to uint8 ``(channels, size, size)``.

    16-bit and float images are brought to 8 bits by their range (:func:`_to_8bit`). The shorter side is then
    scaled to ``size`` (antialiased bilinear; smaller images are enlarged), and the centre ``size x size``
    square is cropped.

    Args:
        max_pixels: The largest image read (width x height); None: Pillow's limit,
            ``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 million pixels unless changed), 0: no limit. A larger image
            is refused before it is decoded: a small file can decode to gigabytes (a decompression bomb).

    Raises:
        DataError: naming the file, when it cannot be decoded, is over the pixel limit, or holds pixels that
            cannot be read faithfully (see :func:`_to_8bit`).
    """
    return fit_square(open_image(path, channels, max_pixels), size, channels)


def open_image(path: Path, channels: int, max_pixels: int | None = None) -> Any:
    """Decode one image file to an 8-bit Pillow image of ``channels`` (1: greyscale, 3: RGB), at its own size.

    The checks of :func:`load_image` (the pixel limit before decoding, 16-bit and float images by their range);
    raises the same one-line :class:`~ganforge.errors.DataError` naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    limit = pixel_limit(max_pixels)
    try:
        with _pillow_limit(None):
            opened = Image.open(path)  # reads the header: the size is known before any pixel is decoded
        with opened as img:
            w, h = img.size
            if limit is not None and w * h > limit:
                raise DataError(
                    f"Image {path} is {w}x{h} = {w * h:,} pixels, over the limit of {limit:,} pixels (a guard "
                    "against decompression bombs). Resize it, or, if you trust the file, raise the limit with "
                    "--data-option max_image_pixels=N (data_options={'max_image_pixels': N}; 0: no limit)."
                )
            with _pillow_limit(limit):
                return _to_8bit(img, path).convert("RGB" if channels == 3 else "L")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"Cannot read image {path}: {exc}. Remove or replace the file.") from None


def fit_square(img: Any, size: int, channels: int) -> np.ndarray:
    """A Pillow image with its shorter side scaled to ``size`` (bilinear) and the centre square cropped, as uint8
    ``(channels, size, size)``."""
    from PIL import Image

    w, h = img.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


class ImageFolder(Dataset):
    """Images read from a folder (``data_root``), resized and centre-cropped to a square; class subfolders give labels.

    Layout: either image files directly in the folder (no labels), or one
    subfolder per class holding that class's images (at any depth); classes
    are the subfolder names in sorted order, numbered from 0. Hidden files and
    files whose names do not end in an image extension (``.png``, ``.jpg``,
    ``.jpeg``, ``.bmp``, ``.gif``, ``.webp``, ``.tif(f)``, ``.ppm``, ``.pgm``)
    are skipped. A folder holding both top-level images and class subfolders
    is refused. ``split`` is ignored: the folder is the data set.

    Options:
        image_size: Side of the square images produced, default 64 (the
            DCGAN size). Each image's shorter side is scaled to it, then the
            centre square is cropped.
        channels: 3 (default, RGB) or 1 (greyscale); images are converted.
        max_image_pixels: The largest image read, width x height; a larger one is refused with an error
            naming it before it is decoded (a small file can decode to gigabytes). Default (None): Pillow's
            ``PIL.Image.MAX_IMAGE_PIXELS`` (89,478,485 unless changed); 0: no limit, for files you trust.

    Pixel formats: 8-bit images (greyscale, palette, RGB, with alpha, CMYK, 1-bit) are converted by Pillow
    (alpha is dropped); 16-bit greyscale images are scaled by 65535 and float images with values in [0, 1]
    by 1; other float images, NaN or infinite pixels and 32-bit integer images are refused with a
    :class:`~ganforge.errors.DataError` naming the file. Every image is held as 8 bits.
    """

    name = "image-folder"

    @options
    class Options:
        image_size: int = option(64, validator=integer(4),
                                 help="Side of the square images produced (shorter side scaled, centre cropped).")
        channels: int = option(3, validator=choice(1, 3), help="3 (RGB) or 1 (greyscale); images are converted.")
        max_image_pixels: int | None = option(
            None, validator=optional(integer(0)),
            help="Largest image read, in pixels (width x height); larger ones are refused (decompression bombs). "
                 "Default: Pillow's PIL.Image.MAX_IMAGE_PIXELS (about 89 million); 0: no limit.")

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        super().__init__(root=root, split=split, **options)
        self.image_size = self.options.image_size
        self.channels = self.options.channels
        self.max_image_pixels = self.options.max_image_pixels
        self._files: list[Path] | None = None
        self._labels: list[int] | None = None
        self.classes: list[str] = []

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.channels, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int | None:
        self._scan()
        return len(self.classes) if self.classes else None

    def metric_support(self) -> Any:
        """Image metrics, plus class coverage when the folder has class subfolders."""
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("image", "classes") if self.num_classes else ("image",))

    def _scan(self) -> None:
        """List the image files and their classes once; raise DataError for a bad folder."""
        if self._files is not None:
            return
        if self.root is None:
            raise DataNotFoundError(
                "The image-folder data set needs the folder of images: pass data_root=DIR (--data-root DIR)."
            )
        folder = Path(self.root).expanduser()
        if not folder.exists():
            raise DataNotFoundError(f"Image folder {folder} does not exist; pass an existing folder as data_root "
                                    "(--data-root DIR).")
        if not folder.is_dir():
            raise DataError(f"data_root {folder} is a file, not a folder of images; pass its folder instead.")
        top = sorted(p for p in folder.iterdir() if _is_image(p))
        subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        per_class = [(d.name, _images_under(d)) for d in subdirs]
        per_class = [(name, files) for name, files in per_class if files]
        if top and per_class:
            raise DataError(
                f"Image folder {folder} holds both images at its top level ({top[0].name}, ...) and class "
                f"subfolders ({', '.join(n for n, _ in per_class[:3])}, ...). Put every image in a class "
                "subfolder for labelled data, or move the subfolders out for unlabelled data."
            )
        if top:
            self._files, self._labels = top, None
        elif per_class:
            self.classes = [name for name, _ in per_class]
            self._files = [f for _, files in per_class for f in files]
            self._labels = [k for k, (_, files) in enumerate(per_class) for _ in files]
        else:
            raise DataError(
                f"Image folder {folder} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)} files in it and "
                "its subfolders). Pass the folder that holds the images with data_root=DIR (--data-root DIR)."
            )

    per_item = True

    def num_items(self) -> int:
        self._scan()
        return len(self._files)

    def load_item(self, index: int) -> tuple[Tensor, int | None]:
        self._scan()
        label = self._labels[index] if self._labels is not None else None
        image = load_image(self._files[index], self.image_size, self.channels, self.max_image_pixels)
        return torch.tensor(image), label

    def load(self) -> tuple[Tensor, Tensor | None]:
        self._scan()
        images = np.stack([load_image(p, self.image_size, self.channels, self.max_image_pixels)
                           for p in self._files])
        labels = torch.tensor(self._labels, dtype=torch.int64) if self._labels is not None else None
        return torch.from_numpy(images), labels

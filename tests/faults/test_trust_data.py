"""Images and IDX files whose pixel format ganforge used to misread without a word (issue #24, B1-B3, B8, B11).

B1-B3: 16-bit PNGs trained as all white (clipped at 255), float TIFFs as all black, and NaN/Inf pixels became
0 or 255 silently. B8: an image over Pillow's decompression-bomb limit gave a worker traceback (files placement)
or a line blaming the plugin and naming no file. B11: an IDX file of signed bytes was accepted as MNIST.
Every image case is checked in the resident placement and in the files placement (DataLoader workers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.data.files import ItemBatches
from ganforge.data.idx import write_idx
from ganforge.data.image_folder import ImageFolder
from ganforge.data.loader import TensorBatches, to_model_space
from ganforge.data.mnist import MNIST
from ganforge.errors import DataError

CPU = torch.device("cpu")
SIDE = 8


def _folder(root: Path, n: int = 4) -> Path:
    """``n`` ordinary 8-bit greyscale 8x8 PNGs in ``root``."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8), mode="L").save(root / f"{k:03d}.png")
    return root


def _gradient16() -> np.ndarray:
    """An 8x8 uint16 gradient over the whole 16-bit range (0 ... 65535)."""
    return np.linspace(0, 65535, SIDE * SIDE).round().astype(np.uint16).reshape(SIDE, SIDE)


def _resident_and_files(root: Path, channels: int = 1) -> list[torch.Tensor]:
    """All images of the folder in model space, sorted by file: resident (load) and files (load_item), each."""
    data = ImageFolder(root=str(root), image_size=SIDE, channels=channels)
    whole, _ = data.load()
    items = torch.stack([data.load_item(i)[0] for i in range(data.num_items())])
    return [to_model_space(whole), to_model_space(items)]


def _first_batch_error(root: Path, placement: str, channels: int = 1, **options) -> str:
    """The DataError message of reading the folder's one batch (of every image) in ``placement``."""
    data = ImageFolder(root=str(root), image_size=SIDE, channels=channels, **options)
    with pytest.raises(DataError) as info:
        if placement == "resident":
            TensorBatches(*data.load(), batch_size=data.num_items(), device=CPU).next()
        else:  # read by a DataLoader worker process
            ItemBatches(data, batch_size=data.num_items(), device=CPU, workers=1).next()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


# -- B1-B3: 16-bit and float images ---------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_a_16bit_png_reaches_the_model_with_its_values(tmp_path, channels):
    """Before: every pixel above 255 of 65535 was clipped to white (+1 in model space)."""
    root = tmp_path / "images"
    root.mkdir()
    values = _gradient16()
    Image.fromarray(values).save(root / "deep.png")
    assert Image.open(root / "deep.png").mode == "I;16"
    expected = torch.from_numpy(np.rint(values / 257.0).astype(np.float32) / 127.5 - 1.0)
    for x in _resident_and_files(root, channels):
        assert x.shape == (1, channels, SIDE, SIDE)
        for c in range(channels):
            assert torch.allclose(x[0, c], expected, atol=1e-6)
    assert (x > 0.99).float().mean() < 0.1  # not all white


def test_a_16bit_pgm_is_scaled_by_its_range(tmp_path):
    """Pillow opens a PGM with maxval > 255 in mode I, scaled to 0..65535: read as 16 bits, not clipped."""
    root = tmp_path / "images"
    root.mkdir()
    ramp = np.array([0, 1023, 512, 256] * (SIDE * SIDE // 4), dtype=">u2").reshape(SIDE, SIDE)
    (root / "ramp.pgm").write_bytes(b"P5 %d %d 1023\n" % (SIDE, SIDE) + ramp.tobytes())
    assert Image.open(root / "ramp.pgm").mode == "I"
    for x in _resident_and_files(root):
        got = ((x[0, 0, 0, :4] + 1) * 127.5).round().tolist()
        assert got == [0.0, 255.0, 128.0, 64.0]


def test_a_float_tiff_in_0_1_is_read_as_intensities(tmp_path):
    """Decided: float images whose values all lie in [0, 1] are intensities (0 black, 1 white); before, all black."""
    root = tmp_path / "images"
    root.mkdir()
    values = np.linspace(0.0, 1.0, SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)
    Image.fromarray(values).save(root / "float.tiff")
    assert Image.open(root / "float.tiff").mode == "F"
    expected = torch.from_numpy(np.rint(values * 255).astype(np.float32) / 127.5 - 1.0)
    for x in _resident_and_files(root):
        assert torch.allclose(x[0, 0], expected, atol=1e-6)


@pytest.mark.parametrize("placement", ["resident", "files"])
def test_a_float_tiff_outside_0_1_is_refused_naming_its_range(tmp_path, placement):
    root = _folder(tmp_path / "images")
    bad = root / "raw.tif"
    Image.fromarray(np.linspace(-3.0, 4000.0, SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)).save(bad)
    message = _first_batch_error(root, placement)
    assert message.startswith(f"Image {bad} holds floating-point pixels (mode F) from -3 to 4000")
    assert "Convert it to 8-bit (or 16-bit)" in message


@pytest.mark.parametrize("placement, bad_value", [("resident", np.nan), ("files", np.nan), ("resident", np.inf),
                                                  ("resident", -np.inf)])
def test_nan_or_infinite_pixels_are_a_one_line_data_error(tmp_path, placement, bad_value):
    """Before: NaN became 0 and Inf 255, silently."""
    root = _folder(tmp_path / "images")
    bad = root / "broken.tiff"
    values = np.full((SIDE, SIDE), 0.5, dtype=np.float32)
    values[2, 3] = values[5, 5] = bad_value
    Image.fromarray(values).save(bad)
    message = _first_batch_error(root, placement)
    assert message.startswith(f"Image {bad} has 2 NaN or infinite pixels (of {SIDE * SIDE}).")
    assert "Remove or replace the file." in message
    if placement == "files":
        assert message.endswith("(read by DataLoader worker 0)")


@pytest.mark.parametrize("placement", ["resident", "files"])
def test_a_32bit_integer_tiff_is_refused(tmp_path, placement):
    """Its range is unknown (no bit depth says what white is): refused, not clipped at 255."""
    root = _folder(tmp_path / "images")
    bad = root / "counts.tif"
    Image.fromarray(np.arange(SIDE * SIDE, dtype=np.int32).reshape(SIDE, SIDE) * 1000).save(bad)
    message = _first_batch_error(root, placement)
    assert message.startswith(f"Image {bad} holds 32-bit integer pixels (mode I)")
    assert "Convert it to 8-bit (or 16-bit)" in message


def test_8bit_modes_still_convert_as_before(tmp_path):
    """Palette, LA, RGBA, CMYK and 1-bit images: Pillow's conversion (alpha dropped, CMYK naively to RGB)."""
    root = tmp_path / "images"
    root.mkdir()
    rgb = np.zeros((SIDE, SIDE, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "a_palette.png")
    Image.new("LA", (SIDE, SIDE), (90, 0)).save(root / "b_la.png")
    Image.new("RGBA", (SIDE, SIDE), (10, 20, 30, 0)).save(root / "c_rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(root / "d_cmyk.tif")
    Image.new("1", (SIDE, SIDE), 1).save(root / "e_bilevel.png")
    data, _ = ImageFolder(root=str(root), image_size=SIDE, channels=3).load()
    centre = data[:, :, 4, 4].tolist()
    assert centre == [[200, 0, 0], [90, 90, 90], [10, 20, 30], [200, 0, 0], [255, 255, 255]]


# -- B8: images over Pillow's decompression-bomb limit --------------------------------------------


def _train(root: Path, placement: str, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", "image-folder", "--data-root", str(root), "--data-option", f"image_size={SIDE}",
            "--data-option", "channels=1", *extra, "--data-placement", placement, "--data-workers", "1",
            "--batch-size", "4", "--latent-dim", "8", "--gen-option", "hidden=[16]", "--disc-option", "hidden=[16]",
            "--device", "cpu", "--threads", "1", "--steps", "2", "--log-every", "1", "--checkpoint-every", "100",
            "--sample-every", "0", "--out", str(out), "--no-progress"]


@pytest.mark.parametrize("placement, side", [("device", 40), ("device", 64), ("files", 64)],
                         ids=["device-over-the-limit", "device-over-twice-the-limit", "files-over-twice-the-limit"])
@pytest.mark.slow
def test_an_image_over_the_pixel_limit_is_one_line_naming_the_file_size_and_fix(tmp_path, capsys, monkeypatch,
                                                                               placement, side):
    """Before: a 75-line worker traceback (files), or a line naming no file that blamed the plugin; and between
    the limit and twice it (Pillow's warning range) the image was read after an anonymous warning."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # forked DataLoader workers inherit it
    root = _folder(tmp_path / "images")
    big = root / "huge.png"
    Image.fromarray(np.zeros((side, side), np.uint8)).save(big)
    assert main(_train(root, placement, tmp_path / "run")) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith(f"ganforge: error: Image {big} is {side}x{side} = {side * side:,} pixels, over the "
                           "limit of 1,000 pixels")
    assert "Resize it" in line and "--data-option max_image_pixels=N" in line
    assert "plugin" not in line and "report it to its author" not in line
    # The fix the message names works: the limit raised, the same image trains (read by a worker).
    if placement == "files":
        assert main(_train(root, placement, tmp_path / "run", "--data-option", "max_image_pixels=5000",
                           "--overwrite")) == 0


def test_the_pixel_limit_option_reads_what_it_allows(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    root = tmp_path / "images"
    root.mkdir()
    Image.fromarray(np.full((SIDE, 200), 7, np.uint8)).save(root / "wide.png")  # 1,600 pixels
    for limit in (1600, 0):  # 0: no limit
        data = ImageFolder(root=str(root), image_size=SIDE, channels=1, max_image_pixels=limit)
        assert data.load()[0].unique().tolist() == [7]
    message = _first_batch_error(root, "resident", max_image_pixels=1599)
    assert "is 200x8 = 1,600 pixels, over the limit of 1,599 pixels" in message
    assert Image.MAX_IMAGE_PIXELS == 1000  # the option did not change Pillow's setting for the process


# -- B11: IDX element types of MNIST files --------------------------------------------------------


@pytest.mark.parametrize("which", ["images", "labels"])
def test_signed_byte_idx_files_are_not_mnist(tmp_path, which):
    """Before: an int8 (type 0x09) file was read as MNIST."""
    images = np.random.default_rng(0).integers(0, 128, (12, 28, 28)).astype(np.uint8)
    labels = (np.arange(12) % 10).astype(np.uint8)
    if which == "images":
        images = images.astype(np.int8)
    else:
        labels = labels.astype(np.int8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    bad = tmp_path / f"t10k-{which}-idx{3 if which == 'images' else 1}-ubyte"
    with pytest.raises(ganforge.DataError) as info:
        MNIST(root=str(tmp_path), split="test", download=False).load()
    message = str(info.value)
    assert message.startswith(f"{bad}: IDX element type 0x09 (signed byte); mnist {which} must be 0x08 "
                              "(unsigned byte)")
    assert "\n" not in message


@pytest.mark.parametrize(
    "images, labels, expected",
    [(np.zeros((5, 32, 32), np.uint8), np.zeros(5, np.uint8), r"images of shape \(5, 32, 32\); mnist needs "
                                                                r"\(N, 28, 28\)"),
     (np.zeros((5, 28, 28), np.uint8), np.zeros((5, 1), np.uint8), r"labels of shape \(5, 1\); mnist needs \(N,\)"),
     (np.zeros((5, 28, 28), np.uint8), np.array([0, 1, 2, 10, 3], np.uint8),
      r"holds label 10; mnist has classes 0 to 9")],
    ids=["image-size", "label-dims", "label-range"],
)
def test_mnist_files_of_other_dimensions_are_refused(tmp_path, images, labels, expected):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(ganforge.DataError, match=expected) as info:
        MNIST(root=str(tmp_path), split="test", download=False).load()
    assert str(tmp_path) in str(info.value)

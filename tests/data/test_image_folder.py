"""The image-folder data set: layouts, labels, resizing and cropping, channels, and bad folders."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data.image_folder import ImageFolder


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode).save(path)
    return path


def solid(h: int, w: int, rgb) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


def stripes(h: int, w: int) -> np.ndarray:
    """Red, green and blue vertical thirds."""
    img = np.zeros((h, w, 3), np.uint8)
    third = w // 3
    img[:, :third, 0] = img[:, third : 2 * third, 1] = img[:, 2 * third :, 2] = 255
    return img


@pytest.fixture
def classes(tmp_path) -> Path:
    root = tmp_path / "pets"
    save(root / "cats" / "a.png", solid(40, 30, (255, 0, 0)))
    save(root / "dogs" / "b.jpg", solid(20, 20, (0, 0, 255)))
    save(root / "dogs" / "puppies" / "c.png", solid(50, 50, (0, 255, 0)))
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / "cats" / ".hidden.png").write_bytes(b"junk")  # hidden: skipped
    return root


def test_class_subfolders_give_labels(classes):
    data = ImageFolder(root=str(classes), image_size=16)
    assert data.num_classes == 2 and data.classes == ["cats", "dogs"]
    images, labels = data.load()
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 1, 1]
    # a.png is red, b.jpg blue, puppies/c.png green; sorted within each class.
    dominant = images.float().mean(dim=(2, 3)).argmax(dim=1).tolist()
    assert dominant == [0, 2, 1]


def test_top_level_images_are_unlabelled(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", solid(8, 8, (i * 100, 0, 0)))
    data = ImageFolder(root=str(tmp_path), image_size=8)
    images, labels = data.load()
    assert labels is None and data.num_classes is None
    assert images[:, 0, 0, 0].tolist() == [0, 100, 200]


def test_shorter_side_is_scaled_then_the_centre_cropped(tmp_path):
    # 30 x 90 image of red | green | blue thirds: scaling the height to 16 gives 16 x 48,
    # and the centre 16 columns are exactly the green third (squashing would keep all three).
    save(tmp_path / "wide.png", stripes(30, 90))
    save(tmp_path / "tall.png", stripes(30, 90).transpose(1, 0, 2).copy())  # thirds stacked vertically
    images, _ = ImageFolder(root=str(tmp_path), image_size=16, channels=3).load()
    tall, wide = images.float()  # sorted by name
    inner = wide[:, :, 2:-2]
    assert inner[1].min() > 200 and inner[0].max() < 40 and inner[2].max() < 40
    assert tall[1, 2:-2].min() > 200 and tall[0, 2:-2].max() < 40


def test_small_images_are_enlarged(tmp_path):
    save(tmp_path / "tiny.png", solid(4, 6, (10, 20, 30)))
    images, _ = ImageFolder(root=str(tmp_path), image_size=12).load()
    assert images.shape == (1, 3, 12, 12)
    assert images[0, :, 6, 6].tolist() == [10, 20, 30]


def test_channels_option_converts(tmp_path):
    save(tmp_path / "green.png", solid(8, 8, (0, 255, 0)))
    save(tmp_path / "grey.png", np.full((8, 8), 77), mode="L")
    grey, _ = ImageFolder(root=str(tmp_path), image_size=8, channels=1).load()
    assert grey.shape == (2, 1, 8, 8)
    assert abs(int(grey[0].float().mean()) - 150) <= 1  # ITU-R 601 luma of pure green
    assert grey[1].unique().tolist() == [77]
    rgb, _ = ImageFolder(root=str(tmp_path), image_size=8, channels=3).load()
    assert rgb.shape == (2, 3, 8, 8) and rgb[1].unique().tolist() == [77]


def test_conditional_dcgan_trains_on_a_folder(classes, tiny):
    tiny.update(steps=2, log_every=1, batch_size=3)
    trainer = ganforge.Trainer(gen="dcgan", disc="dcgan", data="image-folder", data_root=str(classes),
                               data_options={"image_size": 32}, conditional=True,
                               gen_options={"width": 8}, disc_options={"width": 8}, **tiny)
    trainer.fit()
    assert trainer.spec.data_shape == (3, 32, 32) and trainer.spec.num_classes == 2


# -- bad folders ------------------------------------------------------------------


def test_missing_folder_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ganforge.DataNotFoundError, match=f"{re.escape(str(missing))}.*does not exist.*--data-root"):
        ImageFolder(root=str(missing)).load()


def test_no_root_says_to_pass_one():
    with pytest.raises(ganforge.DataNotFoundError, match="data_root=DIR"):
        ImageFolder().load()


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(ganforge.DataError, match=f"{re.escape(str(tmp_path))} holds no images"):
        ImageFolder(root=str(tmp_path)).load()
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ganforge.DataError, match=f"{re.escape(str(tmp_path))} holds no images.*\\.png"):
        ImageFolder(root=str(tmp_path)).num_classes


def test_root_that_is_a_file(tmp_path):
    path = save(tmp_path / "one.png", solid(4, 4, (0, 0, 0)))
    with pytest.raises(ganforge.DataError, match=f"{re.escape(str(path))} is a file"):
        ImageFolder(root=str(path)).load()


def test_unreadable_image_is_named(tmp_path):
    save(tmp_path / "good.png", solid(4, 4, (0, 0, 0)))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 this is not really a jpeg")
    with pytest.raises(ganforge.DataError, match=f"Cannot read image {re.escape(str(bad))}"):
        ImageFolder(root=str(tmp_path), image_size=4).load()


def test_images_beside_class_folders_are_refused(classes):
    save(classes / "stray.png", solid(4, 4, (0, 0, 0)))
    with pytest.raises(ganforge.DataError, match="both images at its top level.*stray.png.*cats"):
        ImageFolder(root=str(classes)).load()


@pytest.mark.parametrize("options, text", [({"channels": 2}, "'channels'"), ({"image_size": 2}, "'image_size'"),
                                           ({"image_size": 32.0}, "'image_size'")])
def test_bad_options(options, text):
    with pytest.raises(ganforge.ConfigError, match=text):
        ImageFolder(root=".", **options)

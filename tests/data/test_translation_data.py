"""The image-to-image data sets: built from MNIST (paired outlines, unpaired thick digits) and the user's folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data.translation import dilate, erode, outline

# -- morphology -------------------------------------------------------------------------------------


def test_dilation_erosion_and_outline_of_a_square():
    img = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    img[..., 3:6, 3:6] = 255  # a 3x3 white square
    assert int((dilate(img) > 0).sum()) == 25  # grown by one pixel on every side: 5x5
    assert int((erode(img) > 0).sum()) == 1  # shrunk to its centre
    edge = outline(img)
    assert int((edge > 0).sum()) == 24 and edge[0, 0, 4, 4] == 0  # the 5x5 ring, hollow in the middle
    assert set(edge.unique().tolist()) == {0, 255}


# -- built from MNIST (the real test split) ---------------------------------------------------------


def make(name, root, **options):
    return ganforge.create_plugin("dataset", name, root=str(root), split="test", download=False, **options)


def test_edges2digits_rows_are_outline_then_digit(mnist_root):
    data = make("mnist-edges2digits", mnist_root)
    digits, digit_labels = ganforge.create_plugin("dataset", "mnist", root=str(mnist_root), split="test",
                                                  download=False).load()
    rows, labels = data.load()
    assert data.stored_shape == (2, 28, 28) and data.sample_shape == data.condition_shape == (1, 28, 28)
    assert rows.shape == (10000, 2, 28, 28) and rows.dtype == torch.uint8
    assert torch.equal(labels, digit_labels) and data.num_classes == 10
    assert torch.equal(rows[:, 1:2], digits)  # the sample is the digit itself
    edges = rows[:, :1]
    assert set(edges.unique().tolist()) == {0, 255}
    # An outline: nonzero only next to a stroke (within one pixel), and not the digit.
    near_stroke = dilate((digits > 0).to(torch.uint8) * 255) > 0
    assert not (edges.bool() & ~near_stroke).any()
    assert (edges.bool() & (digits == 0)).any()  # it reaches outside the strokes
    assert (~edges.bool() & (digits == 255)).any()  # and leaves the cores of thick strokes out
    assert (edges > 0).flatten(1).any(1).all()  # every digit has an outline


def test_split_condition_returns_samples_then_conditions(mnist_root):
    data = make("mnist-edges2digits", mnist_root)
    rows, _ = data.load()
    x = rows[:16].float() / 127.5 - 1  # model space, as the loader gives it
    samples, conds = data.split_condition(x)
    assert samples.shape == conds.shape == (16, 1, 28, 28)
    assert torch.equal(samples, x[:, 1:2]) and torch.equal(conds, x[:, 0:1])
    assert torch.equal(torch.cat([conds, samples], 1), x)  # the round trip gives the rows back


def test_edges_threshold_is_an_option(mnist_root):
    low = make("mnist-edges2digits", mnist_root, threshold=1).load()[0][:100, 0]
    high = make("mnist-edges2digits", mnist_root, threshold=250).load()[0][:100, 0]
    assert (low > 0).sum() > (high > 0).sum() > 0
    with pytest.raises(ganforge.ConfigError, match="'threshold'"):
        make("mnist-edges2digits", mnist_root, threshold=0)


def test_digits2thick_pairs_digits_with_thickened_other_images(mnist_root):
    data = make("mnist-digits2thick", mnist_root)
    digits, digit_labels = ganforge.create_plugin("dataset", "mnist", root=str(mnist_root), split="test",
                                                  download=False).load()
    rows, labels = data.load()
    assert rows.shape == (5000, 2, 28, 28) and rows.dtype == torch.uint8 and labels.shape == (5000,)
    assert data.stored_shape == (2, 28, 28) and data.sample_shape == data.condition_shape == (1, 28, 28)
    a, b = rows[:, :1], rows[:, 1:]
    # Domain A: MNIST digits as they are, each labelled with its own class.
    index = {bytes(img.numpy()): k for k, img in enumerate(digits)}
    a_index = torch.tensor([index[bytes(img.numpy())] for img in a])
    assert torch.equal(labels, digit_labels[a_index])
    # Domain B: thicker strokes.
    assert (b > 0).sum() > 1.4 * (a > 0).sum()
    # Not aligned: no row's B is its own A thickened, and no image is in both domains.
    thick = dilate(digits)
    assert not any(torch.equal(thick[i], b[r]) for r, i in enumerate(a_index[:500].tolist()))
    b_keys = {bytes(img.numpy()) for img in b}
    assert not b_keys & {bytes(thick[i].numpy()) for i in a_index.tolist()}
    # The B digits' classes are those of other images: agreement with A is at chance level (about 1 in 10).
    sample_images, sample_labels = data.domain("sample").load()
    assert torch.equal(sample_images, b)
    assert (sample_labels == labels).float().mean() < 0.2


def test_digits2thick_is_deterministic_and_seeded(mnist_root):
    first, labels = make("mnist-digits2thick", mnist_root).load()
    again, labels_again = make("mnist-digits2thick", mnist_root).load()
    assert torch.equal(first, again) and torch.equal(labels, labels_again)
    other, _ = make("mnist-digits2thick", mnist_root, seed=1).load()
    assert not torch.equal(first, other)
    thicker, _ = make("mnist-digits2thick", mnist_root, thickness=5).load()
    assert (thicker[:, 1] > 0).sum() > (first[:, 1] > 0).sum()
    assert torch.equal(thicker[:, 0], first[:, 0])  # same shuffle: the same A digits


def test_domains_are_data_sets_of_one_side(mnist_root):
    data = make("mnist-edges2digits", mnist_root)
    side = data.domain("sample")
    assert side.name == "mnist-edges2digits-samples" and side.sample_shape == (1, 28, 28) and side.num_classes == 10
    images, labels = side.load()
    rows, row_labels = data.load()
    assert torch.equal(images, rows[:, 1:]) and torch.equal(labels, row_labels)
    assert torch.equal(data.domain("condition").load()[0], rows[:, :1])
    with pytest.raises(ganforge.ConfigError, match="domain must be one of"):
        data.domain("A")


def test_condition_from_maps_users_images_to_model_space(mnist_root):
    data = make("mnist-edges2digits", mnist_root)
    images = torch.tensor([0, 255], dtype=torch.uint8).repeat_interleave(392).view(1, 1, 28, 28)
    x = data.condition_from(images)
    assert x.min() == -1 and x.max() == 1 and x.shape == (1, 1, 28, 28)
    with pytest.raises(ganforge.DataError, match=r"\(3, 28, 28\) do not fit"):
        data.condition_from(torch.zeros(1, 3, 28, 28, dtype=torch.uint8))


# -- the user's folders -----------------------------------------------------------------------------


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def grey(h: int, w: int, value: int) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def folder_set(name, root, **options):
    return ganforge.create_plugin("dataset", name, root=str(root), **{"image_size": 8, **options})


def test_paired_folder_side_by_side(tmp_path):
    for i, value in enumerate((10, 20, 30)):
        # A (left half) is dark, B (right half) is value + 100.
        save(tmp_path / "train" / f"{i}.png", np.concatenate([grey(16, 16, value), grey(16, 16, value + 100)], 1))
    save(tmp_path / "test" / "t.png", np.concatenate([grey(16, 16, 1), grey(16, 16, 2)], 1))
    data = folder_set("paired-folder", tmp_path)
    assert data.per_item and data.num_items() == 3 and data.num_classes is None
    assert data.stored_shape == (6, 8, 8) and data.sample_shape == data.condition_shape == (3, 8, 8)
    row, label = data.load_item(1)
    assert label is None and row.dtype == torch.uint8 and row.shape == (6, 8, 8)
    assert (row[:3] == 20).all() and (row[3:] == 120).all()  # condition = A, sample = B
    samples, conds = data.split_condition(row[None].float())
    assert (conds == 20).all() and (samples == 120).all()
    back = folder_set("paired-folder", tmp_path, direction="BtoA").load_item(1)[0]
    assert (back[:3] == 120).all() and (back[3:] == 20).all()
    rows, labels = data.load()
    assert rows.shape == (3, 6, 8, 8) and labels is None
    test = folder_set("paired-folder", tmp_path, channels=1)
    test.split = "test"
    assert test.num_items() == 1 and test.load_item(0)[0].shape == (2, 8, 8)


def test_paired_folder_halves_are_resized_and_cropped_like_image_folder(tmp_path):
    from ganforge.data.image_folder import load_image

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (20, 30, 3)), rng.integers(0, 256, (20, 30, 3))
    save(tmp_path / "pair.png", np.concatenate([a, b], 1))
    save(tmp_path / "ref" / "a.png", a)
    save(tmp_path / "ref" / "b.png", b)
    row = folder_set("paired-folder", tmp_path, layout="side_by_side").load_item(0)[0].numpy()
    assert np.array_equal(row[:3], load_image(tmp_path / "ref" / "a.png", 8, 3))
    assert np.array_equal(row[3:], load_image(tmp_path / "ref" / "b.png", 8, 3))


def test_paired_folder_a_and_b_folders(tmp_path):
    for name, value in (("x", 50), ("sub/y", 60)):
        save(tmp_path / "A" / f"{name}.png", grey(10, 10, value))
        save(tmp_path / "B" / f"{name}.jpg", grey(10, 10, value + 100))  # extensions may differ
    data = folder_set("paired-folder", tmp_path, channels=1)
    assert data.num_items() == 2 and data.stored_shape == (2, 8, 8)
    rows, _ = data.load()
    assert sorted(rows[:, 0, 0, 0].tolist()) == [50, 60]
    for row in rows:  # each A sits beside its own B
        assert abs(int(row[1, 0, 0]) - int(row[0, 0, 0]) - 100) <= 2  # JPEG may shift a grey level


def refused(call, error, match):
    """``call()`` raises ``error`` with a one-line message matching ``match``."""
    with pytest.raises(error, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_paired_folder_errors_name_the_path_and_the_fix(tmp_path):
    save(tmp_path / "A" / "x.png", grey(8, 8, 1))
    save(tmp_path / "A" / "y.png", grey(8, 8, 1))
    count = lambda root, **o: lambda: folder_set("paired-folder", root, **o).num_items()
    refused(count(tmp_path), ganforge.DataNotFoundError, r"B does not exist.*the same file names")
    save(tmp_path / "B" / "x.png", grey(8, 8, 1))
    refused(count(tmp_path), ganforge.DataError, r"A/y.png has no image of the same name in .*B; .*same file names")
    refused(count(tmp_path / "missing"), ganforge.DataNotFoundError, "missing does not exist; pass the folder")
    refused(lambda: ganforge.create_plugin("dataset", "paired-folder").num_items(), ganforge.DataNotFoundError,
            "pass data_root=DIR")
    (tmp_path / "empty").mkdir()
    refused(count(tmp_path / "empty"), ganforge.DataError, "empty holds no images: paired-folder reads A|B images")
    refused(count(tmp_path, layout="side_by_side"), ganforge.DataError, "holds no images")
    refused(lambda: folder_set("paired-folder", tmp_path, direction="A2B"), ganforge.ConfigError, "'direction'")


def unpaired(root: Path, n_a: int, n_b: int) -> Path:
    for i in range(n_a):
        save(root / "trainA" / f"a{i}.png", grey(8, 8, i))
    for i in range(n_b):
        save(root / "trainB" / f"b{i}.png", grey(8, 8, 100 + i))
    return root


def test_unpaired_folder_pairs_a_with_a_seeded_permutation_of_b(tmp_path):
    unpaired(tmp_path, 6, 6)
    data = folder_set("unpaired-folder", tmp_path, channels=1)
    rows, labels = data.load()
    assert rows.shape == (6, 2, 8, 8) and labels is None and data.stored_shape == (2, 8, 8)
    a, b = rows[:, 0, 0, 0].tolist(), rows[:, 1, 0, 0].tolist()
    assert a == list(range(6)) and sorted(b) == list(range(100, 106))  # every image once
    assert b != list(range(100, 106))  # B is shuffled against A
    again = folder_set("unpaired-folder", tmp_path, channels=1).load()[0]
    assert torch.equal(rows, again)
    other = folder_set("unpaired-folder", tmp_path, channels=1, seed=3).load()[0]
    assert not torch.equal(rows, other)
    flipped = folder_set("unpaired-folder", tmp_path, channels=1, direction="BtoA").load()[0]
    assert torch.equal(flipped[:, 0], rows[:, 1]) and torch.equal(flipped[:, 1], rows[:, 0])


def test_unpaired_folder_length_max_or_min(tmp_path):
    unpaired(tmp_path, 3, 5)
    rows = folder_set("unpaired-folder", tmp_path, channels=1).load()[0]
    assert rows.shape[0] == 5
    assert sorted(rows[:, 1, 0, 0].tolist()) == list(range(100, 105))  # every B once, A repeating
    assert rows[:, 0, 0, 0].tolist() == [0, 1, 2, 0, 1]
    short = folder_set("unpaired-folder", tmp_path, channels=1, length="min").load()[0]
    assert short.shape[0] == 3 and short[:, 0, 0, 0].tolist() == [0, 1, 2]
    assert len(set(short[:, 1, 0, 0].tolist())) == 3


def test_unpaired_folder_test_split_and_errors(tmp_path):
    unpaired(tmp_path, 2, 2)
    count = lambda: ganforge.create_plugin("dataset", "unpaired-folder", root=str(tmp_path), split="test",
                                           image_size=8).num_items()
    refused(count, ganforge.DataNotFoundError, r"testA does not exist: .*testA/ and testB/ in .*split='test'")
    save(tmp_path / "testA" / "a.png", grey(8, 8, 1))
    (tmp_path / "testB").mkdir()
    refused(count, ganforge.DataError, "testB holds no images")
    save(tmp_path / "testB" / "b.png", grey(8, 8, 2))
    assert count() == 1

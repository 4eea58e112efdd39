"""data_placement="files": an image folder read sample by sample by DataLoader workers.

Every placement must give the same batches for the same seed, and the files
path must resume exactly although its workers decode batches ahead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data import files as files_module
from ganforge.data.files import ItemBatches
from ganforge.data.image_folder import ImageFolder
from ganforge.data.loader import TensorBatches
from ganforge.data.placement import make_batches
from ganforge.data.resize import ResizedDataset
from ganforge.errors import ConfigError
from ganforge.interfaces import Dataset

CPU = torch.device("cpu")


@pytest.fixture
def folder(tmp_path) -> Path:
    """40 distinct 8x8 greyscale PNGs in two class folders."""
    rng = np.random.default_rng(0)
    for k in range(40):
        sub = tmp_path / "images" / ("a" if k % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(sub / f"{k:03d}.png")
    return tmp_path / "images"


def dataset(folder: Path) -> ImageFolder:
    return ImageFolder(root=str(folder), image_size=8, channels=1)


@pytest.mark.parametrize("workers", [0, 2])
def test_files_give_the_resident_batches(folder, workers):
    data, labels = dataset(folder).load()
    resident = TensorBatches(data, labels, 6, CPU, seed=4)
    files = ItemBatches(dataset(folder), 6, CPU, seed=4, workers=workers)
    for _ in range(3 * len(files)):  # three epochs: reshuffles included
        (x, y), (rx, ry) = files.next(), resident.next()
        assert torch.equal(x, rx) and torch.equal(y, ry)
    assert files.epoch == resident.epoch == 2


def test_files_resume_exactly_despite_decoding_ahead(folder):
    first = ItemBatches(dataset(folder), 6, CPU, seed=1, workers=2)
    for _ in range(8):  # into the second epoch; the workers have decoded further
        first.next()
    state = first.state_dict()
    expected = [first.next()[0] for _ in range(5)]
    resumed = ItemBatches(dataset(folder), 6, CPU, seed=99, workers=2)
    resumed.load_state_dict(state)
    assert all(torch.equal(e, resumed.next()[0]) for e in expected)


def test_each_rank_reads_only_its_slice(folder):
    whole = ItemBatches(dataset(folder), 8, CPU, seed=2, workers=0)
    ranks = [ItemBatches(dataset(folder), 8, CPU, seed=2, rank=r, world_size=2, workers=0) for r in (0, 1)]
    for _ in range(4):
        x = whole.next()[0]
        assert torch.equal(torch.cat([r.next()[0] for r in ranks]), x)


def test_resized_folder_reads_items_like_the_whole_load(folder):
    resized = ResizedDataset(dataset(folder), 4)
    assert resized.per_item and resized.num_items() == 40
    whole, labels = resized.load()
    for i in (0, 17, 39):
        item, label = resized.load_item(i)
        assert torch.equal(item, whole[i]) and label == labels[i]


def test_auto_reads_files_only_when_the_decoded_data_would_not_fit(folder, monkeypatch):
    assert isinstance(make_batches(dataset(folder), 6, CPU), TensorBatches)
    monkeypatch.setattr(files_module, "available_host_memory", lambda: 2 * 40 * 64 - 1)  # 40 images of 64 bytes
    assert isinstance(make_batches(dataset(folder), 6, CPU), ItemBatches)
    monkeypatch.setattr(files_module, "available_host_memory", lambda: None)  # unknown: load as before
    assert isinstance(make_batches(dataset(folder), 6, CPU), TensorBatches)


def test_files_placement_needs_a_per_item_data_set():
    class Whole(Dataset):
        name = "whole"
        sample_shape = (2,)

        def load(self):
            return torch.zeros(10, 2), None

    with pytest.raises(ConfigError, match="data_placement='files' reads samples one at a time, which data set "
                                          "'whole' cannot .*use 'auto', 'device' or 'stream'"):
        make_batches(Whole(), 4, CPU, placement="files")


def test_trainer_on_files_matches_resident_and_says_so(folder, tiny, tmp_path, capsys):
    common = dict(data="image-folder", data_root=str(folder), data_options={"image_size": 8, "channels": 1},
                  gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, latent_dim=8, batch_size=8,
                  steps=7, log_every=7)
    tiny.update(common, progress=True)
    files = ganforge.Trainer(**tiny, data_placement="files", data_workers=1)
    f_hist = files.fit()
    assert "read from its files by 1 DataLoader worker" in capsys.readouterr().err
    tiny.update(out_dir=str(tmp_path / "resident"), progress=False, steps=12)  # 5 batches per epoch: 2 epochs
    r_hist = ganforge.Trainer(**tiny, data_placement="device").fit()
    assert f_hist.g_loss == r_hist.g_loss[:7] and f_hist.d_loss == r_hist.d_loss[:7]
    # The files run's checkpoint resumes with another placement and continues exactly.
    resumed = ganforge.Trainer.resume(files.run_dir, steps=12, data_placement="stream", progress=False)
    history = resumed.fit()
    assert history.g_loss == r_hist.g_loss and history.d_loss == r_hist.d_loss


def test_an_unreadable_file_found_by_a_worker_is_named(folder):
    bad = folder / "a" / "999.png"
    bad.write_bytes(b"not a png")
    batches = ItemBatches(dataset(folder), 41, CPU, seed=0, workers=1)  # one batch holds every file
    with pytest.raises(ganforge.DataError, match=r"Cannot read image .*999\.png"):
        batches.next()


def test_a_failed_read_leaves_the_loader_consistent(folder):
    (folder / "a" / "999.png").write_bytes(b"not a png")
    batches = ItemBatches(dataset(folder), 41, CPU, seed=0, workers=0)
    for _ in range(2):  # the same batch fails again: the position did not move past it
        with pytest.raises(ganforge.DataError, match="999.png"):
            batches.next()
    assert batches.index.position == 0


def test_a_changed_data_set_is_refused_on_resume(folder):
    state = ItemBatches(dataset(folder), 6, CPU, workers=0).state_dict()
    (folder / "a" / "001.png").unlink()
    with pytest.raises(ganforge.DataError, match="The data set has 39 samples but the checkpoint's shuffle order "
                                                 "covers 40: the data changed since it was saved"):
        ItemBatches(dataset(folder), 6, CPU, workers=0).load_state_dict(state)


def test_processes_on_one_machine_share_workers_and_memory(folder, monkeypatch):
    monkeypatch.setattr(files_module, "available_host_memory", lambda: 4 * 40 * 64)  # room for 2 copies
    monkeypatch.setattr(files_module.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert files_module.default_workers() == 8 and not files_module.too_big_for_host(dataset(folder))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun --nproc_per_node=4: four copies, 16 cores
    assert files_module.default_workers() == 4 and files_module.too_big_for_host(dataset(folder))


def test_load_item_must_match_the_declared_shape(folder):
    class Liar(ImageFolder):
        @property
        def sample_shape(self):
            return (1, 9, 9)

    with pytest.raises(ganforge.DataError, match=r"declares samples of shape \(1, 9, 9\) but load_item\(0\) "
                                                 r"returned \(1, 8, 8\)"):
        ItemBatches(Liar(root=str(folder), image_size=8, channels=1), 6, CPU, workers=0)


def test_a_per_item_data_set_without_load_is_stacked_from_its_items():
    class Items(ganforge.Dataset):
        """Six 1x2x2 images, read one at a time only (a test double)."""

        name = "items_only"
        per_item = True

        @property
        def sample_shape(self):
            return (1, 2, 2)

        def num_items(self):
            return 6

        def load_item(self, index):
            return torch.full((1, 2, 2), index, dtype=torch.uint8), index % 2

    data, labels = Items().load()
    assert data.shape == (6, 1, 2, 2) and data[4].eq(4).all() and labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert isinstance(make_batches(Items(), 3, CPU), TensorBatches)  # small: held in memory

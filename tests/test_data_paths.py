"""The resident and the streamed data paths compute the same training (issue: fast core step)."""

from __future__ import annotations

import pytest

import ganforge

SMALL = dict(gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32,)})


@pytest.mark.parametrize("placement", ["stream", "auto"])
def test_placements_give_identical_losses(tiny, tmp_path, mnist_root, placement):
    settings = dict(data="mnist", data_root=str(mnist_root), split="test", **SMALL, **tiny)
    resident = ganforge.Trainer(data_placement="device", **settings)
    reference = resident.fit()
    settings["out_dir"] = str(tmp_path / placement)
    other = ganforge.Trainer(data_placement=placement, **settings)
    history = other.fit()
    assert resident.batches.placement == "device"
    assert other.batches.placement == ("stream" if placement == "stream" else "device")
    assert history.g_loss == reference.g_loss and history.d_loss == reference.d_loss


def test_uint8_images_stay_uint8_in_memory(tiny, mnist_root):
    trainer = ganforge.Trainer(data="mnist", data_root=str(mnist_root), split="test", **SMALL, **tiny).setup()
    assert trainer.batches.data.dtype.itemsize == 1  # a quarter of float32's memory
    x, _ = trainer.batches.next()
    assert x.dtype.is_floating_point and x.min() >= -1 and x.max() <= 1

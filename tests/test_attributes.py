"""Several labels per sample: a data set with attributes (``Dataset.num_attributes``), ``mnist-attributes``, and
conditional training on attribute rows through the models that take them."""

from __future__ import annotations

import pytest
import torch
from test_capture import capturable_on_the_cpu, eager_and_traced  # noqa: F401

import ganforge
from ganforge.cli import main
from ganforge.data.attributes import ATTRIBUTES, ink, mnist_attributes, slant
from ganforge.errors import ConfigError, DataError, IncompatibleError
from ganforge.interfaces import ModelSpec


class FourRows(ganforge.Dataset):
    """32 tiny 1x8x8 images with three attributes each (the last one copies the first: a joint distribution)."""

    name = "four-rows"

    @property
    def sample_shape(self):
        return (1, 8, 8)

    @property
    def num_attributes(self):
        return 3

    @property
    def attribute_names(self):
        return ("a", "b", "a_again")

    def load(self):
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (32, 1, 8, 8), generator=g, dtype=torch.uint8)
        a = torch.arange(32) % 2
        b = (torch.arange(32) // 2) % 2
        return images, torch.stack([a, b, a], dim=1)


def run(tmp_path, **more):
    settings = dict(data="four-rows", conditional=True, steps=4, batch_size=8, latent_dim=4,
                    gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, log_every=1, sample_every=0,
                    checkpoint_every=0, progress=False, device="cpu", out_dir=str(tmp_path / "run"))
    settings.update(more)
    return settings


@pytest.fixture
def rows(register):
    register(datasets=[FourRows])


def test_the_mnist_attributes_are_two_of_class_and_two_of_stroke(mnist_root):
    data = ganforge.create_plugin("dataset", "mnist-attributes", root=str(mnist_root), split="test", download=False)
    images, attributes = data.load()
    digits, classes = data.mnist.load()
    assert torch.equal(images, digits) and attributes.shape == (10_000, 4) and attributes.dtype == torch.uint8
    assert data.attribute_names == ATTRIBUTES and data.num_attributes == 4 and data.num_classes is None
    assert torch.equal(attributes[:, 0], (classes % 2 == 0).to(torch.uint8))
    assert torch.equal(attributes[:, 1], (classes >= 5).to(torch.uint8))
    for c in range(10):  # thick and slanted_right split every class in halves, and mean what they say
        rows = classes == c
        thick, right = attributes[rows, 2].bool(), attributes[rows, 3].bool()
        assert abs(float(thick.float().mean()) - 0.5) < 0.01 and abs(float(right.float().mean()) - 0.5) < 0.01
        assert ink(images[rows][thick]).min() >= ink(images[rows][~thick]).max()
        assert slant(images[rows][right]).min() >= slant(images[rows][~right]).max()


def test_slant_is_positive_for_a_stroke_leaning_right():
    image = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    for i in range(9):
        image[0, 0, i, 8 - i] = 255  # top right to bottom left: "/"
    assert float(slant(image)) == pytest.approx(1.0)
    assert float(slant(image.flip(-1))) == pytest.approx(-1.0)
    assert mnist_attributes(image.repeat(2, 1, 1, 1), torch.tensor([3, 8])).tolist() == [[0, 0, 0, 0], [1, 1, 0, 0]]


def test_a_run_on_attributes_builds_linear_label_maps_and_draws_the_fakes_rows_from_the_data(rows, tmp_path, capsys):
    trainer = ganforge.Trainer(**run(tmp_path))
    trainer.fit()
    assert trainer.spec.num_attributes == 3 and trainer.spec.num_classes is None and trainer.spec.conditional
    assert isinstance(trainer.gen.label_embedding, torch.nn.Linear) and trainer.gen.label_embedding.in_features == 3
    assert isinstance(trainer.disc.label_embedding, torch.nn.Linear)
    assert "conditional on 3 attributes (a, b, a_again)" in capsys.readouterr().err
    drawn = trainer.step_fn.sample_labels(400)
    assert drawn.dtype == torch.float32 and drawn.shape == (400, 3)
    assert torch.equal(drawn[:, 0], drawn[:, 2])  # rows of the data: its joint distribution, not independent bits
    assert {tuple(r) for r in drawn.tolist()} == {(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 1)}


def test_the_generator_follows_the_attribute_row_it_is_given(rows, tmp_path):
    trainer = ganforge.Trainer(**run(tmp_path))
    trainer.fit()
    z = torch.zeros(2, 4)
    one = trainer.sample(z=z, labels=torch.tensor([[1, 0, 1], [1, 0, 1]]), ema=False)
    other = trainer.sample(z=z, labels=torch.tensor([[0, 1, 0], [1, 0, 1]]), ema=False)
    assert torch.equal(one[1], other[1]) and not torch.allclose(one[0], other[0])
    with pytest.raises(ConfigError, match=r"labels must be attribute rows of shape \(2, 3\) for this run .* got "
                                          r"shape \(2,\)"):
        trainer.sample(z=z, labels=torch.tensor([0, 1]))


def test_the_grid_shows_one_row_per_attribute_combination(rows, tmp_path):
    trainer = ganforge.Trainer(**run(tmp_path)).setup()
    grid = trainer._grid_labels
    assert grid.shape == (32, 3) and torch.equal(grid[::8], torch.tensor([[0., 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 1]]))


def test_dcgan_takes_attributes_by_label_map_and_by_projection(rows, tmp_path):
    for conditional in ("label_map", "projection"):
        trainer = ganforge.Trainer(**run(tmp_path / conditional, gen="dcgan", disc="dcgan", image_size=32,
                                         gen_options={"width": 8}, disc_options={"width": 8,
                                                                                 "conditional": conditional}))
        history = trainer.fit()
        assert len(history.d_loss) == 4 and trainer.gen.label_embedding.in_features == 3


def test_a_model_that_takes_class_indices_only_is_refused_naming_the_attributes(rows, tmp_path):
    with pytest.raises(IncompatibleError, match=r"^The data set 'four-rows' has 3 labels per sample \(attributes: a, "
                                                r"b, a_again\), and the generator 'sngan' embeds one class index "
                                                r"per sample \(takes_attributes is False\)\. Use one that takes"):
        ganforge.Trainer(**run(tmp_path, gen="sngan", gen_options={"width": 8}, image_size=32)).setup()


def test_tricks_that_need_class_labels_are_refused(rows, tmp_path):
    with pytest.raises(IncompatibleError, match=r"^Trick 'auxiliary_classifier' needs one class label per sample, and "
                                                r"the data set 'four-rows' has 3 attributes per sample instead"):
        ganforge.Trainer(**run(tmp_path, tricks=["auxiliary_classifier"])).setup()


def test_attribute_labels_that_are_not_0_or_1_are_refused(register, tmp_path):
    class Signed(FourRows):
        name = "signed-rows"

        def load(self):
            images, labels = super().load()
            return images, labels * 2 - 1  # CelebA's -1/1 coding

    register(datasets=[Signed])
    with pytest.raises(DataError, match=r"attribute labels must be 0 or 1 .* map them first \(CelebA's -1 means 0\)"):
        ganforge.Trainer(**run(tmp_path, data="signed-rows")).setup()


def test_a_resumed_attribute_run_is_bit_exact(rows, tmp_path):
    whole = ganforge.Trainer(**run(tmp_path / "whole", steps=6))
    whole.fit()
    half = ganforge.Trainer(**run(tmp_path / "half", steps=3, checkpoint_every=3))
    half.fit()
    resumed = ganforge.Trainer.resume(tmp_path / "half" / "run", steps=6)
    resumed.fit()
    def logged(trainer):
        return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in trainer.history.records]

    assert logged(resumed) == logged(whole) and len(logged(whole)) == 6
    for a, b in zip(whole.gen.state_dict().values(), resumed.gen.state_dict().values()):
        assert torch.equal(a, b)


def test_the_attribute_step_traces_whole_and_matches_eager(rows, tmp_path, capturable_on_the_cpu):  # noqa: F811
    eager, traced = eager_and_traced(ganforge.Trainer(**run(tmp_path, steps=12, log_every=12)))
    assert torch.allclose(eager, traced, rtol=1e-5, atol=1e-6)


def test_probe_labels_run_through_the_attribute_patterns():
    spec = ModelSpec((2,), 4, None, num_attributes=2)
    assert spec.probe_labels(5).tolist() == [[0, 0], [1, 0], [0, 1], [1, 1], [0, 0]]
    assert ModelSpec((2,), 4, 3).probe_labels(4).tolist() == [0, 1, 2, 0]
    assert ModelSpec((2,), 4).probe_labels(4) is None


def test_the_command_line_trains_on_attributes_and_refuses_class(rows, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", "four-rows", "--conditional", "--steps", "2", "--batch-size", "8",
                 "--latent-dim", "4", "--out", str(out), "--no-progress"]) == 0
    assert main(["sample", str(out), "-n", "8", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").is_file()
    assert main(["sample", str(out), "-n", "8", "--class", "1", "--out", str(tmp_path / "one.png")]) != 0
    assert "--class picks one class, and" in capsys.readouterr().err

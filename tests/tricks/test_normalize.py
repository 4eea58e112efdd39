"""normalize (ganhacks #1): real batches in [-1, 1], checked ranges, warnings for unbounded generators."""

from __future__ import annotations

import warnings

import pytest
import torch

import ganforge
from ganforge.interfaces import Dataset
from ganforge.models.mlp import MLPGenerator
from ganforge.tricks.normalize import Normalize

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


class FiniteUnit(Dataset):
    """A finite float data set in [0, 1]."""

    name = "finite_unit"

    @property
    def sample_shape(self):
        return (2,)

    def load(self):
        return torch.linspace(0, 1, 256).reshape(128, 2), None


class Unbounded(MLPGenerator):
    """An MLP generator without its final tanh (declared)."""

    name = "unbounded_mlp"
    output_bounded = False

    def forward(self, z, labels=None):
        return self.net[:-1](z).view(z.shape[0], *self.spec.data_shape) * 10


class Liar(Unbounded):
    """Unbounded output, yet declared bounded."""

    name = "liar_mlp"
    output_bounded = True


@pytest.fixture(autouse=True)
def _normalize_plugins(register, point_data):
    unit_square = point_data("unit_square", lambda n, device: torch.rand(n, 2, device=device),
                             "Uniform points in [0, 1]^2 (a data set that was never normalised).")
    wide_square = point_data("wide_square", lambda n, device: torch.rand(n, 2, device=device) * 5,
                             "Uniform points in [0, 5]^2.")
    register(datasets=[unit_square, wide_square, FiniteUnit], generators=[Unbounded, Liar])


def real_inputs_to_d(trainer):
    """The discriminator's input in its real-batch pass of one training step."""
    seen = []
    handle = trainer.disc.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    trainer.step_fn([trainer.batches.next()])
    handle.remove()
    return seen[1]  # calls: G phase (fakes), D phase real, D phase fakes


def test_unit_interval_data_is_rescaled_to_symmetric_range(tiny):
    trainer = ganforge.Trainer(data="unit_square", tricks=["normalize"],
                               **SMALL, **{**tiny, "batch_size": 256}).setup()
    assert trainer.tricks[0].rescaled_from == (0.0, 1.0)
    real = real_inputs_to_d(trainer)
    assert real.min() >= -1 and real.max() <= 1
    assert real.min() < -0.9 and real.max() > 0.9  # spread over [-1, 1], not [0, 1]
    # Exactly 2x - 1 of what the data set gives: the step's real_batch transform, and to_model_space.
    raw, _ = trainer.batches.next()
    assert torch.allclose(trainer.step_fn.real_batch(raw), raw * 2 - 1)
    assert torch.allclose(trainer.to_model_space(raw), raw * 2 - 1)


def test_finite_data_is_scanned_and_rescaled(tiny):
    trainer = ganforge.Trainer(data="finite_unit", tricks=["normalize"], **SMALL, **tiny).setup()
    assert trainer.tricks[0].measured == (0.0, 1.0)
    x = trainer.step_fn.real_batch(trainer.batches.next()[0])
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.5
    assert trainer.fit().g_loss


def test_data_already_in_range_is_untouched_and_nothing_warns(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = ganforge.Trainer(data="grid25", tricks=["normalize"], **SMALL, **tiny)
        trainer.fit()
    trick = trainer.tricks[0]
    assert trick.rescaled_from is None
    assert -1 < trick.measured[0] < -0.7 and 0.7 < trick.measured[1] < 1  # modes at +-0.8
    x, _ = trainer.batches.next()
    assert torch.equal(trainer.step_fn.real_batch(x), x)


def test_out_of_range_data_is_an_error_naming_the_fix(tiny):
    with pytest.raises(ganforge.DataError, match=r"'wide_square' has values in \[.*\].*normalize.source_range"):
        ganforge.Trainer(data="wide_square", tricks=["normalize"], **SMALL, **tiny).setup()
    trainer = ganforge.Trainer(data="wide_square", tricks=["normalize"],
                               trick_options={"normalize": {"source_range": (0, 5)}}, **SMALL, **tiny).setup()
    x = trainer.step_fn.real_batch(trainer.batches.next()[0])
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.5
    with pytest.raises(ganforge.DataError, match="outside normalize.source_range"):
        ganforge.Trainer(data="wide_square", tricks=["normalize"],
                         trick_options={"normalize": {"source_range": (0, 2)}}, **SMALL, **tiny).setup()


def test_unbounded_generator_gets_a_warning_naming_it_and_the_fix(tiny):
    with pytest.warns(UserWarning, match="Generator 'unbounded_mlp' declares output_bounded=False.*add_tanh=true"):
        ganforge.Trainer(data="grid25", gen="unbounded_mlp", tricks=["normalize"], **SMALL, **tiny).setup()


def test_add_tanh_bounds_the_output_without_a_warning(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = ganforge.Trainer(data="grid25", gen="unbounded_mlp", tricks=["normalize"],
                                   trick_options={"normalize": {"add_tanh": True}}, **SMALL, **tiny).setup()
    out = trainer.sample(256)
    assert out.abs().max() <= 1
    plain = ganforge.Trainer(data="grid25", gen="unbounded_mlp", **SMALL, **tiny).setup()
    assert plain.sample(256).abs().max() > 1  # the model itself is unbounded


def test_generator_that_declares_bounds_but_exceeds_them_is_warned_about(tiny):
    with pytest.warns(UserWarning, match="Generator 'liar_mlp' declares a bounded output but produced values"):
        ganforge.Trainer(data="grid25", gen="liar_mlp", tricks=["normalize"], **SMALL, **tiny).setup()


@pytest.mark.parametrize("options, message", [
    ({"source_range": (1, 0)}, "'source_range' must be None or a pair with low <= high"),
    ({"source_range": (1, 1)}, "'source_range' must have low < high"),
    ({"add_tanh": "yes"}, "'add_tanh' must be true or false"),
    ({"probe": 0}, "'probe' must be an integer >= 1"),
])
def test_bad_options(options, message):
    with pytest.raises(ganforge.ConfigError, match=message):
        Normalize(**options)

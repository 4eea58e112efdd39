"""cyclegan: a second generator and discriminator trained with the run's, cycle error that falls, image pools of
detached fakes, exact resume, and the step traced whole."""

from __future__ import annotations

import pytest
import torch
from test_capture import capturable_on_the_cpu, eager_and_traced, settings  # noqa: F401

import ganforge
from ganforge.data.translation import MNISTDigits2Thick
from ganforge.errors import ConfigError, IncompatibleError
from ganforge.tricks.cyclegan import ImagePool

ROWS = 512


class FewDigits2Thick(MNISTDigits2Thick):
    """``mnist-digits2thick`` cut to its first 512 rows."""

    name = "few-digits2thick"

    def load(self):
        rows, labels = super().load()
        return rows[:ROWS], labels[:ROWS]


class GreyToColour(ganforge.Dataset):
    """64 unpaired rows: a grey 8x8 image (domain A, 1 channel) beside a colour one (domain B, 3 channels)."""

    name = "grey_to_colour"

    @property
    def sample_shape(self):
        return (3, 8, 8)

    @property
    def condition_shape(self):
        return (1, 8, 8)

    @property
    def stored_shape(self):
        return (4, 8, 8)

    def split_condition(self, x):
        return x[:, 1:], x[:, :1]

    def load(self):
        return torch.randint(0, 256, (64, 4, 8, 8), generator=torch.Generator().manual_seed(0),
                             dtype=torch.uint8), None


def small(tmp_path, data="few-digits2thick", **more):
    run = dict(data=data, split="test", gen="unet", disc="patchgan", gen_options={"width": 4},
               disc_options={"width": 4}, tricks=["cyclegan"], trick_options={"cyclegan": {"pool_size": 16}},
               loss="lsgan", latent_dim=1, batch_size=4, steps=4, log_every=1, sample_every=0, checkpoint_every=0,
               progress=False, device="cpu", out_dir=str(tmp_path / "run"))
    if data == "few-digits2thick":
        run["data_options"] = {"download": False}
    run.update(more)
    return run


@pytest.fixture
def thick(register, mnist_root):
    register(datasets=[FewDigits2Thick])
    return str(mnist_root)


def weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def moved(before, module):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if v.is_floating_point())


def test_both_generators_and_both_discriminators_train(thick, tmp_path, capsys):
    trainer = ganforge.Trainer(**small(tmp_path, data_root=thick, progress=True))
    trainer.setup()
    trick = trainer.tricks[0]
    g_params = {id(p) for group in trainer.opt_g.param_groups for p in group["params"]}
    d_params = {id(p) for group in trainer.opt_d.param_groups for p in group["params"]}
    assert all(id(p) in g_params for p in trick.g_ba.parameters())
    assert all(id(p) in d_params for p in trick.d_a.parameters())
    # A fresh pair, not copies of the run's models' weights.
    assert not torch.equal(trick.g_ba.encoder[0][0].weight, trainer.gen.encoder[0][0].weight)
    start = {name: weights(m) for name, m in
             (("g_ab", trainer.gen), ("g_ba", trick.g_ba), ("d_b", trainer.disc), ("d_a", trick.d_a))}
    trainer.fit()
    for name, module in (("g_ab", trainer.gen), ("g_ba", trick.g_ba), ("d_b", trainer.disc), ("d_a", trick.d_a)):
        assert moved(start[name], module), name
    err = capsys.readouterr().err
    assert "networks: cyclegan.g_ba (joined to G" in err and "cyclegan.d_a (joined to D" in err
    records = [r for r in trainer.history.records if "g_loss" in r]
    assert all(r["d_a_loss"] > 0 and r["cycle"] > 0 for r in records)
    assert trainer.sample(3).shape == (3, 1, 28, 28)


def test_the_second_pair_is_built_for_the_swapped_domains(register, tmp_path):
    """A -> B from 1 to 3 channels: G_BA maps 3 channels to 1, D_A judges 1-channel images; no identity term."""
    register(datasets=[GreyToColour])
    trainer = ganforge.Trainer(**small(tmp_path, data="grey_to_colour", steps=2))
    trainer.fit()
    trick = trainer.tricks[0]
    assert trick.g_ba.spec.data_shape == (1, 8, 8) and trick.g_ba.spec.condition_shape == (3, 8, 8)
    assert trick.g_ba(torch.zeros(2, 1), None, condition=torch.zeros(2, 3, 8, 8)).shape == (2, 1, 8, 8)
    assert trick.d_a.bodies[0][0].in_channels == 1 and trainer.disc.bodies[0][0].in_channels == 3
    assert not trick.same_shape
    assert trainer.sample(2).shape == (2, 3, 8, 8)


@pytest.mark.slow
def test_the_cycle_error_falls(thick, tmp_path):
    """60 steps of batch 8, Adam 1e-3: the cycle error of the last 5 steps is under 60 % of the first 5's (about
    0.41 of it measured: 0.91 -> 0.37)."""
    adam = {"lr": 1e-3, "betas": (0.5, 0.999)}
    trainer = ganforge.Trainer(**small(tmp_path, data_root=thick, steps=60, log_every=1, batch_size=8,
                                       g_optim=adam, d_optim=adam))
    trainer.fit()
    cycle = [r["cycle"] for r in trainer.history.records if "cycle" in r]
    first, last = sum(cycle[:5]) / 5, sum(cycle[-5:]) / 5
    assert last < 0.6 * first, (first, last)


def test_the_pools_hold_detached_fakes(thick, tmp_path):
    trainer = ganforge.Trainer(**small(tmp_path, data_root=thick, steps=6))
    trainer.fit()
    trick = trainer.tricks[0]
    for pool in (trick.pool_b, trick.pool_a):
        assert int(pool.filled) == 16  # 6 steps of 4 fakes, capped at the pool's size
        assert not pool.buffer.requires_grad and pool.buffer.grad_fn is None
        assert pool.buffer.abs().max() <= 1 and torch.all(pool.buffer.flatten(1).abs().sum(1) > 0)
        pixels = (pool.buffer + 1) * 127.5  # generated, not stored images: off the uint8 grid
        assert (pixels - pixels.round()).abs().max() > 1e-3


def test_the_image_pool_fills_then_swaps_half_on_average():
    torch.manual_seed(0)
    pool = ImagePool(8)
    pool.allocate(4, (1,), torch.device("cpu"))
    first, second = torch.arange(4.0)[:, None], torch.arange(4.0, 8)[:, None]
    assert torch.equal(pool(first), first) and torch.equal(pool(second), second)  # filling: shown as they are
    assert int(pool.filled) == 8 and sorted(pool.buffer.flatten().tolist()) == list(range(8))
    swapped = 0
    for k in range(50):
        before = set(pool.buffer.flatten().tolist())
        new = torch.arange(100.0 + 4 * k, 104.0 + 4 * k)[:, None]
        out = pool(new).flatten().tolist()
        after = pool.buffer.flatten().tolist()
        for value, fresh in zip(out, new.flatten().tolist()):
            assert value == fresh or value in before  # either the new fake or one the pool held
            swapped += value != fresh
        # What left the pool was shown; what was shown instead of a new fake went in.
        assert sorted(after) == sorted((before - set(out)) | {v for v in new.flatten().tolist() if v not in out})
    assert 70 < swapped < 130  # 200 fakes, each swapped with probability 1/2
    with pytest.raises(ConfigError, match="pool_size >= 10"):
        ImagePool(8).allocate(5, (1,), torch.device("cpu"))


def test_a_resumed_run_is_bit_exact(thick, tmp_path):
    whole = ganforge.Trainer(**small(tmp_path / "whole", data_root=thick, steps=6, checkpoint_every=3))
    whole.fit()
    half = ganforge.Trainer(**small(tmp_path / "half", data_root=thick, steps=3, checkpoint_every=3))
    half.fit()
    resumed = ganforge.Trainer.resume(tmp_path / "half" / "run", steps=6)
    resumed.fit()

    def logged(trainer):
        return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in trainer.history.records]

    assert logged(resumed) == logged(whole) and len(logged(whole)) == 6
    for a, b in ((whole.gen, resumed.gen), (whole.disc, resumed.disc), (whole.tricks[0].g_ba, resumed.tricks[0].g_ba),
                 (whole.tricks[0].d_a, resumed.tricks[0].d_a)):
        for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(va, vb), key
    wa, wb = whole.tricks[0].state_dict(), resumed.tricks[0].state_dict()
    for pool in ("pool_a", "pool_b"):
        assert torch.equal(wa[pool]["buffer"], wb[pool]["buffer"]) and torch.equal(wa[pool]["filled"], wb[pool]["filled"])


def test_cyclegan_refuses_runs_it_cannot_play(thick, tmp_path):
    with pytest.raises(IncompatibleError, match="offers none: use a data set with a condition"):
        ganforge.Trainer(**small(tmp_path / "a", data="grid25", split="train", gen="mlp", disc="mlp",
                                 gen_options={}, disc_options={})).setup()
    with pytest.raises(IncompatibleError, match="needs a generator that translates the condition; 'mlp'"):
        ganforge.Trainer(**small(tmp_path / "b", data_root=thick, gen="mlp", gen_options={})).setup()
    with pytest.raises(IncompatibleError, match="cyclegan.*Drop conditional=True"):
        ganforge.Trainer(**small(tmp_path / "c", data_root=thick, conditional=True)).setup()
    with pytest.raises(ConfigError, match=r"image pool \(6 fakes\).*pool_size >= 8"):
        ganforge.Trainer(**small(tmp_path / "d", data_root=thick,
                                 trick_options={"cyclegan": {"pool_size": 6}})).setup()
    with pytest.raises(IncompatibleError, match="cannot be combined with 'pix2pix'"):
        ganforge.Trainer(**small(tmp_path / "e", data_root=thick, tricks=["cyclegan", "pix2pix"])).setup()


@pytest.mark.slow
@pytest.mark.parametrize("pool_size", [0, 32])
def test_cyclegan_traces_whole_and_matches_eager(pool_size, register, tmp_path):
    """Both pairs, the cycle and pool updates, R1 on D_B, in one traced step (1 -> 3 channels: no identity term)."""
    register(datasets=[GreyToColour])
    run = settings(tmp_path, ["cyclegan"], data="grey_to_colour", regularizers=["r1"])
    run.update(gen="unet", disc="patchgan", gen_options={"width": 4}, disc_options={"width": 4}, latent_dim=1,
               batch_size=8, loss="lsgan", trick_options={"cyclegan": {"pool_size": pool_size}})
    trainer = ganforge.Trainer(**run)
    eager, traced = eager_and_traced(trainer)
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"


@pytest.mark.slow
def test_cyclegan_with_the_identity_term_traces_whole(register, tmp_path):
    register(datasets=[GreyToColour])

    class GreyToGrey(GreyToColour):
        name = "grey_to_grey"

        @property
        def sample_shape(self):
            return (1, 8, 8)

        @property
        def stored_shape(self):
            return (2, 8, 8)

        def load(self):
            rows, labels = super().load()
            return rows[:, :2].contiguous(), labels

    register(datasets=[GreyToGrey])
    run = settings(tmp_path, ["cyclegan"], data="grey_to_grey")
    run.update(gen="unet", disc="patchgan", gen_options={"width": 4}, disc_options={"width": 4}, latent_dim=1,
               batch_size=8, trick_options={"cyclegan": {"pool_size": 16}})
    trainer = ganforge.Trainer(**run)
    eager, traced = eager_and_traced(trainer)
    assert trainer.tricks[0].same_shape
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"

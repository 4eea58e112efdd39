"""The step beyond G(z) against data: conditions from the data, G's inputs in the context, networks owned
by tricks, what D compares, spatial logits, generator-only steps, real labels with an unconditional G.

Toy plugins on 2-D points keep every run tiny; each test checks an effect that the old step could not
produce (a generator call without its condition raises, weights that must or must not move, ...).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import ganforge
from ganforge.errors import IncompatibleError
from ganforge.interfaces import Network


class PairedPoints(ganforge.Dataset):
    """256 stored rows ``(a, a / 2)``: the condition ``a`` and the sample ``a / 2`` (2-D points each)."""

    name = "paired_points"

    @property
    def sample_shape(self):
        return (2,)

    @property
    def condition_shape(self):
        return (2,)

    @property
    def stored_shape(self):
        return (4,)

    def load(self):
        a = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))
        return torch.cat([a, a / 2], dim=1), None

    def split_condition(self, x):
        return x[:, 2:], x[:, :2]


class Translator(ganforge.Generator):
    """Maps (condition, z) to a point; a call without the condition is an error (so every call is checked)."""

    name = "translator"
    takes_condition = True
    output_bounded = False

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        self.net = nn.Sequential(nn.Linear(spec.condition_shape[0] + spec.latent_dim, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, z, labels=None, condition=None):
        if condition is None or condition.shape != (z.shape[0], *self.spec.condition_shape):
            raise AssertionError(f"called without its condition (got {None if condition is None else condition.shape})")
        return self.net(torch.cat([condition, z], dim=1))


class Judge(ganforge.Discriminator):
    """A discriminator of (sample, condition) pairs, pix2pix-style; it too refuses a call without the condition."""

    name = "judge"
    takes_condition = True

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        self.body = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2))
        self.head = nn.Linear(16, 1)

    def features(self, x, labels=None, condition=None):
        if condition is None:
            raise AssertionError("the discriminator was called without the condition")
        return self.body(torch.cat([x, condition], dim=1))

    def forward(self, x, labels=None, condition=None):
        return self.head(self.features(x, labels, condition)).squeeze(-1)


def tiny(tmp_path, **more):
    settings = dict(batch_size=16, latent_dim=3, steps=6, log_every=2, sample_every=0, checkpoint_every=0,
                    progress=False, device="cpu", out_dir=str(tmp_path / "run"), gen_options={"hidden": (16,)},
                    disc_options={"hidden": (16,)})
    settings.update(more)
    return settings


@pytest.fixture
def paired(register):
    register(datasets=[PairedPoints], generators=[Translator], discriminators=[Judge])


# -- 1. generators conditioned on the batch -------------------------------------------------------------


class TwoDSteps(ganforge.Trick):
    name = "two_d_steps_test"
    d_steps = 2


def test_the_condition_reaches_every_generator_and_discriminator_call(paired, register, tmp_path):
    """G's update, extra D updates, a lazy penalty, an extra D update a trick asks for, the EMA, grids, sample()."""
    register(tricks=[TwoDSteps])
    trainer = ganforge.Trainer(**tiny(tmp_path, data="paired_points", gen="translator", disc="judge",
                                      gen_options={}, disc_options={}, tricks=["two_d_steps_test"],
                                      regularizers=["r1"], regularizer_options={"r1": {"every": 2}},
                                      ema_decay=0.9, sample_every=3))
    trainer.fit()  # Translator and Judge raise on any call without the condition
    trainer.update_discriminator()
    out = trainer.sample(40)
    assert out.shape == (40, 2)  # the data's own shape, not a packed pair
    given = torch.full((5, 2), 0.5)
    assert trainer.sample(condition=given).shape == (5, 2)
    assert trainer.held_out_conditions(8).shape == (8, 2)


def test_a_generator_that_translates_needs_a_data_set_with_a_condition(paired, tmp_path):
    with pytest.raises(IncompatibleError, match="offers none"):
        ganforge.Trainer(**tiny(tmp_path, data="grid25", gen="translator", gen_options={})).setup()


def test_stored_rows_of_the_wrong_shape_name_the_stored_shape(register, tmp_path):
    class Broken(PairedPoints):
        name = "broken_pairs"

        @property
        def stored_shape(self):
            return (6,)

    register(datasets=[Broken], generators=[Translator])
    with pytest.raises(ganforge.DataError, match=r"stored rows \(sample and condition\) of shape \(6,\)"):
        ganforge.Trainer(**tiny(tmp_path, data="broken_pairs", gen="translator", gen_options={})).setup()


# -- 2. G's inputs in the context ---------------------------------------------------------------------------


class CodeSpy(ganforge.Trick):
    """Puts a code into z (as InfoGAN does) and records what the contexts show."""

    name = "code_spy"
    capturable = False

    def __init__(self, **options):
        super().__init__(**options)
        self.seen = []

    def latent(self, z):
        return torch.cat([torch.full_like(z[:, :1], 3.0), z[:, 1:]], dim=1)

    def extra_loss(self, net, ctx):
        self.seen.append((ctx.phase, None if ctx.z is None else ctx.z.detach().clone(), ctx.real.detach().clone(),
                          None if ctx.condition is None else ctx.condition.detach().clone()))
        return None


def test_losses_and_tricks_see_the_latents_and_conditions_that_made_the_fakes(paired, register, tmp_path):
    register(tricks=[CodeSpy, TwoDSteps])
    trainer = ganforge.Trainer(**tiny(tmp_path, data="paired_points", gen="translator", gen_options={},
                                      tricks=["code_spy", "two_d_steps_test"], steps=3))
    trainer.fit()
    trainer.update_discriminator()
    seen = trainer.tricks[0].seen
    assert [phase for phase, *_ in seen].count("disc") == 3 * 2 + 1  # every D update, extra ones included
    assert {phase for phase, *_ in seen} == {"gen", "disc"}
    for phase, z, real, condition in seen:
        assert z is not None and torch.all(z[:, 0] == 3.0)  # after the tricks' latent transform
        assert torch.allclose(real, condition / 2)  # the condition of the very rows of the real batch


# -- 3. networks owned by plugins --------------------------------------------------------------------------


class Networks(ganforge.Trick):
    """A Q head joined to G (its loss recovers z from the fakes) and a critic with its own optimizer."""

    name = "networks_test"

    def networks(self, spec):
        with torch.random.fork_rng():  # building them moves no training RNG: the runs compared stay aligned
            torch.manual_seed(7)
            self.q = nn.Linear(2, spec.latent_dim)
            self.critic = nn.Linear(2, 1)
        return {"q": Network(self.q, phase="gen"),
                "critic": Network(self.critic, phase="gen", optimizer="own", optim={"lr": 1e-2})}

    def network_loss(self, name, ctx):
        if name == "q":
            return ((self.q(ctx.fake) - ctx.z) ** 2).mean()
        return (self.critic(ctx.fake) ** 2).mean()  # attached to G's graph: must still not train G


class CriticOnly(Networks):
    name = "critic_only_test"

    def networks(self, spec):
        nets = super().networks(spec)
        return {"critic": nets["critic"]}


def _weights(module):
    return [p.detach().clone() for p in module.parameters()]


def test_an_own_network_trains_on_its_loss_alone_and_never_moves_g(register, tmp_path):
    register(tricks=[CriticOnly])
    plain = ganforge.Trainer(**tiny(tmp_path / "a", data="grid25"))
    plain.fit()
    with_critic = ganforge.Trainer(**tiny(tmp_path / "b", data="grid25", tricks=["critic_only_test"]))
    start = _weights(with_critic.setup().tricks[0].critic)
    with_critic.fit()
    for a, b in zip(plain.gen.parameters(), with_critic.gen.parameters()):
        assert torch.equal(a, b)  # the critic's loss, attached to G's fakes, reached no weight of G
    assert not all(torch.equal(a, b) for a, b in zip(start, with_critic.tricks[0].critic.parameters()))


def test_a_joined_network_steps_with_g_and_its_loss_trains_both(register, tmp_path, capsys):
    register(tricks=[Networks])
    trainer = ganforge.Trainer(**tiny(tmp_path, data="grid25", tricks=["networks_test"]))
    trainer.setup()
    q = trainer.tricks[0].q
    group_params = {id(p) for g in trainer.opt_g.param_groups for p in g["params"]}
    assert all(id(p) in group_params for p in q.parameters())
    assert not any(id(p) in group_params for p in trainer.tricks[0].critic.parameters())
    start = _weights(q)
    trainer.fit()
    assert not all(torch.equal(a, b) for a, b in zip(start, q.parameters()))
    first_line = capsys.readouterr().err.splitlines()[0]
    assert "networks: networks_test.q (joined to G, 9 parameters), networks_test.critic (own optimizer" in first_line


def test_networks_are_checkpointed_and_resume_exactly(register, tmp_path):
    register(tricks=[Networks])
    whole = ganforge.Trainer(**tiny(tmp_path / "whole", data="grid25", tricks=["networks_test"], steps=6))
    whole.fit()
    half = ganforge.Trainer(**tiny(tmp_path / "half", data="grid25", tricks=["networks_test"], steps=3))
    half.fit()
    state = torch.load(next((tmp_path / "half" / "run" / "checkpoints").glob("step_*.pt")), weights_only=True)
    assert set(state["networks"]) == {"networks_test.q", "networks_test.critic"}
    assert set(state["network_optimizers"]) == {"networks_test.critic"}
    resumed = ganforge.Trainer.resume(tmp_path / "half" / "run", steps=6)
    resumed.fit()
    assert resumed.history.g_loss == whole.history.g_loss
    for name in ("q", "critic"):
        for a, b in zip(getattr(whole.tricks[0], name).parameters(), getattr(resumed.tricks[0], name).parameters()):
            assert torch.equal(a, b), name
    opt_a, opt_b = whole.networks["networks_test.critic"].opt, resumed.networks["networks_test.critic"].opt
    for pa, pb in zip(opt_a.param_groups[0]["params"], opt_b.param_groups[0]["params"]):
        assert torch.equal(opt_a.state[pa]["exp_avg"], opt_b.state[pb]["exp_avg"])


def test_a_network_declared_wrongly_is_named(register, tmp_path):
    class Wrong(ganforge.Trick):
        name = "wrong_networks_test"

        def networks(self, spec):
            return {"enc": nn.Linear(2, 2)}

    register(tricks=[Wrong])
    with pytest.raises(IncompatibleError, match=r"'wrong_networks_test'.networks\(\) returned Linear for 'enc'"):
        ganforge.Trainer(**tiny(tmp_path, data="grid25", tricks=["wrong_networks_test"])).setup()


# -- 4. what D compares -------------------------------------------------------------------------------------


class LatentGame(ganforge.Trick):
    """An adversarial autoencoder's game: D compares prior codes with an encoder's codes of the real batch."""

    name = "latent_game_test"

    def adjust_spec(self, spec):
        import attrs

        return attrs.evolve(spec, disc_input_shape=(spec.latent_dim,))

    def networks(self, spec):
        self.enc = nn.Linear(2, spec.latent_dim)
        return {"enc": Network(self.enc, phase="gen")}

    def compared(self, phase, real, fake, ctx):
        return torch.randn_like(ctx.z), self.enc(ctx.data)

    def network_loss(self, name, ctx):
        assert ctx.real.shape[1:] == (4,) and ctx.data.shape[1:] == (2,)  # D's sides are codes; data is data
        return ((ctx.generate(self.enc(ctx.data)) - ctx.data) ** 2).mean()  # the reconstruction


def test_a_game_other_than_data_against_g_runs_through_the_adversarial_path(register, tmp_path):
    register(tricks=[LatentGame])
    trainer = ganforge.Trainer(**tiny(tmp_path, data="grid25", tricks=["latent_game_test"], regularizers=["r1"],
                                      latent_dim=4))
    trainer.setup()
    assert trainer.spec.disc_input_shape == (4,)
    start = _weights(trainer.tricks[0].enc)
    trainer.fit()
    assert all(torch.isfinite(torch.tensor(trainer.history.d_loss)))
    assert not all(torch.equal(a, b) for a, b in zip(start, trainer.tricks[0].enc.parameters()))


# -- 5. spatial and several logits -------------------------------------------------------------------------


class Patches(ganforge.Discriminator):
    """Three logits per sample, as (B, 3): a stand-in for a PatchGAN's (B, h, w) or several heads."""

    name = "patches_test"

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        self.body = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2))
        self.head = nn.Linear(16, 3)

    def features(self, x, labels=None):
        return self.body(x)

    def forward(self, x, labels=None):
        return self.head(self.features(x))


LOSSES = [i.name for i in ganforge.list_plugins("loss")]


@pytest.mark.parametrize("loss", LOSSES)
def test_every_builtin_loss_takes_several_logits_per_sample(loss, register, tmp_path):
    register(discriminators=[Patches])
    tricks = ["soft_labels"] if ganforge.get_plugin("loss", loss).uses_targets else []
    trainer = ganforge.Trainer(**tiny(tmp_path, data="grid25", disc="patches_test", disc_options={}, loss=loss,
                                      tricks=tricks, regularizers=["r1", "r2"], steps=3))
    trainer.fit()
    assert all(torch.isfinite(torch.tensor(trainer.history.g_loss + trainer.history.d_loss)))


# -- 6. smaller frictions ---------------------------------------------------------------------------------


class WarmUpG(ganforge.Trick):
    name = "warm_up_g_test"

    def d_steps_at(self, step):
        return 0 if step < 3 else None


def test_d_steps_at_zero_makes_generator_only_steps(register, tmp_path):
    register(tricks=[WarmUpG])
    trainer = ganforge.Trainer(**tiny(tmp_path, data="grid25", tricks=["warm_up_g_test"], steps=3, log_every=1))
    trainer.setup()
    d0, g0 = _weights(trainer.disc), _weights(trainer.gen)
    trainer.fit()
    assert all(torch.equal(a, b) for a, b in zip(d0, trainer.disc.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g0, trainer.gen.parameters()))
    assert trainer.history.d_loss == [0.0, 0.0, 0.0]
    more = ganforge.Trainer.resume(tmp_path / "run", steps=5)
    more.fit()
    assert not all(torch.equal(a, b) for a, b in zip(d0, more.disc.parameters()))


class RealLabels(ganforge.Trick):
    name = "real_labels_test"
    requires_real_labels = True
    capturable = False

    def __init__(self, **options):
        super().__init__(**options)
        self.labels, self.classes = [], None

    def modify_models(self, gen, disc):
        self.classes = gen.spec.data_classes
        return gen, disc

    def observe(self, ctx):
        if ctx.phase == "disc":
            self.labels.append(ctx.real_labels)


def test_real_labels_reach_d_with_an_unconditional_generator(register, paired, tmp_path):
    register(tricks=[RealLabels])
    trainer = ganforge.Trainer(**tiny(tmp_path, data="grid25", tricks=["real_labels_test"], steps=2))
    trainer.fit()
    trick = trainer.tricks[0]
    assert trainer.spec.num_classes is None and trick.classes == 25  # the class count, seen by modify_models
    assert all(y is not None and y.shape == (16,) for y in trick.labels)
    with pytest.raises(IncompatibleError, match="needs the real samples' class labels.*'paired_points' has none"):
        ganforge.Trainer(**tiny(tmp_path / "b", data="paired_points", tricks=["real_labels_test"])).setup()


def test_a_loss_gets_a_setup_hook_and_logs_its_own_values(register, tmp_path):
    bce = ganforge.get_plugin("loss", "bce")

    class SetUp(bce):
        name = "setup_loss_test"
        calls = []

        def setup(self, ctx):
            self.calls.append((ctx.device.type, ctx.gen is not None))

        def on_log(self, ctx, step, values):
            return {"loss_note": float(step)}

    register(losses=[SetUp])
    trainer = ganforge.Trainer(**tiny(tmp_path, data="grid25", loss="setup_loss_test", steps=4, log_every=2))
    trainer.fit()
    assert SetUp.calls == [("cpu", True)]
    assert [r["loss_note"] for r in trainer.history.records] == [2.0, 4.0]  # a loss logs its own values too


def test_conditioned_runs_survive_a_checkpoint_round_trip(paired, tmp_path):
    whole = ganforge.Trainer(**tiny(tmp_path / "w", data="paired_points", gen="translator", disc="judge",
                                    gen_options={}, disc_options={}, steps=4))
    whole.fit()
    half = ganforge.Trainer(**tiny(tmp_path / "h", data="paired_points", gen="translator", disc="judge",
                                   gen_options={}, disc_options={}, steps=2))
    half.fit()
    resumed = ganforge.Trainer.resume(tmp_path / "h" / "run", steps=4)
    resumed.fit()
    assert resumed.history.g_loss == whole.history.g_loss
    assert copy.deepcopy(resumed.sample(condition=torch.ones(3, 2))).shape == (3, 2)


# -- translating a user's own images ------------------------------------------------------------------------


class PixelTranslator(ganforge.Generator):
    name = "pixel_translator_test"
    takes_condition = True

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        self.conv = nn.Conv2d(spec.condition_shape[0], spec.data_shape[0], 3, padding=1)

    def forward(self, z, labels=None, condition=None):
        return torch.tanh(self.conv(condition))


@pytest.fixture
def image_pairs(register, pair_data, tmp_path):
    register(generators=[PixelTranslator])
    trainer = ganforge.Trainer(**tiny(tmp_path, data=pair_data, gen="pixel_translator_test",
                                      gen_options={}, disc="patchgan", disc_options={"width": 4}, steps=2, latent_dim=0))
    trainer.fit()
    return trainer


def test_sample_from_translates_a_users_images_one_png_each(image_pairs, tmp_path):
    from PIL import Image

    from ganforge.cli import main

    inputs = tmp_path / "mine"
    (inputs / "sub").mkdir(parents=True)
    Image.new("L", (16, 16), 40).save(inputs / "a.png")  # resized to the condition's 8 x 8, as training images are
    Image.new("RGB", (8, 8), (200, 10, 10)).save(inputs / "sub" / "b.png")  # colour: to the condition's one channel
    out = tmp_path / "translated"
    assert main(["sample", str(image_pairs.run_dir), "--from", str(inputs), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    with Image.open(out / "a.png") as picture:
        assert picture.size == (8, 8)  # the data's own shape, no grid padding
    # The translation of a flat grey input is what the generator makes of it, pixel for pixel.
    expected = image_pairs.sample(condition=torch.full((1, 1, 8, 8), 40 / 127.5 - 1))
    with Image.open(out / "a.png") as picture:
        got = torch.tensor(list(picture.convert("L").getdata()), dtype=torch.float32).view(8, 8)
    assert torch.allclose(got, ((expected[0, 0] + 1) / 2).clamp(0, 1) * 255, atol=1.0)


def test_sample_from_refuses_a_run_without_a_condition_and_inputs_without_images(image_pairs, tmp_path, capsys):
    from ganforge.cli import main

    plain = ganforge.Trainer(**tiny(tmp_path / "plain", data="grid25", steps=1))
    plain.fit()
    (tmp_path / "empty").mkdir()
    assert main(["sample", str(plain.run_dir), "--from", str(tmp_path / "empty")]) == 2
    assert "--from needs an image-to-image run" in capsys.readouterr().err
    assert main(["sample", str(image_pairs.run_dir), "--from", str(tmp_path / "empty")]) != 0
    assert "no image files there" in capsys.readouterr().err


def test_interpolate_and_evaluation_translate_held_out_conditions(image_pairs):
    from ganforge.interpolate import interpolate
    from ganforge.metrics import generate

    path = interpolate(image_pairs, torch.zeros(0), torch.zeros(0), steps=3)
    assert path.shape == (3, 1, 8, 8)
    fakes = generate(image_pairs, 10)
    held = image_pairs.held_out_conditions(10)
    assert torch.allclose(fakes, image_pairs.sample(condition=held))  # evaluation translates them in order


def test_latent_dim_zero_is_for_generators_that_translate(tmp_path):
    with pytest.raises(ganforge.ConfigError, match="latent_dim=0 leaves the generator 'mlp' nothing to generate from"):
        ganforge.Trainer(**tiny(tmp_path, data="grid25", latent_dim=0)).setup()

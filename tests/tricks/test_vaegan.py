"""vaegan (ganhacks #7, Larsen et al. 2016): an encoder joined to G, G as decoder, D's features as the similarity."""

from __future__ import annotations

import pytest
import torch
from test_capture import capturable_on_the_cpu, eager_and_traced, settings  # noqa: F401  (the fixture applies)
from torch import nn

import ganforge
from ganforge.errors import ConfigError, IncompatibleError
from ganforge.interfaces import LossContext, ModelSpec
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.tricks.vaegan import VAEGAN, reconstruct, reconstruction_error


def run(tmp_path, data="grid25", steps=6, seed=0, **more):
    base = dict(data=data, tricks=["vaegan"], steps=steps, batch_size=32, log_every=3, sample_every=0,
                checkpoint_every=0, progress=False, device="cpu", seed=seed, out_dir=str(tmp_path / "run"),
                latent_dim=8, gen_options={"hidden": (64,)}, disc_options={"hidden": (64,)})
    base.update(more)
    return ganforge.Trainer(**base)


def weights(module):
    return [p.detach().clone() for p in module.parameters()]


def test_the_encoder_is_joined_to_the_generators_optimizer(tmp_path, capsys):
    trainer = run(tmp_path).setup()
    enc = trainer.tricks[0].enc
    assert enc.net[1].in_features == 2 and enc.net[-1].out_features == 2 * 8  # mu and logvar of z
    in_g = {id(p) for g in trainer.opt_g.param_groups for p in g["params"]}
    in_d = {id(p) for g in trainer.opt_d.param_groups for p in g["params"]}
    assert all(id(p) in in_g and id(p) not in in_d for p in enc.parameters())
    assert trainer.tricks[0].disc is trainer.disc  # the module whose features are compared
    start = weights(enc)
    trainer.fit()
    assert not all(torch.equal(a, b) for a, b in zip(start, enc.parameters()))
    assert "networks: vaegan.enc (joined to G," in capsys.readouterr().err.splitlines()[0]
    assert {"vae_kl", "vae_feature"} <= set(trainer.history.records[-1])


@pytest.mark.slow
def test_reconstructions_improve_on_the_untrained_ones(tmp_path, image_data):
    """150 steps on the tiny images: reconstruction MSE 0.44 untrained, 0.17-0.19 trained (seeds 0-2)."""
    trainer = run(tmp_path, data=image_data, steps=150, log_every=50).setup()
    images = trainer.dataset.load()[0]
    before = reconstruction_error(trainer, images)
    trainer.fit()
    after = reconstruction_error(trainer, images)
    assert after < 0.6 * before
    recon = reconstruct(trainer, images[:5])
    assert recon.shape == (5, 3, 8, 8) and recon.dtype == torch.float32
    features = [r["vae_feature"] for r in trainer.history.records if "vae_feature" in r]
    assert features[-1] < features[0]


def test_the_encoders_loss_is_kl_plus_feature_and_pixel_reconstruction():
    spec = ModelSpec((2,), 3)
    trick = VAEGAN(kl_weight=0.5, feature_weight=2.0, pixel_weight=0.25, hidden=8)
    gen, disc = trick.modify_models(MLPGenerator(spec, hidden=(8,)), MLPDiscriminator(spec, hidden=(6,)))
    trick.networks(spec)
    x = torch.randn(7, 2)
    torch.manual_seed(1)
    term = trick.network_loss("enc", LossContext(x, None, x, None, phase="gen", data=x,
                                                 generate=lambda z, labels=None, condition=None: gen(z)))
    torch.manual_seed(1)  # the same reparameterisation noise
    mu, logvar = trick.enc(x)
    recon = gen(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
    kl = -0.5 * torch.mean(1 + logvar - mu**2 - logvar.exp())
    feature = ((disc.features(recon) - disc.features(x)) ** 2).mean()
    want = 0.5 * kl + 2.0 * feature + 0.25 * (recon - x).abs().mean()
    assert float(term.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    assert torch.allclose(trick.last, torch.stack([kl, feature]).detach())


def test_d_also_learns_from_the_reconstructions_and_g_is_untouched_by_it(tmp_path):
    """One step: G's update comes first, so G is the same with and without the option; D's update differs."""
    on = run(tmp_path / "on", steps=1)
    on.fit()
    off = run(tmp_path / "off", steps=1, trick_options={"vaegan": {"disc_on_reconstructions": False}})
    off.fit()
    assert all(torch.equal(a, b) for a, b in zip(on.gen.parameters(), off.gen.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(on.disc.parameters(), off.disc.parameters()))
    assert on.history.g_loss == off.history.g_loss and on.history.d_loss != off.history.d_loss


def test_resume_is_bit_exact_for_the_encoder_and_every_logged_value(tmp_path):
    whole = run(tmp_path / "whole", steps=6, log_every=1)
    whole.fit()
    run(tmp_path / "half", steps=3, log_every=1, checkpoint_every=3).fit()
    resumed = ganforge.Trainer.resume(tmp_path / "half" / "run", steps=6)
    resumed.fit()

    def logged(trainer):
        return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in trainer.history.records if "g_loss" in r]

    assert logged(resumed)[-3:] == logged(whole)[-3:] and "vae_kl" in logged(whole)[-1]
    for a, b in zip(whole.tricks[0].enc.parameters(), resumed.tricks[0].enc.parameters()):
        assert torch.equal(a, b)
    for net in ("gen", "disc"):
        for a, b in zip(getattr(whole, net).parameters(), getattr(resumed, net).parameters()):
            assert torch.equal(a, b), net


class OnlyForward(ganforge.Discriminator):
    name = "only_forward_test"

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        self.net = nn.Linear(2, 1)

    def forward(self, x, labels=None):
        return self.net(x).squeeze(-1)


def test_what_it_cannot_work_with_is_refused(register, tmp_path):
    register(discriminators=[OnlyForward])
    with pytest.raises(IncompatibleError, match="'only_forward_test' defines no features.*feature_weight=0"):
        run(tmp_path, disc="only_forward_test", disc_options={}).setup()
    run(tmp_path / "b", disc="only_forward_test", disc_options={}, steps=1,
        trick_options={"vaegan": {"feature_weight": 0.0, "pixel_weight": 1.0}}).fit()  # pixels need no features
    with pytest.raises(ConfigError, match="all 0, so the encoder would learn nothing"):
        VAEGAN(kl_weight=0, feature_weight=0)
    with pytest.raises(IncompatibleError, match="cannot be combined with"):
        run(tmp_path / "c", tricks=["vaegan", "pack"]).setup()
    plain = ganforge.Trainer(data="grid25", steps=1, progress=False, out_dir=str(tmp_path / "d"), device="cpu")
    with pytest.raises(ConfigError, match="needs a run trained with the 'vaegan' trick"):
        reconstruct(plain, torch.zeros(2, 2))


def test_a_conditional_run_decodes_with_the_real_labels(tmp_path):
    trainer = run(tmp_path, steps=2, conditional=True)
    trainer.fit()
    x = torch.randn(4, 2)
    a = reconstruct(trainer, x, labels=torch.zeros(4, dtype=torch.long))
    b = reconstruct(trainer, x, labels=torch.full((4,), 7))
    assert not torch.equal(a, b)  # G is conditional and the labels reach it


@pytest.mark.parametrize("options", [{}, {"pixel_weight": 0.5, "disc_on_reconstructions": False}])
def test_the_scheme_traces_whole_and_matches_eager(options, tmp_path, image_data):
    """Reparameterisation noise on the device, the feature loss through unwrapped D, D's extra pair: one graph."""
    trainer = ganforge.Trainer(**settings(tmp_path, ["vaegan"], data=image_data, loss="hinge",
                                          trick_options={"vaegan": options}))
    eager, traced = eager_and_traced(trainer)
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"

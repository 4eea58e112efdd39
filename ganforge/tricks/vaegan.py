"""ganhacks #7's hybrid: VAE-GAN, an encoder with G as the decoder and D's features as the similarity
(Larsen et al. 2016)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError, IncompatibleError
from ganforge.interfaces import (
    Discriminator,
    Generator,
    LossContext,
    ModelSpec,
    Network,
    Trick,
)
from ganforge.options import boolean, integer, number, option, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.interfaces import TrickContext

#: Bounds of the encoder's log-variance: keeps exp() finite in fp16/bf16 and early in training.
LOGVAR_RANGE = (-10.0, 10.0)


class Encoder(nn.Module):
    """VAE-GAN's encoder: an MLP from a flattened sample to ``(mu, logvar)`` of ``q(z|x)``, each ``(B, latent_dim)``.

    Two hidden LeakyReLU(0.2) layers of ``hidden`` units; the log-variance is clamped to :data:`LOGVAR_RANGE`.
    """

    def __init__(self, in_features: int, hidden: int, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 2 * latent_dim),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(x).float()
        mu, logvar = out[:, : self.latent_dim], out[:, self.latent_dim :]
        return mu, logvar.clamp(*LOGVAR_RANGE)


class VAEGAN(Trick):
    """VAE-GAN: an encoder E, G as its decoder, and D's features as the learned similarity (ganhacks #7).

    ganhacks #7: "if no model is stable, use a hybrid model: KL + GAN or VAE +
    GAN". Following Larsen et al. 2016 ("Autoencoding beyond pixels using a
    learned similarity metric"), the trick declares an encoder E
    (:class:`Encoder`, an MLP on the flattened sample: one architecture for
    points and images of any size, like the ``mlp`` models) that maps a real
    sample to the mean and log-variance of ``q(z|x)`` over the run's latents.
    E is joined to G (``Network(enc, phase="gen")``): its parameters are in G's
    optimizer and its loss is added to G's, so one term trains the encoder and
    the decoder G. In G's update:

    ``kl_weight * KL(q(z|x) || N(0, I)) + feature_weight * ||Dis_l(x~) - Dis_l(x)||^2
    + pixel_weight * |x~ - x|``

    with ``x~ = G(mu + sigma * eps)`` (the reparameterised code of the real
    batch ``x = ctx.data``, decoded by ``ctx.generate`` with the real batch's
    labels and condition). ``Dis_l`` is D's penultimate layer, its
    ``features()`` (the paper's learned similarity, their Gaussian
    log-likelihood in D's feature space written as the squared error). D runs
    there unwrapped, as everywhere in G's update: D's gradients are not taken,
    D is not trained by this term. The KL is the mean over the batch and the
    latent entries, the feature and pixel terms the mean over their entries.
    G keeps its adversarial loss on ``G(z)`` for prior latents.

    In D's update (``disc_on_reconstructions``) D also plays the run's loss
    with the real batch against the (detached) reconstructions ``x~``: Larsen
    trains D on x, G(z_p) and x~. This is the run's own loss on a second pair
    (real batch, reconstructions) through ``ctx.discriminate``, so any loss,
    target trick and input transform applies to it.

    Differences from the paper, on purpose: E's KL and G's reconstruction
    share one optimizer (the paper steps E, Dec and D with separate updates of
    the same losses); G's adversarial term does not include the
    reconstructions (only D's does); D's features are compared without D's
    input transforms (instance noise, DiffAugment).

    Logged every interval: ``vae_kl`` (KL per latent entry) and ``vae_feature``
    (feature reconstruction error) of the last G update. Measure a trained
    run with :func:`reconstruct` / :meth:`reconstruct`.

    Options:
        kl_weight: Weight of the KL term, default 0.1.
        feature_weight: Weight of the feature reconstruction (the paper's gamma), default 1.0.
        pixel_weight: Weight of a pixel-space L1 reconstruction, default 0 (none, as the paper).
        hidden: Width of E's two hidden layers, default 256.
        disc_on_reconstructions: D also learns to call the reconstructions fake, default True.

    Needs a discriminator with ``features()``. ``pack`` conflicts: D's
    features then see packs of samples, not the samples compared.
    """

    name = "vaegan"
    description = "VAE-GAN (ganhacks #7's hybrid): an encoder, G as decoder, D's features as the similarity"
    ganhacks = 7
    conflicts = ("pack",)

    @options
    class Options:
        kl_weight: float = option(0.1, validator=number(0.0), help="Weight of the KL term.")
        feature_weight: float = option(1.0, validator=number(0.0),
                                       help="Weight of the reconstruction error in D's feature space.")
        pixel_weight: float = option(0.0, validator=number(0.0), help="Weight of a pixel-space L1 reconstruction.")
        hidden: int = option(256, validator=integer(1), help="Width of the encoder's two hidden layers.")
        disc_on_reconstructions: bool = option(True, validator=boolean(),
                                               help="Train D to call the reconstructions fake too.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        if not (self.options.kl_weight or self.options.feature_weight or self.options.pixel_weight):
            raise ConfigError("vaegan: kl_weight, feature_weight and pixel_weight are all 0, so the encoder would "
                              "learn nothing; give one of them a positive value (e.g. feature_weight=1).")
        self.enc: Encoder | None = None
        self.disc: Discriminator | None = None
        # The last G update's [kl, feature error], on the device; read at logs only.
        self.last = torch.zeros(2)

    # -- setup ---------------------------------------------------------------

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        if self.options.feature_weight and type(disc).features is Discriminator.features:
            raise IncompatibleError(
                f"vaegan: discriminator '{disc.name}' defines no features() (only forward()), which the feature "
                "reconstruction needs; choose a discriminator with features(), or set "
                "--trick-option vaegan.feature_weight=0 --trick-option vaegan.pixel_weight=1.")
        self.disc = disc  # the module itself: the Trainer moves it to the device in place
        return gen, disc

    def networks(self, spec: ModelSpec) -> Mapping[str, Network]:
        self.enc = Encoder(math.prod(spec.data_shape), self.options.hidden, spec.latent_dim)
        return {"enc": Network(self.enc, phase="gen")}

    def setup(self, ctx: TrickContext) -> None:
        self.last = torch.zeros(2, device=ctx.device)

    # -- in-step -------------------------------------------------------------

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(z, mu, logvar)``: a reparameterised code of ``x`` (device RNG), its mean and log-variance."""
        mu, logvar = self.enc(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return z, mu, logvar

    @staticmethod
    def _gen_labels(ctx: LossContext) -> Tensor | None:
        """The real batch's labels for G when G is conditional (it then made the fakes for labels), else None."""
        return ctx.real_labels if ctx.fake_labels is not None else None

    def _disc_labels(self, ctx: LossContext) -> Tensor | None:
        """The real batch's labels for D when D is conditional, else None."""
        return ctx.real_labels if self.disc is not None and self.disc.spec.conditional else None

    def _features(self, x: Tensor, labels: Tensor | None, condition: Tensor | None) -> Tensor:
        if getattr(self.disc, "takes_condition", False):
            return self.disc.features(x, labels, condition=condition).float().flatten(1)
        return self.disc.features(x, labels).float().flatten(1)

    def network_loss(self, name: str, ctx: LossContext) -> Tensor | None:
        if self.enc is None or ctx.data is None or ctx.generate is None:
            return None
        x = ctx.data
        z, mu, logvar = self.encode(x)
        recon = ctx.generate(z, self._gen_labels(ctx), ctx.condition)
        kl = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
        o = self.options
        term = o.kl_weight * kl
        feature = kl.new_zeros(())
        if o.feature_weight:
            labels = self._disc_labels(ctx)
            with torch.no_grad():
                target = self._features(x, labels, ctx.condition)
            feature = F.mse_loss(self._features(recon, labels, ctx.condition), target)
            term = term + o.feature_weight * feature
        if o.pixel_weight:
            term = term + o.pixel_weight * F.l1_loss(recon.float(), x.float())
        self.last.copy_(torch.stack([kl.detach(), feature.detach()]))
        return term

    def extra_loss(self, net: str, batch: LossContext) -> Tensor | None:
        if (net != "disc" or not self.options.disc_on_reconstructions or self.enc is None or batch.data is None
                or batch.discriminate is None or batch.loss is None or batch.real_logits is None):
            return None
        with torch.no_grad():
            z, _, _ = self.encode(batch.data)
            recon = batch.generate(z, self._gen_labels(batch), batch.condition)
        labels = self._disc_labels(batch)
        logits = batch.discriminate(recon, labels, real=False)
        pair = attrs.evolve(batch, fake=recon, fake_labels=labels, fake_logits=logits, z=None)
        if pair.fake_targets is None or pair.fake_targets.shape != logits.shape:
            pair = attrs.evolve(pair, fake_targets=torch.zeros_like(logits))
        return batch.loss.discriminator_loss(pair)

    # -- host side -------------------------------------------------------------

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float]:
        kl, feature = self.last.tolist()
        return {"vae_kl": kl, "vae_feature": feature}

    @torch.no_grad()
    def reconstruct(self, trainer: Any, images: Tensor, labels: Tensor | None = None,
                    condition: Tensor | None = None, batch: int = 500) -> Tensor:
        """Reconstructions ``G(mu(x))`` of real ``images`` by a built run (the trained G, eval mode).

        ``images``: uint8 rows as the data set stores them, or samples in model space (float); ``labels``
        for a conditional run (the images' classes), ``condition`` for a generator that takes one. Returns
        a CPU float tensor in model space (the code's mean is decoded: no sampling noise).
        """
        x = trainer.to_model_space(images) if images.dtype == torch.uint8 else images.float()
        gen, enc = trainer.gen, self.enc
        modes = gen.training, enc.training
        gen.eval()
        enc.eval()
        out = []
        try:
            for s in range(0, len(x), batch):
                xs = x[s : s + batch].to(trainer.device)
                mu, _ = enc(xs)
                ys = None if labels is None else labels[s : s + batch].to(trainer.device)
                cs = None if condition is None else condition[s : s + batch].to(trainer.device)
                out.append(trainer.step_fn.generate(gen, mu, ys, cs).float().cpu())
        finally:
            gen.train(modes[0])
            enc.train(modes[1])
        return torch.cat(out)


def reconstruct(trainer: Any, images: Tensor, labels: Tensor | None = None,
                condition: Tensor | None = None) -> Tensor:
    """:meth:`VAEGAN.reconstruct` of the run's ``vaegan`` trick (model space, CPU)."""
    found = [t for t in trainer.setup().tricks if isinstance(t, VAEGAN)]
    if not found:
        raise ConfigError("reconstruct() needs a run trained with the 'vaegan' trick (--tricks vaegan).")
    return found[0].reconstruct(trainer, images, labels, condition)


def reconstruction_error(trainer: Any, images: Tensor, labels: Tensor | None = None) -> float:
    """Mean squared error per entry, in model space, between ``images`` and their reconstructions."""
    x = trainer.to_model_space(images) if images.dtype == torch.uint8 else images.float()
    return float(F.mse_loss(reconstruct(trainer, x, labels), x))

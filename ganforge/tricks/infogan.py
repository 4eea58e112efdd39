"""InfoGAN: latent codes the generator must keep recoverable from its samples (Chen et al. 2016)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import IncompatibleError
from ganforge.interfaces import LossContext, ModelSpec, Network, Trick
from ganforge.options import integer, number, option, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import TrainConfig
    from ganforge.interfaces import Loss, Regularizer, TrickContext


class QNetwork(nn.Module):
    """InfoGAN's Q: an MLP from a flattened sample to the codes' parameters.

    Two hidden LeakyReLU(0.2) layers of ``hidden`` units, then ``categorical``
    logits of the categorical code followed by one mean per continuous code.
    """

    def __init__(self, in_features: int, hidden: int, categorical: int, continuous: int):
        super().__init__()
        self.categorical, self.continuous = categorical, continuous
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, categorical + continuous),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(category logits (B, categorical), continuous means (B, continuous))`` for samples ``x``."""
        out = self.net(x).float()
        return out[:, : self.categorical], out[:, self.categorical :]


class InfoGAN(Trick):
    """InfoGAN: a categorical and continuous codes in z, recovered from the fakes by a network Q (Chen et al. 2016).

    The generator's input gains ``categorical + continuous`` entries (like the
    paper's ``G(z, c)``: ``--latent-dim`` stays the size of the noise, the
    generator is built for ``latent_dim + categorical + continuous``; e.g.
    the paper's MNIST model is ``latent_dim=62`` with one 10-way code and two
    continuous ones: 74 inputs). In the ``latent`` event the last entries of
    every latent batch are replaced by the codes: a one-hot vector of a
    uniformly drawn category and ``continuous`` values uniform in (-1, 1),
    drawn on the latents' device (capture-safe). Sampling draws codes the
    same way; :meth:`with_codes` writes chosen codes into latents, and
    :meth:`generate` makes samples for chosen codes.

    Q is a network of its own (:class:`QNetwork`, an MLP on the flattened
    sample: one architecture for points and images of any size, as the
    ``mlp`` models), declared with ``networks()`` as ``Network(q, phase="gen")``:
    it joins G's optimizer, and in G's update the information loss
    ``info_weight * CE(Q_cat(fake), category) + continuous_weight * MSE(Q_cont(fake), codes)``
    is added to G's loss, so the same term trains G and Q (the paper's
    ``min_{G,Q} V - lambda L_I``). The codes are read from the update's
    ``ctx.z`` (the latents that made the fakes): no state is remembered
    between events. The continuous part is the paper's factored Gaussian with
    a fixed unit variance (its negative log-likelihood is half the squared
    error plus a constant), written as the mean squared error.

    A deliberate difference from the paper: there Q shares all convolutional
    layers with D and adds one layer; here Q is a separate network. That keeps
    D unchanged (no surgery on an arbitrary discriminator, any D works) and
    keeps the gradients clean under DDP (Q's parameters are outside D, so D's
    update never sees the information loss and no parameter of D gets a
    gradient in G's update); the price is the compute of Q's own layers.

    Logged every interval: ``info_loss`` (the information term of the last G
    update, weights applied) and ``info_acc`` (the fraction of that update's
    fakes whose category Q recovered; chance is ``1 / categorical``). Both
    are kept in a device buffer and read only at logs.

    Options:
        categorical: Categories of the one categorical code, default 10 (the
            paper's MNIST code).
        continuous: Number of continuous codes, uniform in (-1, 1), default 2 (0: none).
        info_weight: The paper's lambda, on the categorical part, default 1.0.
        continuous_weight: Weight of the continuous part, default 0.1 (the
            paper's lambda for continuous codes).
        hidden: Width of Q's two hidden layers, default 128.

    Refused: a trick listed after ``infogan`` that transforms the latents
    (its transform would change the codes G is rewarded for keeping); list it
    before ``infogan``. ``spherical_z`` conflicts: it rescales every entry of
    z, so the noise would no longer lie on its sphere once the codes are in.
    """

    name = "infogan"
    description = "InfoGAN: categorical and continuous codes in z, recovered from the fakes by a network Q"
    conflicts = ("spherical_z",)

    @options
    class Options:
        categorical: int = option(10, validator=integer(2), help="Categories of the categorical code.")
        continuous: int = option(2, validator=integer(0), help="Continuous codes, uniform in (-1, 1).")
        info_weight: float = option(1.0, validator=number(0.0, low_open=True),
                                    help="Weight (lambda) of the categorical code's cross-entropy.")
        continuous_weight: float = option(0.1, validator=number(0.0),
                                          help="Weight of the continuous codes' squared error.")
        hidden: int = option(128, validator=integer(1), help="Width of Q's two hidden layers.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.q: QNetwork | None = None
        # The last G update's [info_loss, info_acc], on the device; read at logs only.
        self.last = torch.zeros(2)

    @property
    def code_size(self) -> int:
        """Entries of z the codes take: ``categorical + continuous``."""
        return self.options.categorical + self.options.continuous

    # -- setup ---------------------------------------------------------------

    def check_run(self, config: TrainConfig, tricks: Sequence[Trick], loss: Loss,
                  regularizers: Sequence[Regularizer]) -> None:
        names = [t.name for t in tricks]
        later = [t for t in tricks[names.index(self.name) + 1:] if type(t).latent is not Trick.latent]
        if later:
            raise IncompatibleError(
                f"infogan: trick '{later[0].name}' transforms the latents after infogan put its codes in, so G "
                f"would be rewarded for other codes than Q is asked for; list '{later[0].name}' before infogan.")

    def adjust_spec(self, spec: ModelSpec) -> ModelSpec:
        return attrs.evolve(spec, latent_dim=spec.latent_dim + self.code_size)

    def networks(self, spec: ModelSpec) -> Mapping[str, Network]:
        o = self.options
        self.q = QNetwork(math.prod(spec.data_shape), o.hidden, o.categorical, o.continuous)
        return {"q": Network(self.q, phase="gen")}

    def setup(self, ctx: TrickContext) -> None:
        self.last = torch.zeros(2, device=ctx.device)

    # -- in-step -------------------------------------------------------------

    def latent(self, z: Tensor) -> Tensor:
        n = z.shape[0]
        k, c = self.options.categorical, self.options.continuous
        category = torch.randint(0, k, (n,), device=z.device)
        uniform = torch.rand(n, c, device=z.device, dtype=z.dtype) * 2 - 1
        return self.with_codes(z, category, uniform)

    def with_codes(self, z: Tensor, category: Tensor, continuous: Tensor | None = None) -> Tensor:
        """``z`` ``(B, latent_dim)`` with its last entries replaced by the one-hot ``category`` ``(B,)`` and the
        ``continuous`` codes ``(B, continuous)`` (default: zeros); a new tensor."""
        n, k, c = z.shape[0], self.options.categorical, self.options.continuous
        noise = z.shape[1] - k - c
        if noise < 0:
            raise IncompatibleError(f"infogan: latents of width {z.shape[1]} cannot hold {k + c} code entries; "
                                    "make them with the run's spec.latent_dim.")
        # A comparison, not F.one_hot: no value check (a host sync) on any device.
        one_hot = (category.reshape(n, 1) == torch.arange(k, device=z.device)).to(z.dtype)
        if continuous is None:
            continuous = z.new_zeros(n, c)
        return torch.cat([z[:, :noise], one_hot, continuous.to(z.device, z.dtype)], dim=1)

    def codes(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """The ``(category (B,), continuous codes (B, continuous))`` that latents ``z`` carry."""
        k, c = self.options.categorical, self.options.continuous
        tail = z[:, z.shape[1] - k - c :]
        return tail[:, :k].argmax(1), tail[:, k:]

    def network_loss(self, name: str, ctx: LossContext) -> Tensor | None:
        if ctx.z is None or self.q is None:
            return None
        category, continuous = self.codes(ctx.z)
        logits, means = self.q(ctx.fake)
        term = self.options.info_weight * F.cross_entropy(logits, category)
        if self.options.continuous:
            term = term + self.options.continuous_weight * F.mse_loss(means, continuous.float())
        acc = (logits.argmax(1) == category).float().mean()
        self.last.copy_(torch.stack([term.detach(), acc.detach()]))
        return term

    # -- host side -------------------------------------------------------------

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float]:
        info_loss, info_acc = self.last.tolist()
        return {"info_loss": info_loss, "info_acc": info_acc}

    @torch.no_grad()
    def generate(self, trainer: Any, category: Tensor, continuous: Tensor | None = None,
                 ema: bool | None = False) -> Tensor:
        """Samples of a built run for chosen codes: one per entry of ``category`` ``(n,)``; fresh noise, the
        ``continuous`` codes given (``(n, continuous)``, default 0). CPU tensor in model space.

        Bypasses the ``latent`` event (which would draw new codes): the other tricks' latent transforms are
        not applied either. ``ema``: as :meth:`ganforge.Trainer.sample` (default: the trained G, which Q was
        trained with).
        """
        n = category.shape[0]
        gen = trainer.ema.model if ema or (ema is None and trainer.ema is not None) else trainer.gen
        was_training = gen.training
        gen.eval()
        try:
            with torch.random.fork_rng(devices=[trainer.device] if trainer.device.type == "cuda" else []):
                z = torch.randn(n, trainer.spec.latent_dim, device=trainer.device)
                z = self.with_codes(z, category.to(trainer.device), continuous)
                labels = trainer.step_fn.sample_labels(n)
                condition = None
                if gen.takes_condition:
                    condition = trainer.held_out_conditions(n)
                    condition = condition.repeat(-(-n // len(condition)), *[1] * (condition.dim() - 1))[:n]
                return trainer.step_fn.generate(gen, z, labels, condition).float().cpu()
        finally:
            gen.train(was_training)


def best_assignment_accuracy(counts: Tensor) -> tuple[float, list[int]]:
    """The accuracy of the best one-to-one assignment of code values to classes.

    Args:
        counts: ``(codes, classes)``: how many samples made with each code value
            a classifier put in each class (``codes <= classes``).

    Returns:
        ``(accuracy, assignment)``: the fraction of all samples whose class is
        the one assigned to their code value, under the assignment that
        maximises it (``assignment[i]`` is code value ``i``'s class). Uses
        ``scipy.optimize.linear_sum_assignment`` when SciPy is installed, else
        an exhaustive search (fine up to about 9 code values).
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    k, m = counts.shape
    if k > m:
        raise ValueError(f"{k} code values cannot be assigned one-to-one to {m} classes")
    total = float(counts.sum()) or 1.0
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # pragma: no cover - SciPy is present where the tests run
        best = max(itertools.permutations(range(m), k),
                   key=lambda perm: sum(float(counts[i, j]) for i, j in enumerate(perm)))
        return sum(float(counts[i, j]) for i, j in enumerate(best)) / total, list(best)
    rows, cols = linear_sum_assignment(counts.numpy(), maximize=True)
    assignment = [int(c) for _, c in sorted(zip(rows.tolist(), cols.tolist()))]
    return float(counts[rows, cols].sum()) / total, assignment

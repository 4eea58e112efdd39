"""A plugin written against ganforge 0.1's documented interfaces (see pyproject.toml)."""

import math

import torch
from torch import nn

import ganforge


class WGANGPLoss(ganforge.Loss):
    """Wasserstein critic loss, used with the gradient_penalty trick (0.1 plugin)."""

    name = "wgan_gp"

    def criterion(self, logits, targets):
        return (-(2 * targets - 1) * logits).mean()

    def g_loss(self, fake_logits, real_targets, fake_targets):
        return -fake_logits.mean()


class HingeLoss(ganforge.Loss):
    """Hinge loss (0.1 plugin)."""

    name = "hinge"

    def criterion(self, logits, targets):
        sign = 2 * targets - 1
        return torch.relu(1 - sign * logits).mean()

    def g_loss(self, fake_logits, real_targets, fake_targets):
        return -fake_logits.mean()


class GradientPenalty(ganforge.Trick):
    """Two-sided gradient penalty on interpolates, added to the critic's loss (0.1 plugin)."""

    name = "gradient_penalty"

    def __init__(self, weight: float = 10.0):
        if not weight > 0:
            raise ganforge.ConfigError(f"'weight' must be > 0 (got {weight!r})")
        self.weight = weight

    def setup(self, trainer):
        self.disc = trainer.disc

    def extra_loss(self, net, batch):
        if net != "disc":
            return None
        real, fake = batch.real, batch.fake.detach()
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        out = self.disc(mixed, batch.real_labels)
        (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
        norm = grad.flatten(1).norm(dim=1)
        return self.weight * ((norm - 1) ** 2).mean()


class WeightAverage(ganforge.Trick):
    """An exponential moving average of the generator's weights, kept in the checkpoint (0.1 plugin)."""

    name = "ema"

    def __init__(self, decay: float = 0.9):
        self.decay = decay

    def setup(self, trainer):
        self.gen = trainer.gen
        self.shadow = [p.detach().clone() for p in self.gen.parameters()]

    def after_step(self, trainer, step):
        with torch.no_grad():
            for s, p in zip(self.shadow, self.gen.parameters()):
                s.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)

    def on_log(self, trainer, step, values):
        return {"ema_norm": float(sum(s.norm() for s in self.shadow))}

    def state_dict(self):
        return {"shadow": [s.clone() for s in self.shadow]}

    def load_state_dict(self, state):
        for s, saved in zip(self.shadow, state["shadow"]):
            s.copy_(saved)


class ClipWeights(ganforge.Trick):
    """Clip the critic's weights to [-clip, clip] after every step (0.1 plugin)."""

    name = "clip_weights"

    def __init__(self, clip: float = 0.5):
        self.clip = clip

    def setup(self, trainer):
        self.params = list(trainer.disc.parameters())

    def after_step(self, trainer, step):
        with torch.no_grad():
            for p in self.params:
                p.clamp_(-self.clip, self.clip)


class SNCritic(ganforge.Discriminator):
    """A spectrally normalised MLP critic (0.1 plugin)."""

    name = "sn_critic"

    def __init__(self, spec, width: int = 32):
        super().__init__(spec)
        sn = nn.utils.parametrizations.spectral_norm
        self.body = nn.Sequential(nn.Flatten(), sn(nn.Linear(math.prod(spec.disc_input_shape), width)),
                                  nn.LeakyReLU(0.2), sn(nn.Linear(width, width)), nn.LeakyReLU(0.2))
        self.head = sn(nn.Linear(width, 1))

    def features(self, x, labels=None):
        return self.body(x)


class Moons(ganforge.Dataset):
    """Two interleaved half circles with Gaussian noise, drawn on the device (0.1 plugin)."""

    name = "moons"
    is_distribution = True

    def __init__(self, root=None, split="train", noise: float = 0.05):
        super().__init__(root, split)
        self.noise = noise

    @property
    def sample_shape(self):
        return (2,)

    def sample(self, n, device="cpu"):
        t = torch.rand(n, device=device) * math.pi
        upper = torch.rand(n, device=device) < 0.5
        x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
        y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
        points = torch.stack([x - 0.5, y - 0.25], dim=1)
        return points + self.noise * torch.randn_like(points), None


@ganforge.hookimpl
def ganforge_register_losses():
    return [WGANGPLoss, HingeLoss]


@ganforge.hookimpl
def ganforge_register_tricks():
    return [GradientPenalty, WeightAverage, ClipWeights]


@ganforge.hookimpl
def ganforge_register_discriminators():
    return [SNCritic]


@ganforge.hookimpl
def ganforge_register_datasets():
    return [Moons]

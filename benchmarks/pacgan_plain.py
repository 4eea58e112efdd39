"""A plain PyTorch implementation of PacGAN's 2-D protocol (Lin et al. 2018, sec. 5.1; after VEEGAN).

Written from the paper and the authors' published configuration (Theano/Blocks,
on top of ALI's code); nothing is copied.  What it does, in the paper's units:

* Data: grid25 (25 Gaussians on {-4,-2,0,2,4}^2, std 0.05) or ring8 (8 on the
  unit circle, std 0.01), in data units (no rescaling).  As in the authors'
  code, a fixed set of 100,000 points is drawn once; for packing degree m each
  of the m slots is an independent resample (with replacement) of that set, so
  a real pack is m independent points; an epoch is 1,000 shuffled batches of 100.
* G: z ~ N(0, I_2); 4 x [Linear 400 (no bias) -> BatchNorm -> ReLU], then a
  Linear(400, 2) with bias.  BatchNorm as Blocks does it: learned scale/shift
  (1, 0), epsilon 1e-4 added to the biased batch variance, population mean and
  standard deviation kept as 0.95 * old + 0.05 * batch (averaged over the m
  generator calls of a step), and used when sampling for evaluation.
* D: 3 maxout layers (200 units x 5 pieces) and a linear logit, input 2*m.
* Weights N(0, 0.02^2), biases 0 (G and D).
* Packing: m generator calls on m independent z batches of 100 (so BatchNorm
  statistics are per call of 100), concatenated along the features.
* Loss: D minimises softplus(-D(x)) + softplus(D(G(z))); G minimises
  softplus(-D(G(z))) (non-saturating).
* Update: simultaneous, as ALI's algorithm: both gradients from the same forward
  pass, then both Adam steps (lr 1e-4, betas (0.8, 0.999), eps 1e-8).
* Evaluation: 2,500 samples (fixed z, seed 0) from G with population BatchNorm
  statistics, scored by ganforge.metrics.mixture.mixture_metrics (3 std).

Prints one JSON line per evaluation point.

Run: OMP_NUM_THREADS=1 python benchmarks/pacgan_plain.py --m 1 --updates 10000  (benchmarks/pacgan_protocol.py runs it beside the preset)
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.metrics.mixture import mixture_metrics

torch.set_num_threads(1)


class BlocksBatchNorm(nn.Module):
    """Batch normalisation with Blocks' conventions (see the module docstring)."""

    def __init__(self, n: int, eps: float = 1e-4, alpha: float = 0.05):
        super().__init__()
        self.eps, self.alpha = eps, alpha
        self.scale = nn.Parameter(torch.ones(n))
        self.shift = nn.Parameter(torch.zeros(n))
        self.register_buffer("pop_mean", torch.zeros(n))
        self.register_buffer("pop_std", torch.ones(n))
        self._acc: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean = x.mean(0)
            std = torch.sqrt(x.var(0, unbiased=False) + self.eps)
            self._acc.append((mean.detach(), std.detach()))
        else:
            mean, std = self.pop_mean, self.pop_std
        return (x - mean) / std * self.scale + self.shift

    @torch.no_grad()
    def update_population(self) -> None:
        if not self._acc:
            return
        mean = torch.stack([m for m, _ in self._acc]).mean(0)
        std = torch.stack([s for _, s in self._acc]).mean(0)
        self.pop_mean.mul_(1 - self.alpha).add_(self.alpha * mean)
        self.pop_std.mul_(1 - self.alpha).add_(self.alpha * std)
        self._acc.clear()


class Maxout(nn.Module):
    def __init__(self, fin: int, fout: int, pieces: int):
        super().__init__()
        self.fout, self.pieces = fout, pieces
        self.lin = nn.Linear(fin, fout * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).view(x.shape[0], self.fout, self.pieces).max(-1).values


def generator(zdim: int = 2, hidden: int = 400, layers: int = 4, bn: str = "blocks") -> nn.Sequential:
    mods: list[nn.Module] = []
    w = zdim
    for _ in range(layers):
        norm = BlocksBatchNorm(hidden) if bn == "blocks" else nn.BatchNorm1d(hidden)  # torch: eps 1e-5, momentum 0.1
        mods += [nn.Linear(w, hidden, bias=False), norm, nn.ReLU()]
        w = hidden
    mods.append(nn.Linear(w, 2))
    return nn.Sequential(*mods)


def discriminator(m: int, hidden: int = 200, pieces: int = 5, layers: int = 3) -> nn.Sequential:
    mods: list[nn.Module] = []
    w = 2 * m
    for _ in range(layers):
        mods.append(Maxout(w, hidden, pieces))
        w = hidden
    mods.append(nn.Linear(w, 1))
    return nn.Sequential(*mods)


def init_(net: nn.Module, std: float = 0.02) -> None:
    for mod in net.modules():
        if isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, 0.0, std)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)


def mixture(name: str) -> tuple[torch.Tensor, float]:
    if name == "grid25":
        t = torch.arange(-4.0, 5.0, 2.0)
        return torch.cartesian_prod(t, t), 0.05
    a = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return torch.stack([a.cos(), a.sin()], 1).float(), 0.01


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="grid25", choices=["grid25", "ring8"])
    p.add_argument("--m", type=int, default=1, help="packing degree (1: GAN, 4: PacGAN4)")
    p.add_argument("--updates", type=int, default=10000)
    p.add_argument("--eval-at", default="", help="comma-separated update counts to evaluate at (plus the end)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-examples", type=int, default=100000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--tag", default="plain")
    # Ablations towards ganforge's preset (all off = the published protocol):
    p.add_argument("--scale", type=float, default=1.0, help="train on data / scale (ganforge grid25: 5, ring8: 1.25)")
    p.add_argument("--bn", default="blocks", choices=["blocks", "torch"], help="torch: nn.BatchNorm1d defaults")
    p.add_argument("--fresh", action="store_true", help="fresh mixture samples every update (no fixed 100k set)")
    p.add_argument("--g-joint", action="store_true", help="m > 1: one G call on m*batch z, consecutive samples packed")
    a = p.parse_args()

    torch.manual_seed(a.seed)
    modes, std = mixture(a.data)
    n = a.num_examples
    lab = torch.randint(0, modes.shape[0], (n,))
    base = modes[lab] + std * torch.randn(n, 2)
    data = torch.cat([base[torch.randint(0, n, (n,))] for _ in range(a.m)], dim=1)  # (n, 2m)

    gen, disc = generator(bn=a.bn), discriminator(a.m)
    init_(gen)
    init_(disc)
    bns = [mod for mod in gen.modules() if isinstance(mod, BlocksBatchNorm)]
    gp, dp = list(gen.parameters()), list(disc.parameters())
    opt_g = torch.optim.Adam(gp, lr=1e-4, betas=(0.8, 0.999), eps=1e-8)
    opt_d = torch.optim.Adam(dp, lr=1e-4, betas=(0.8, 0.999), eps=1e-8)
    z_eval = torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    eval_at = {int(s) for s in a.eval_at.split(",") if s} | {a.updates}

    per_epoch = n // a.batch
    order = torch.randperm(n)
    wall = 0.0
    t0 = time.perf_counter()
    for u in range(a.updates):
        k = u % per_epoch
        if k == 0 and u > 0:
            order = torch.randperm(n)
        if a.fresh:
            idx = torch.randint(0, modes.shape[0], (a.batch * a.m,))
            x = (modes[idx] + std * torch.randn(a.batch * a.m, 2)).reshape(a.batch, 2 * a.m)
        else:
            x = data[order[k * a.batch:(k + 1) * a.batch]]
        x = x / a.scale
        if a.g_joint:
            fake = gen(torch.randn(a.batch * a.m, 2)).reshape(a.batch, 2 * a.m)
        else:
            fake = torch.cat([gen(torch.randn(a.batch, 2)) for _ in range(a.m)], dim=1)
        d_real, d_fake = disc(x), disc(fake)
        d_loss = (F.softplus(-d_real) + F.softplus(d_fake)).mean()
        g_loss = F.softplus(-d_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        d_loss.backward(inputs=dp, retain_graph=True)
        g_loss.backward(inputs=gp)
        opt_d.step()
        opt_g.step()
        for bn in bns:
            bn.update_population()
        if u + 1 in eval_at:
            wall += time.perf_counter() - t0
            with torch.no_grad():
                gen.eval()
                pts = gen(z_eval) * a.scale
                gen.train()
            met = mixture_metrics(pts, modes, std)
            print(json.dumps({"tag": a.tag, "data": a.data, "m": a.m, "seed": a.seed, "updates": u + 1,
                              "scale": a.scale, "bn": a.bn, "fresh": a.fresh, "g_joint": a.g_joint,
                              "train_wall_s": round(wall, 1), "modes": met["modes"],
                              "hq_percent": round(met["hq_percent"], 2),
                              "reverse_kl": round(met["reverse_kl"], 4)}), flush=True)
            t0 = time.perf_counter()


if __name__ == "__main__":
    main()

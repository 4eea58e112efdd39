"""ganhacks #15: minibatch discrimination (Salimans et al. 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganforge.interfaces import Discriminator, Generator, Trick
from ganforge.options import integer, number, option, options
from ganforge.tricks._layers import feature_size


class MinibatchDiscriminationLayer(nn.Module):
    """The minibatch discrimination layer of Salimans et al. 2016, section 3.2.

    For features ``f`` of shape ``(N, A)`` and a learned tensor ``T`` of shape
    ``(A, B, C)``: ``M_i = f_i T`` is a ``B x C`` matrix per sample; for each
    kernel ``b``, ``c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1)``, and
    ``o(i)_b = sum_j c_b(i, j)`` over the whole batch (``j = i`` included, as
    in the paper, so ``o`` lies in ``[1, N]``). The output is ``[f, o]`` of
    shape ``(N, A + B)``. A batch of identical samples gives ``o = N``
    everywhere: the next layer can see a collapsed batch.

    Args:
        in_features: ``A``.
        num_kernels: ``B``.
        kernel_dim: ``C``.
        init_std: Standard deviation of T's normal initialisation.
    """

    def __init__(self, in_features: int, num_kernels: int, kernel_dim: int, init_std: float = 0.1):
        super().__init__()
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, num_kernels, kernel_dim) * init_std)

    def forward(self, f: Tensor) -> Tensor:
        m = (f @ self.T.view(self.T.shape[0], -1)).view(-1, self.num_kernels, self.kernel_dim)  # (N, B, C)
        per_kernel = m.transpose(0, 1).contiguous()  # (B, N, C): one N x N comparison per kernel
        l1 = torch.cdist(per_kernel, per_kernel, p=1)  # (B, N, N), without an (N, N, B, C) difference tensor
        o = torch.exp(-l1).sum(2).t()  # (N, B)
        return torch.cat([f, o.to(f.dtype)], dim=1)


class MinibatchDiscrimination(Trick):
    """Let D compare each sample with the rest of its batch, against mode collapse (ganhacks #15).

    :meth:`modify_models` replaces ``disc.head`` with
    ``Sequential(MinibatchDiscriminationLayer(F, B, C), Linear(F + B, 1))``,
    where ``F`` is the width of ``disc.features`` (measured by a probe pass).
    The new parameters are part of D, so D's optimizer trains them. Real and
    fake samples are compared within their own batch (two pure batches),
    unless ``mixed_batches`` puts them in one.

    Options:
        num_kernels: ``B``, default 100 (our choice; ganhacks gives no number).
        kernel_dim: ``C``, default 5 (our choice).
        init_std: Standard deviation of T's initialisation, default 0.1 (our choice).
    """

    name = "minibatch_discrimination"
    description = "Salimans et al. 2016 minibatch discrimination layer before D's last layer"
    ganhacks = 15

    @options
    class Options:
        num_kernels: int = option(100, validator=integer(1), help="B: kernels, one closeness feature each.")
        kernel_dim: int = option(5, validator=integer(1), help="C: dimension each kernel compares samples in.")
        init_std: float = option(0.1, validator=number(0.0, low_open=True),
                                 help="Standard deviation of the normal initialisation of T.")

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        opts = self.options
        width = feature_size(disc, self.name)
        layer = MinibatchDiscriminationLayer(width, opts.num_kernels, opts.kernel_dim, float(opts.init_std))
        disc.head = nn.Sequential(layer, nn.Linear(width + opts.num_kernels, 1))
        return gen, disc

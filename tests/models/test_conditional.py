"""Conditional training: labels reach G and D, and samples follow the requested class."""

from __future__ import annotations

import torch

import ganforge


def test_conditional_mlp_puts_class_k_at_mode_k(tiny):
    """On grid25 each of the 25 modes is a class; chance would put 4% of samples at their class's mode."""
    tiny.update(steps=1000, batch_size=64, log_every=100, seed=0)
    trainer = ganforge.Trainer(data="grid25", conditional=True, gen_options={"hidden": (64, 64)},
                               disc_options={"hidden": (64, 64)}, **tiny)
    trainer.fit()
    assert trainer.spec.num_classes == 25
    wanted = torch.arange(25).repeat_interleave(40)
    gen = torch.Generator().manual_seed(1)
    points = trainer.dataset.denormalize(trainer.sample(labels=wanted, z=torch.randn(len(wanted), 100, generator=gen)))
    nearest = torch.cdist(points, trainer.dataset.modes).argmin(dim=1)
    hit_rate = (nearest == wanted).float().mean().item()
    assert hit_rate > 0.5, hit_rate  # measured about 0.8 after 1000 steps
    # Every class is served, not only a few easy ones.
    per_class = (nearest == wanted).view(25, 40).float().mean(dim=1)
    assert (per_class > 0.2).sum() >= 20


def test_labels_reach_both_models(tiny):
    tiny.update(steps=1)
    trainer = ganforge.Trainer(data="ring8", conditional=True, **tiny)
    trainer.setup()
    assert trainer.spec.num_classes == 8
    assert trainer.gen.label_embedding.num_embeddings == 8
    assert trainer.disc.label_embedding.num_embeddings == 8

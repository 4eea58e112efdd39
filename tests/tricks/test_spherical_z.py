"""spherical_z (ganhacks #3) and ganforge.interpolate: latents on the sphere, great-circle paths."""

from __future__ import annotations

import math

import pytest
import torch

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.interpolate import interpolate, lerp, slerp
from ganforge.models.mlp import MLPGenerator
from ganforge.tricks.spherical_z import SphericalZ, project_to_sphere

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


def test_latents_are_projected_to_radius_sqrt_d():
    z = torch.randn(500, 37) * torch.rand(500, 1) * 5
    out = SphericalZ().latent(z)
    assert torch.allclose(out.norm(dim=1), torch.full((500,), math.sqrt(37)), rtol=1e-5)
    # Only the length changes: the direction is kept.
    assert torch.allclose(torch.nn.functional.cosine_similarity(out, z, dim=1), torch.ones(500), atol=1e-5)
    assert torch.equal(project_to_sphere(torch.zeros(2, 5)), torch.zeros(2, 5))


def test_trainer_draws_spherical_latents_for_training_and_sampling(tiny):
    trainer = ganforge.Trainer(data="grid25", tricks=["spherical_z"], latent_dim=16, **SMALL, **tiny)
    trainer.fit()
    z = trainer.step_fn.sample_latent(300)
    assert torch.allclose(z.norm(dim=1), torch.full((300,), 4.0), rtol=1e-5)
    # Sampling with explicit latents applies the projection too: scaling z changes nothing.
    z0 = torch.randn(8, 16)
    assert torch.allclose(trainer.sample(z=z0), trainer.sample(z=z0 * 3), atol=1e-6)


def test_slerp_keeps_the_norm_of_equal_norm_endpoints_and_lerp_does_not():
    g = torch.Generator().manual_seed(0)
    z0 = project_to_sphere(torch.randn(4, 100, generator=g))
    z1 = project_to_sphere(torch.randn(4, 100, generator=g))
    t = torch.linspace(0, 1, 9)
    path = slerp(z0, z1, t)
    assert path.shape == (9, 4, 100)
    assert torch.allclose(path.norm(dim=-1), torch.full((9, 4), 10.0), rtol=1e-4)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    mid = lerp(z0, z1, 0.5)
    assert (mid.norm(dim=-1) < 8.0).all()  # near-orthogonal 100-d endpoints: the chord dips to ~sqrt(0.5) * 10


def test_slerp_moves_at_constant_angular_speed_and_handles_parallel_endpoints():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = slerp(z0, z1, torch.linspace(0, 1, 5))
    angles = torch.atan2(path[:, 1], path[:, 0])
    assert torch.allclose(angles, torch.linspace(0, math.pi / 2, 5), atol=1e-5)
    same = slerp(z0, z0 * 2, torch.tensor([0.0, 0.5, 1.0]))  # angle 0: falls back to the straight line
    assert torch.allclose(same, torch.tensor([[1.0, 0.0], [1.5, 0.0], [2.0, 0.0]]))
    with pytest.raises(ganforge.ConfigError, match="same shape"):
        slerp(torch.zeros(3), torch.zeros(4), 0.5)


def test_interpolate_through_a_trainer_uses_its_latent_tricks(tiny):
    trainer = ganforge.Trainer(data="grid25", tricks=["spherical_z"], latent_dim=8, **SMALL, **tiny)
    trainer.fit()
    z0, z1 = torch.randn(8), torch.randn(8) * 4
    out = interpolate(trainer, z0, z1, steps=6)
    assert out.shape == (6, 2)
    ends = trainer.sample(z=torch.stack([z0, z1]))
    assert torch.allclose(out[0], ends[0], atol=1e-5) and torch.allclose(out[-1], ends[1], atol=1e-5)
    assert not torch.allclose(out[2], interpolate(trainer, z0, z1, steps=6, method="lerp")[2], atol=1e-5)


def test_interpolate_with_a_bare_generator_and_its_errors():
    gen = MLPGenerator(ModelSpec((2,), latent_dim=4), hidden=(8,))
    out = interpolate(gen, torch.zeros(4), torch.ones(4), steps=3, method="lerp")
    assert out.shape == (3, 2) and gen.training  # mode restored
    with pytest.raises(ganforge.ConfigError, match="'method' must be one of"):
        interpolate(gen, torch.zeros(4), torch.ones(4), method="cubic")
    with pytest.raises(ganforge.ConfigError, match="'steps' must be an integer >= 2"):
        interpolate(gen, torch.zeros(4), torch.ones(4), steps=1)
    with pytest.raises(ganforge.ConfigError, match=r"must both have shape \(4,\)"):
        interpolate(gen, torch.zeros(5), torch.ones(5))
    with pytest.raises(ganforge.ConfigError, match="needs a Generator or a Trainer"):
        interpolate("mlp", torch.zeros(4), torch.ones(4))
    cond = MLPGenerator(ModelSpec((2,), latent_dim=4, num_classes=3), hidden=(8,))
    with pytest.raises(ganforge.ConfigError, match="pass labels="):
        interpolate(cond, torch.zeros(4), torch.ones(4))
    assert interpolate(cond, torch.zeros(4), torch.ones(4), steps=4, labels=2).shape == (4, 2)

"""ganhacks #3: latents on the sphere of radius sqrt(d)."""

from __future__ import annotations

from torch import Tensor

from ganforge.interfaces import Trick


class SphericalZ(Trick):
    """Project each Gaussian latent onto the sphere of radius sqrt(d) (ganhacks #3).

    A d-dimensional standard Gaussian concentrates near the sphere of radius
    sqrt(d); projecting every latent exactly onto it (White 2016, "Sampling
    Generative Networks") makes great-circle interpolation
    (:func:`ganforge.interpolate.slerp`) stay on the latents' typical set.
    Each ``z`` becomes ``z * sqrt(d) / ||z||``, on the device, for training
    and for sampling (event ``latent``). Interpolate with
    ``ganforge.interpolate.interpolate(trainer, z0, z1, steps, method="slerp")``.

    Options: none.
    """

    name = "spherical_z"
    description = "Gaussian latents projected to the sphere of radius sqrt(latent_dim)"
    ganhacks = 3

    def latent(self, z: Tensor) -> Tensor:
        return project_to_sphere(z)


def project_to_sphere(z: Tensor, eps: float = 1e-12) -> Tensor:
    """Scale each row of ``z`` (``(B, d)``) to norm ``sqrt(d)``; zero rows stay zero."""
    d = z.shape[-1]
    return z * (d**0.5 / z.norm(dim=-1, keepdim=True).clamp_min(eps))

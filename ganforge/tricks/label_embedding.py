"""ganhacks #16: feed class labels through a low-dimensional embedding."""

from __future__ import annotations

import warnings

from torch import Tensor, nn

from ganforge.errors import IncompatibleError
from ganforge.interfaces import Discriminator, Generator, Trick
from ganforge.options import integer, option, options
from ganforge.tricks._layers import LABEL_MODULE_NAMES, label_modules

class LowDimEmbedding(nn.Module):
    """A ``dim``-dimensional label embedding mapped linearly up to ``out_dim`` features.

    Drop-in replacement for ``nn.Embedding(num_classes, out_dim)``: the output
    keeps the shape ``(B, out_dim)`` the model's next layer expects, but all
    label information passes through ``dim`` numbers per class.

    Args:
        num_classes: Number of labels.
        dim: The low embedding dimension.
        out_dim: Width of the output (the replaced embedding's ``embedding_dim``).
    """

    def __init__(self, num_classes: int, dim: int, out_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, dim)
        self.up = nn.Linear(dim, out_dim)

    @property
    def embedding_dim(self) -> int:
        """Width of the output, as ``nn.Embedding.embedding_dim``."""
        return self.up.out_features

    def forward(self, labels: Tensor) -> Tensor:
        return self.up(self.embedding(labels))


class LabelEmbedding(Trick):
    """Pass class labels through a low-dimensional embedding, upsampled to the width the model uses (ganhacks #16).

    ganhacks #16 (discrete variables in conditional GANs): use an embedding
    layer, add it to images as extra channels, and keep the embedding
    dimensionality low, upsampling it to match the image channel size.
    ganforge's models already embed labels when ``conditional=True`` (``mlp``:
    an ``nn.Embedding`` of width ``embed_dim``, default the number of
    classes, concatenated to z or to the flattened sample; ``dcgan``: G
    concatenates an embedding to z, D adds a learned one-channel label map).
    This trick replaces every such ``nn.Embedding`` (attributes
    ``label_embedding`` and ``label_map``) of G and D in :meth:`modify_models`
    by a :class:`LowDimEmbedding`: a ``dim``-wide embedding followed by a
    learned linear map back to the original width. The models' other layers
    are unchanged; the labels reach them through ``dim`` numbers. A label
    module without parameters is left alone.

    Options:
        dim: The embedding dimension, default 4 (ganhacks only says "low";
            4 is our choice). Must be smaller than each replaced embedding's
            width, else the trick would not lower it.
    """

    name = "label_embedding"
    description = "Class labels through a low-dimensional (default 4-d) embedding, linearly upsampled"
    ganhacks = 16
    requires_labels = True

    @options
    class Options:
        dim: int = option(4, validator=integer(1), help="The low embedding dimension the labels pass through.")

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        replaced = 0
        for role, model in (("generator", gen), ("discriminator", disc)):
            modules = label_modules(model)
            if not modules:
                warnings.warn(
                    f"label_embedding: {role} '{model.name}' has no label embedding module "
                    f"({' or '.join(LABEL_MODULE_NAMES)}); its labels are used as the model defines.",
                    stacklevel=2,
                )
            for attr, module in modules:
                if next(module.parameters(), None) is None:
                    continue  # nothing learned to lower
                if not isinstance(module, nn.Embedding):
                    raise IncompatibleError(
                        f"label_embedding: {role} '{model.name}'.{attr} is a {type(module).__name__}, not an "
                        "nn.Embedding; enable this trick once, before any other trick that rewrites it."
                    )
                dim = self.options.dim
                if dim >= module.embedding_dim:
                    raise IncompatibleError(
                        f"label_embedding: dim={dim} is not below the width {module.embedding_dim} of "
                        f"{role} '{model.name}'.{attr}; choose --trick-option label_embedding.dim="
                        f"{max(1, module.embedding_dim // 4)} or smaller."
                    )
                setattr(model, attr, LowDimEmbedding(module.num_embeddings, dim, module.embedding_dim))
                replaced += 1
        if not replaced:
            raise IncompatibleError(
                f"label_embedding: neither generator '{gen.name}' nor discriminator '{disc.name}' keeps an "
                f"nn.Embedding as {' or '.join(LABEL_MODULE_NAMES)}; set the models' own embedding options "
                "(e.g. --gen-option embed_dim=4) instead."
            )
        return gen, disc

"""label_embedding (ganhacks #16): labels reach the models through a low-dimensional embedding."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.tricks.label_embedding import LabelEmbedding, LowDimEmbedding

SPEC = ModelSpec((2,), 8, 25)


def test_embeddings_are_replaced_keeping_the_width_the_models_expect():
    gen, disc = MLPGenerator(SPEC, hidden=(16,)), MLPDiscriminator(SPEC, hidden=(16,))
    gen, disc = LabelEmbedding(dim=3).modify_models(gen, disc)
    labels = torch.arange(25)
    for model in (gen, disc):
        emb = model.label_embedding
        assert isinstance(emb, LowDimEmbedding)
        assert emb.embedding.weight.shape == (25, 3)
        codes = emb(labels)
        assert codes.shape == (25, 25)  # the width the first layer was built for
        # All 25 class codes lie in an affine space of dimension 3: the labels pass through 3 numbers.
        assert torch.linalg.matrix_rank((codes - codes[0]).detach()) == 3
    assert gen(torch.randn(4, 8), labels[:4]).shape == (4, 2)
    assert disc(torch.randn(4, 2), labels[:4]).shape == (4,)


def test_trainer_trains_the_low_dim_embedding(tiny):
    trainer = ganforge.Trainer(data="grid25", conditional=True, tricks=["label_embedding"],
                               gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)},
                               **dict(tiny, steps=3, log_every=3))
    trainer.setup()
    weight = trainer.gen.label_embedding.embedding.weight
    assert weight.shape == (25, 4)  # default dim
    before = weight.detach().clone()
    trainer.fit()
    assert any(p is weight for g in trainer.opt_g.param_groups for p in g["params"])
    assert not torch.equal(before, weight)


def test_dim_must_lower_the_width_and_labels_are_required(tiny):
    gen, disc = MLPGenerator(SPEC, hidden=(16,), embed_dim=4), MLPDiscriminator(SPEC, hidden=(16,))
    with pytest.raises(ganforge.IncompatibleError, match="dim=4 is not below the width 4"):
        LabelEmbedding(dim=4).modify_models(gen, disc)
    with pytest.raises(ganforge.ConfigError, match="'dim' must be an integer >= 1"):
        LabelEmbedding(dim=0)
    with pytest.raises(ganforge.IncompatibleError, match="needs class labels"):
        ganforge.Trainer(data="grid25", tricks=["label_embedding"], **tiny).setup()


@pytest.mark.parametrize("order", [["auxiliary_classifier", "label_embedding"], ["label_embedding", "auxiliary_classifier"]])
def test_combines_with_the_auxiliary_classifiers_label_blind_d(tiny, order):
    trainer = ganforge.Trainer(data="grid25", conditional=True, tricks=order, gen_options={"hidden": (16,)},
                               disc_options={"hidden": (16,)}, **dict(tiny, steps=2, log_every=2))
    trainer.fit()
    assert isinstance(trainer.gen.label_embedding, LowDimEmbedding)
    x = torch.randn(5, 2)
    assert torch.equal(trainer.disc(x, torch.arange(5)), trainer.disc(x, torch.arange(5) + 7))  # D stays blind

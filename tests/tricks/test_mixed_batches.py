"""mixed_batches (contrast to ganhacks #4): D sees one batch of 2B instead of two batches of B."""

from __future__ import annotations

import pytest

import ganforge

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16), "norm": "batch"})


def disc_batch_sizes(trainer):
    sizes = []
    handle = trainer.disc.register_forward_hook(lambda m, args, out: sizes.append(args[0].shape[0]))
    trainer.step_fn([trainer.batches.next()])
    handle.remove()
    return sizes


@pytest.mark.parametrize("conditional", [False, True])
def test_one_mixed_batch_with_the_trick_two_pure_batches_without(tiny, conditional):
    b = tiny["batch_size"]
    mixed = ganforge.Trainer(data="grid25", tricks=["mixed_batches"], conditional=conditional, **SMALL, **tiny).setup()
    # The generator's pass sees B fakes; the discriminator's update one batch of 2B.
    assert disc_batch_sizes(mixed) == [b, 2 * b]
    pure = ganforge.Trainer(data="grid25", conditional=conditional, **SMALL, **tiny).setup()
    assert disc_batch_sizes(pure) == [b, b, b]


def test_batch_statistics_differ_so_training_differs(tiny):
    """With batch norm in D the mixed batch gives other logits, hence another D loss, from the first step."""
    mixed = ganforge.Trainer(data="grid25", tricks=["mixed_batches"], **SMALL, **tiny).fit()
    tiny["out_dir"] += "-pure"
    pure = ganforge.Trainer(data="grid25", **SMALL, **tiny).fit()
    assert mixed.g_loss[0] == pure.g_loss[0]
    assert mixed.d_loss[0] != pytest.approx(pure.d_loss[0], abs=1e-4)


def test_conflicts_with_pack(tiny):
    with pytest.raises(ganforge.IncompatibleError, match="'mixed_batches' cannot be combined with 'pack'"):
        ganforge.Trainer(data="grid25", tricks=["pack", "mixed_batches"], **tiny).setup()

"""d_steps (ganhacks #14): k discriminator updates per generator update, each on its own real batch."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.tricks.d_steps import DSteps

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


def optimizer_steps(opt: torch.optim.Optimizer) -> int:
    param = opt.param_groups[0]["params"][0]
    return int(opt.state[param]["step"])


@pytest.mark.parametrize("k", [2, 3])
def test_k_d_updates_per_g_update_on_distinct_real_batches(tiny, k):
    trainer = ganforge.Trainer(data="grid25", tricks=["d_steps"], trick_options={"d_steps": {"k": k}},
                               **SMALL, **dict(tiny, steps=4, log_every=2))
    trainer.setup()
    assert trainer.step_fn.d_steps == k
    seen = []
    update = trainer.step_fn.discriminator_update

    def recording(real, *rest, **more):
        seen.append(real.clone())
        return update(real, *rest, **more)

    trainer.step_fn.discriminator_update = recording
    trainer.fit()
    assert optimizer_steps(trainer.opt_d) == 4 * k
    assert optimizer_steps(trainer.opt_g) == 4
    assert len(seen) == 4 * k
    for step in range(4):
        batches = seen[step * k:(step + 1) * k]
        assert all(not torch.equal(a, b) for i, a in enumerate(batches) for b in batches[i + 1:])


def test_default_and_validation():
    assert DSteps().d_steps == 2
    with pytest.raises(ganforge.ConfigError, match="'k' must be an integer >= 1"):
        DSteps(k=0)
    with pytest.raises(ganforge.ConfigError, match="'k' must be an integer >= 1"):
        DSteps(k=2.5)

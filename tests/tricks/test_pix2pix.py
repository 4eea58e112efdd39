"""pix2pix: D judges (condition, sample) pairs, G pays lambda * L1 to the target; held-out L1 falls on MNIST outlines."""

from __future__ import annotations

import pytest
import torch
from test_capture import capturable_on_the_cpu, eager_and_traced, settings  # noqa: F401

import ganforge
from ganforge.data.translation import MNISTEdges2Digits, outline
from ganforge.errors import IncompatibleError

#: Rows of the MNIST test split the tests train on, and the held-out rows they measure on.
TRAIN_ROWS, HELD_OUT = slice(0, 1024), slice(9000, 9256)


class FewEdges2Digits(MNISTEdges2Digits):
    """``mnist-edges2digits`` cut to the test split's first 1,024 rows (rows 9,000+ stay unseen)."""

    name = "few-edges2digits"

    def load(self):
        digits, labels = self.mnist.load()
        digits, labels = digits[TRAIN_ROWS], labels[TRAIN_ROWS]
        return torch.cat([outline(digits, self.options.threshold), digits], dim=1), labels



def small(tmp_path, data="few-edges2digits", **more):
    run = dict(data=data, split="test", data_options={"download": False}, gen="unet", disc="patchgan",
               gen_options={"width": 4}, disc_options={"width": 4},
               tricks=["pix2pix"], latent_dim=1, batch_size=4, steps=4, log_every=1, sample_every=0,
               checkpoint_every=0, progress=False, device="cpu", out_dir=str(tmp_path / "run"))
    run.update(more)
    return run


@pytest.fixture
def edges(register, mnist_root):
    register(datasets=[FewEdges2Digits])
    return str(mnist_root)


def held_out(root):
    data = ganforge.create_plugin("dataset", "mnist-edges2digits", root=root, split="test", download=False)
    rows = data.load()[0][HELD_OUT].float() / 127.5 - 1
    targets, conditions = data.split_condition(rows)
    return conditions, targets


def held_out_l1(trainer, conditions, targets) -> float:
    return float((trainer.sample(condition=conditions, ema=False) - targets).abs().mean())


def test_d_sees_condition_then_sample_pairs_and_g_makes_the_datas_shape(edges, tmp_path):
    trainer = ganforge.Trainer(**small(tmp_path, data_root=edges, steps=2))
    trainer.setup()
    assert trainer.spec.disc_input_shape == (2, 28, 28)
    assert trainer.disc.bodies[0][0].in_channels == 2
    seen = []
    trainer.disc.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    batch = trainer.batches.state_dict()
    rows, _ = trainer.batches.next()
    trainer.batches.load_state_dict(batch)
    trainer.fit()
    assert all(x.shape == (4, 2, 28, 28) for x in seen)
    real = rows.float() if rows.dtype != torch.uint8 else rows.float() / 127.5 - 1
    # D's first update of step 0 sees the real pairs of the first batch, exactly as stored: condition first.
    assert any(torch.equal(x, real) for x in seen)
    # Every fake pair carries the real pair's condition beside G's output.
    assert any(torch.equal(x[:, :1], real[:, :1]) and not torch.equal(x, real) for x in seen)
    conditions, _ = held_out(edges)
    assert trainer.sample(condition=conditions[:5]).shape == (5, 1, 28, 28)  # the data's shape, not the pair
    assert trainer.sample(7).shape == (7, 1, 28, 28)


def test_the_l1_term_is_lambda_times_the_mean_absolute_error_of_the_generated_half():
    trick = ganforge.create_plugin("trick", "pix2pix", l1_weight=100.0)
    trick.adjust_spec(ganforge.ModelSpec((1, 28, 28), latent_dim=1, condition_shape=(2, 28, 28)))
    gen = torch.Generator().manual_seed(0)
    condition, target, made = (torch.rand(4, c, 28, 28, generator=gen) for c in (2, 1, 1))
    # In G's update the fake side is the pair (condition, G(c)) and ctx.data the batch's targets.
    ctx = ganforge.LossContext(real=torch.cat([condition, target], 1), real_labels=None,
                               fake=torch.cat([condition, made], 1), fake_labels=None, phase="gen", data=target)
    assert float(trick.extra_loss("gen", ctx)) == pytest.approx(100 * float((made - target).abs().mean()), rel=1e-6)
    assert trick.extra_loss("disc", ctx) is None
    off = ganforge.create_plugin("trick", "pix2pix", l1_weight=0.0)
    off.adjust_spec(ganforge.ModelSpec((1, 28, 28), latent_dim=1, condition_shape=(2, 28, 28)))
    assert off.extra_loss("gen", ctx) is None


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_l1_falls_over_a_short_run(seed, edges, tmp_path):
    """100 steps of batch 8 on 1,024 pairs: G's L1 on 256 unseen outlines falls to under 70 % of the start's
    (0.52-0.61 of it measured for seeds 0-2)."""
    conditions, targets = held_out(edges)
    trainer = ganforge.Trainer(**small(tmp_path, data_root=edges, steps=100, batch_size=8, log_every=50,
                                       seed=seed, gen_options={"width": 8}, disc_options={"width": 8}))
    trainer.setup()
    start = held_out_l1(trainer, conditions, targets)
    trainer.fit()
    end = held_out_l1(trainer, conditions, targets)
    assert end < 0.7 * start, (start, end)


def test_pix2pix_refuses_runs_it_cannot_translate(register, edges, tmp_path):
    with pytest.raises(IncompatibleError, match="offers none: use a data set with a condition"):
        ganforge.Trainer(**small(tmp_path / "a", data="grid25", data_options={}, gen="mlp", disc="mlp",
                                 gen_options={}, disc_options={})).setup()
    with pytest.raises(IncompatibleError, match="needs a generator that translates the condition; 'mlp'"):
        ganforge.Trainer(**small(tmp_path / "b", data_root=edges, gen="mlp", gen_options={})).setup()
    with pytest.raises(IncompatibleError, match="pix2pix.*conditional=True"):
        ganforge.Trainer(**small(tmp_path / "c", data_root=edges, conditional=True)).setup()
    with pytest.raises(IncompatibleError, match="cannot be combined with 'experience_replay'"):
        ganforge.Trainer(**small(tmp_path / "d", data_root=edges, tricks=["pix2pix", "experience_replay"])).setup()


def test_pix2pix_traces_whole_and_matches_eager(pair_data, tmp_path):
    """The scheme's step (pairs for D, the L1 term, R1 on the real pairs) traced whole under fullgraph."""
    run = settings(tmp_path, ["pix2pix"], data=pair_data, regularizers=["r1"])
    run["batch_size"] = 8
    run.update(gen="unet", disc="patchgan", gen_options={"width": 4}, disc_options={"width": 4}, latent_dim=1)
    eager, traced = eager_and_traced(ganforge.Trainer(**run))
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"

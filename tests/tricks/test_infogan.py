"""infogan (Chen et al. 2016): codes in z, a Q network joined to G, the information loss read from ctx.z."""

from __future__ import annotations

import pytest
import torch
from test_capture import capturable_on_the_cpu, eager_and_traced, settings  # noqa: F401  (the fixture applies)

import ganforge
from ganforge.errors import IncompatibleError
from ganforge.tricks.infogan import InfoGAN, best_assignment_accuracy

#: The run of the effect tests: grid25, a 5-way code and one continuous code, 2-d noise.
CODES = {"categorical": 5, "continuous": 1, "hidden": 64, "info_weight": 2.0}


def run(tmp_path, steps=6, seed=0, **more):
    base = dict(data="grid25", tricks=["infogan"], trick_options={"infogan": CODES}, steps=steps, batch_size=64,
                log_every=3, sample_every=0, checkpoint_every=0, progress=False, device="cpu", seed=seed,
                out_dir=str(tmp_path / "run"), latent_dim=2, gen_options={"hidden": (32, 32)},
                disc_options={"hidden": (32, 32)})
    base.update(more)
    return ganforge.Trainer(**base)


def weights(module):
    return [p.detach().clone() for p in module.parameters()]


class ZSpy(ganforge.Trick):
    """Records the ``ctx.z`` every update sees (listed after infogan)."""

    name = "z_spy_test"
    capturable = False

    def __init__(self, **options):
        super().__init__(**options)
        self.seen = []

    def extra_loss(self, net, ctx):
        self.seen.append((net, ctx.z.detach().clone(), ctx.fake.shape[0]))


def test_the_codes_are_in_the_latents_every_update_sees(register, tmp_path):
    register(tricks=[ZSpy])
    trainer = run(tmp_path, steps=3, tricks=["infogan", "z_spy_test"])
    trainer.fit()
    assert trainer.spec.latent_dim == 2 + 5 + 1  # G(z, c): the noise plus the codes
    assert trainer.tricks[0].q.net[1].in_features == 2
    seen = trainer.tricks[1].seen
    assert {net for net, _, _ in seen} == {"gen", "disc"}
    categories = []
    for _, z, n in seen:
        assert z.shape == (n, 8)
        one_hot, cont = z[:, 2:7], z[:, 7]
        assert torch.all((one_hot == 0) | (one_hot == 1)) and torch.all(one_hot.sum(1) == 1)
        assert torch.all(cont.abs() < 1) and cont.std() > 0.3  # uniform in (-1, 1): std 0.58
        categories.append(one_hot.argmax(1))
    assert set(torch.cat(categories).tolist()) == set(range(5))
    # D's first update sees the latents of G's update (the same fakes).
    assert torch.equal(seen[0][1], seen[1][1])


def test_with_codes_and_codes_invert_each_other():
    trick = InfoGAN(categorical=4, continuous=2)
    z = torch.randn(6, 9)
    category, cont = torch.tensor([0, 1, 2, 3, 3, 0]), torch.rand(6, 2) - 0.5
    coded = trick.with_codes(z, category, cont)
    assert torch.equal(coded[:, :3], z[:, :3])
    got_category, got_cont = trick.codes(coded)
    assert torch.equal(got_category, category) and torch.equal(got_cont, cont)
    with pytest.raises(IncompatibleError, match="cannot hold 6 code entries"):
        trick.with_codes(torch.randn(2, 5), torch.zeros(2, dtype=torch.long))


@pytest.mark.slow
def test_q_learns_the_categorical_code_and_the_information_loss_falls(tmp_path):
    """After 150 steps Q names the category of fresh fakes far above chance (0.2).

    Measured with these settings: 0.95, 0.89, 0.95 for seeds 0, 1, 2; the bound leaves room for other threads.
    """
    trainer = run(tmp_path, steps=150, log_every=50, seed=0)
    trick = trainer.setup().tricks[0]
    start = weights(trick.q)
    trainer.fit()
    losses = [r["info_loss"] for r in trainer.history.records if "info_loss" in r]
    assert len(losses) == 3 and losses[-1] < 0.75 * losses[0]
    category = torch.arange(5).repeat_interleave(200)
    fakes = trick.generate(trainer, category)
    with torch.no_grad():
        logits, _ = trick.q(fakes)
    assert float((logits.argmax(1) == category).float().mean()) > 0.6
    assert trainer.history.records[-1]["info_acc"] > 0.6  # the logged accuracy says the same
    assert not all(torch.equal(a, b) for a, b in zip(start, trick.q.parameters()))


def test_q_is_joined_to_the_generators_optimizer(tmp_path, capsys):
    trainer = run(tmp_path).setup()
    q = trainer.tricks[0].q
    in_g = {id(p) for g in trainer.opt_g.param_groups for p in g["params"]}
    in_d = {id(p) for g in trainer.opt_d.param_groups for p in g["params"]}
    assert all(id(p) in in_g and id(p) not in in_d for p in q.parameters())
    trainer.fit()
    assert "networks: infogan.q (joined to G," in capsys.readouterr().err.splitlines()[0]


def test_the_information_loss_is_the_weighted_code_losses():
    trick = InfoGAN(categorical=3, continuous=2, info_weight=0.5, continuous_weight=0.25, hidden=8)
    from ganforge.interfaces import LossContext, ModelSpec

    trick.networks(ModelSpec((2,), 4))
    z = trick.with_codes(torch.randn(5, 9), torch.tensor([0, 1, 2, 1, 0]), torch.rand(5, 2) * 2 - 1)
    fake = torch.randn(5, 2)
    term = trick.network_loss("q", LossContext(fake, None, fake, None, phase="gen", z=z))
    logits, means = trick.q(fake)
    want = 0.5 * torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 1, 0])) + \
        0.25 * ((means - z[:, 7:]) ** 2).mean()
    assert float(term.detach()) == pytest.approx(float(want.detach()), rel=1e-6)
    assert float(trick.last[0]) == pytest.approx(float(want), rel=1e-6)  # what on_log reports as info_loss


def test_resume_is_bit_exact_for_q_and_every_logged_value(tmp_path):
    whole = run(tmp_path / "whole", steps=6, log_every=1)
    whole.fit()
    half = run(tmp_path / "half", steps=3, log_every=1, checkpoint_every=3)
    half.fit()
    state = torch.load(next((tmp_path / "half" / "run" / "checkpoints").glob("step_*.pt")), weights_only=True)
    assert set(state["networks"]) == {"infogan.q"}
    resumed = ganforge.Trainer.resume(tmp_path / "half" / "run", steps=6)
    resumed.fit()

    def logged(trainer):
        return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in trainer.history.records if "g_loss" in r]

    assert logged(resumed)[-3:] == logged(whole)[-3:] and len(logged(whole)) == 6
    assert all("info_loss" in r for r in logged(whole))
    for net in ("gen", "disc"):
        for a, b in zip(getattr(whole, net).parameters(), getattr(resumed, net).parameters()):
            assert torch.equal(a, b), net
    for a, b in zip(whole.tricks[0].q.parameters(), resumed.tricks[0].q.parameters()):
        assert torch.equal(a, b)


def test_a_latent_transform_listed_after_infogan_is_refused(register, tmp_path):
    class Shift(ganforge.Trick):
        name = "shift_z_test"

        def latent(self, z):
            return z + 1

    register(tricks=[Shift])
    with pytest.raises(IncompatibleError, match="trick 'shift_z_test' transforms the latents after infogan.*"
                                                "list 'shift_z_test' before infogan"):
        run(tmp_path, tricks=["infogan", "shift_z_test"]).setup()
    run(tmp_path / "b", tricks=["shift_z_test", "infogan"], steps=1).fit()  # before it: the codes stay intact
    with pytest.raises(IncompatibleError, match="cannot be combined with"):
        run(tmp_path / "c", tricks=["spherical_z", "infogan"]).setup()


def test_best_assignment_finds_the_permutation():
    counts = torch.tensor([[0, 90, 10], [80, 0, 20], [5, 5, 90]])
    acc, assignment = best_assignment_accuracy(counts)
    assert assignment == [1, 0, 2] and acc == pytest.approx(260 / 300)
    acc, assignment = best_assignment_accuracy(torch.tensor([[50, 50, 0], [50, 50, 0]]))  # two codes, one class
    assert acc == pytest.approx(0.5) and len(set(assignment)) == 2
    with pytest.raises(ValueError, match="3 code values cannot be assigned one-to-one to 2 classes"):
        best_assignment_accuracy(torch.ones(3, 2))


@pytest.mark.parametrize("conditional", [False, True])
def test_the_scheme_traces_whole_and_matches_eager(conditional, tmp_path):
    """Codes drawn on the device, Q's loss from ctx.z, the buffer copy: one traced graph, the eager losses."""
    trainer = ganforge.Trainer(**{**settings(tmp_path, ["infogan"],
                                             trick_options={"infogan": {"categorical": 4, "continuous": 3}}),
                                  "conditional": conditional})
    eager, traced = eager_and_traced(trainer)
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"

"""Capture safety proven on the CPU: the whole training step traces into one graph.

A CUDA graph replays a recorded sequence of kernels: it breaks on a host
synchronisation (``.item()``, ``bool(tensor)``), and it silently goes stale
when the step reads Python state that changes between steps (a counter, a
float schedule). No GPU may be available to this project, so these tests
prove the same property without one: the training step is traced with
``torch.compile(fullgraph=True, backend="eager")``, where either defect is an
error (a graph break is refused by ``fullgraph``; Python state that changes
between calls fails Dynamo's guards, and recompiles are made errors), and
the traced step must give the eager step's losses over enough steps that
every schedule moves.

PyTorch's ``Optimizer.step`` deliberately breaks the graph (see
``torch/optim/optimizer.py``: ``_use_grad_for_differentiable``), and its
``_init_group`` refuses to run after a traced backward, so the test runs both
the eager and the traced step with :func:`functional_step`: the same Adam
(or SGD) update through PyTorch's functional implementation with
``capturable=True``, the form a graphed step runs on a GPU. That it is the
same update as the optimizer's own is checked too (the eager step's losses
with it match the run with ``Optimizer.step`` closely).
"""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
import torch._dynamo

import ganforge
from ganforge.training.optim import build_optimizer  # noqa: F401  (documents where optimizers come from)

#: Steps run eagerly first (optimizer state, lazy modules), then compared.
WARMUP, COMPARED = 2, 6


def functional_step(opt: torch.optim.Optimizer) -> None:
    """``opt.step()`` for Adam/AdamW/SGD written with PyTorch's functional optimizers (traceable)."""
    from torch.optim.adam import adam
    from torch.optim.sgd import sgd

    with torch.no_grad():
        for group in opt.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            grads = [p.grad for p in params]
            states = [opt.state[p] for p in params]
            for p, state in zip(params, states):  # what the optimizer's _init_group does on a first step
                if isinstance(opt, torch.optim.Adam) and not state:
                    state.update(step=torch.zeros((), dtype=torch.float32, device=p.device),
                                 exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            if isinstance(opt, torch.optim.Adam):  # AdamW subclasses Adam in recent PyTorch
                adam(params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [],
                     [s["step"] for s in states], foreach=True, capturable=True, differentiable=False,
                     fused=False, grad_scale=None, found_inf=None, has_complex=False, amsgrad=False,
                     beta1=group["betas"][0], beta2=group["betas"][1], lr=group["lr"],
                     weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
                     decoupled_weight_decay=isinstance(opt, torch.optim.AdamW))
            elif isinstance(opt, torch.optim.SGD):
                buffers = [s.get("momentum_buffer") for s in states]
                sgd(params, grads, buffers, foreach=True,
                    weight_decay=group["weight_decay"], momentum=group["momentum"], lr=group["lr"],
                    dampening=group["dampening"], nesterov=group["nesterov"], maximize=False,
                    has_sparse_grad=False, grad_scale=None, found_inf=None)
                if group["momentum"]:
                    for state, buf in zip(states, buffers):
                        state["momentum_buffer"] = buf
            else:  # pragma: no cover
                raise NotImplementedError(type(opt).__name__)


@pytest.fixture(autouse=True)
def capturable_on_the_cpu(monkeypatch):
    """Let the functional Adam run its capturable form on the CPU too (PyTorch allows it only on GPUs eagerly;
    while tracing it skips that check), so the eager and the traced step run the same arithmetic."""
    import torch.optim.adam as adam_module

    devices = adam_module._get_capturable_supported_devices()
    monkeypatch.setattr(adam_module, "_get_capturable_supported_devices", lambda *a, **k: [*devices, "cpu"])


def settings(tmp_path, tricks=(), data="grid25", **more):
    conditional = any(ganforge.get_plugin("trick", t).requires_labels for t in tricks)
    return dict(data=data, tricks=list(tricks), conditional=conditional, steps=WARMUP + COMPARED,
                batch_size=16, latent_dim=8, gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)},
                log_every=WARMUP + COMPARED, sample_every=0, checkpoint_every=0, progress=False, device="cpu",
                out_dir=str(tmp_path / "run"), **more)


def run_steps(trainer, n: int) -> torch.Tensor:
    """``n`` training steps as the Trainer's loop runs them (host events, the step, the step count)."""
    out = []
    for _ in range(n):
        out.append(trainer._one_step())
        trainer.step += 1
    return torch.stack(out)


def eager_and_traced(trainer, variants: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Losses of COMPARED eager steps and of the same steps traced whole, from the same state.

    ``variants`` is the number of distinct step shapes expected (lazy regularizers due on some steps make a
    second one, as they make a second CUDA graph): exactly that many graphs may be traced, no more.
    """
    trainer.setup()
    trainer.step_fn.optimizer_step = functional_step
    run_steps(trainer, WARMUP)
    start = copy.deepcopy(trainer.state_dict())
    eager = run_steps(trainer, COMPARED)
    trainer.load_state_dict(copy.deepcopy(start))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    step_fn = trainer.step_fn
    with torch._dynamo.config.patch(error_on_recompile=variants == 1, trace_autograd_ops=True):
        trainer._run_step = torch.compile(step_fn.__call__, fullgraph=True, backend="eager")
        traced = run_steps(trainer, COMPARED)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    trainer._run_step = step_fn
    torch._dynamo.reset()
    assert graphs == variants, f"{graphs} graphs traced for {variants} step variant(s): Python state changed per step"
    return eager, traced


def capturable_tricks() -> list[str]:
    # Image-to-image schemes need data with a condition: traced in their own tests.
    return [info.name for info in ganforge.list_plugins("trick") if info.cls.capturable and not info.cls.requires_condition]


CAPTURABLE = capturable_tricks()


@pytest.mark.parametrize("name", CAPTURABLE)
def test_every_capturable_trick_traces_whole_and_matches_eager(name, tmp_path, data_for):
    eager, traced = eager_and_traced(ganforge.Trainer(**settings(tmp_path, [name], data=data_for([name]))))
    assert torch.equal(eager, traced), f"{name}: traced step differs from eager by {(eager - traced).abs().max()}"


def capturable(kind: str) -> list[str]:
    return [info.name for info in ganforge.list_plugins(kind) if info.cls.capturable]


@pytest.mark.parametrize("name", capturable("loss"))
def test_every_capturable_loss_traces_whole_and_matches_eager(name, tmp_path):
    eager, traced = eager_and_traced(ganforge.Trainer(**settings(tmp_path, loss=name)))
    assert torch.equal(eager, traced), f"{name}: traced step differs from eager by {(eager - traced).abs().max()}"


@pytest.mark.parametrize("name", capturable("regularizer"))
def test_every_capturable_regularizer_traces_whole_and_matches_eager(name, tmp_path, image_data):
    """On images, which every regularizer accepts (bcr augments them); applied in every update (every=1)."""
    eager, traced = eager_and_traced(ganforge.Trainer(**settings(tmp_path, data=image_data, regularizers=[name])))
    assert torch.equal(eager, traced), f"{name}: traced step differs from eager by {(eager - traced).abs().max()}"


def test_the_toolkit_together_traces_whole(tmp_path, image_data):
    """hinge + r1 + bcr + diffaugment (adaptive) + clip_weights + EMA in one traced step; adaptive p moves in it."""
    trainer = ganforge.Trainer(**settings(
        tmp_path, ["diffaugment", "clip_weights"], data=image_data, loss="hinge", regularizers=["r1", "bcr"],
        ema_decay=0.9, trick_options={"diffaugment": {"adaptive": True, "p": 0.5, "adjust_every": 1,
                                                      "adjust_images": 160}}))
    eager, traced = eager_and_traced(trainer)
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"
    p = trainer.tricks[0].p
    assert p.shape == () and float(p) != 0.5  # moved by 0.1 per D update inside the traced steps
    assert float(p) * 10 == pytest.approx(round(float(p) * 10), abs=1e-5)


def test_non_capturable_tricks_are_the_ones_that_say_so():
    rest = set(i.name for i in ganforge.list_plugins("trick") if not i.cls.requires_condition) - set(CAPTURABLE)
    assert sorted(rest) == ["loss_balancing"]


def test_ema_and_schedules_trace_whole_and_move(tmp_path):
    schedule = {"lr": 1e-3, "schedule": "linear", "final_lr": 1e-4, "warmup": 2}
    trainer = ganforge.Trainer(**settings(tmp_path, ema_decay=0.9, ema_warmup=3, g_optim=schedule,
                                          d_optim={**schedule, "schedule": "cosine"}))
    eager, traced = eager_and_traced(trainer)
    assert torch.equal(eager, traced)
    # Both moved during the traced steps: the learning rates follow the schedule, the average was updated.
    lr_g = trainer.opt_g.param_groups[0]["lr"]
    assert torch.is_tensor(lr_g) and float(lr_g) < 1e-3
    assert float(trainer.ema.updates) == WARMUP + COMPARED


def test_hyper_parameter_schedules_trace_whole_and_move(tmp_path):
    """Scheduled betas, R1's gamma and the EMA half-life are device tensors the traced step rewrites."""
    schedules = {"d_optim.beta2": "cosine:0.9:0.99", "g_optim.beta1": "linear:0.5:0.0",
                 "r1.gamma": "cosine:1:0.1", "ema.half_life": "linear:0:8"}
    trainer = ganforge.Trainer(**settings(tmp_path, regularizers=["r1"], ema_decay=0.9, schedules=schedules))
    eager, traced = eager_and_traced(trainer)
    assert torch.equal(eager, traced)
    assert float(trainer.opt_d.param_groups[0]["betas"][1]) == pytest.approx(0.99)  # the end of the run
    assert float(trainer.regularizers[0].options.gamma) == pytest.approx(0.1)


def test_lazy_regularization_traces_one_graph_per_variant(tmp_path):
    """R1 every 2 steps: steps with and without the lazy update are two shapes of work, two graphs, no more."""
    trainer = ganforge.Trainer(**settings(tmp_path, regularizers=["r1", "r2"],
                                          regularizer_options={"r1": {"every": 2}}))
    eager, traced = eager_and_traced(trainer, variants=2)
    assert torch.equal(eager, traced)


def test_the_functional_update_is_the_optimizers_own(tmp_path):
    """Losses with functional_step track those with Optimizer.step (fused Adam) to float rounding."""
    torch.manual_seed(0)
    own = ganforge.Trainer(**settings(tmp_path / "own")).fit()
    functional = ganforge.Trainer(**settings(tmp_path / "functional"))
    functional.setup()
    functional.step_fn.optimizer_step = functional_step
    functional.fit()
    assert functional.history.g_loss == pytest.approx(own.g_loss, rel=1e-4, abs=1e-5)
    assert functional.history.d_loss == pytest.approx(own.d_loss, rel=1e-4, abs=1e-5)


def test_a_host_synchronisation_in_the_step_fails_the_trace(tmp_path, register):
    """The proof can fail: a trick that reads a tensor on the host inside the step breaks the trace."""

    class Syncing(ganforge.Trick):
        """Reads D's loss on the host in-step (the defect under test)."""

        name = "syncing"

        def targets(self, real_targets, fake_targets):
            if float(real_targets.sum()) > 0:  # a host synchronisation
                return real_targets, fake_targets
            return real_targets, fake_targets

    register(tricks=[Syncing])
    try:
        with pytest.raises(Exception, match="(?i)graph break|unsupported|data-dependent"):
            eager_and_traced(ganforge.Trainer(**settings(tmp_path, ["syncing"])))
    finally:
        torch._dynamo.reset()


def test_python_state_changed_per_step_fails_the_trace(tmp_path, register):
    """A trick whose in-step event reads a Python counter it advances each step would go stale in a graph."""

    class Counting(ganforge.Trick):
        """Scales the latents by a Python number that changes every step (the defect under test)."""

        name = "counting"
        count = 0

        def latent(self, z):
            return z * (1 + 0.01 * self.count)

        def after_step(self, ctx, step):
            self.count += 1

    register(tricks=[Counting])
    try:
        with pytest.raises(Exception, match="(?i)recompil"):
            eager_and_traced(ganforge.Trainer(**settings(tmp_path, ["counting"])))
    finally:
        torch._dynamo.reset()


def runnable_pairs() -> list[tuple[str, str]]:
    """The pairs of capturable tricks the pair test trains (not refused up front: no conflict, no label clash)."""
    classes = {i.name: i.cls for i in ganforge.list_plugins("trick")}
    out = []
    for a, b in itertools.combinations(sorted(CAPTURABLE), 2):
        ca, cb = classes[a], classes[b]
        if a in cb.conflicts or b in ca.conflicts:
            continue
        if (ca.requires_labels and b == "pack") or (cb.requires_labels and a == "pack"):
            continue  # pack refuses conditional training, which the label tricks need
        out.append((a, b))
    return out


@pytest.mark.parametrize("pair", runnable_pairs(), ids=lambda p: "+".join(p))
def test_every_pair_of_capturable_tricks_traces_whole_and_matches_eager(pair, tmp_path, data_for):
    eager, traced = eager_and_traced(ganforge.Trainer(**settings(tmp_path, pair, data=data_for(pair))))
    assert torch.equal(eager, traced), f"{pair}: traced step differs from eager by {(eager - traced).abs().max()}"


def _tiny_mnist(root) -> str:
    """Write a 64-image MNIST-format test split (random 28x28 digits, labels 0-9) into ``root``; return it."""
    import numpy as np

    from ganforge.data.idx import write_idx

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    write_idx(root / "t10k-images-idx3-ubyte", rng.integers(0, 256, (64, 28, 28), dtype=np.uint8))
    write_idx(root / "t10k-labels-idx1-ubyte", (np.arange(64) % 10).astype(np.uint8))
    return str(root)


#: Spectral normalisation on in both models (power iteration inside the step): the settings each case changes.
SPECTRAL_NORM = {
    "mlp": lambda tmp: dict(gen_options={"hidden": (16,), "spectral_norm": True},
                            disc_options={"hidden": (16,), "spectral_norm": True}),
    # Conditional: conditional batch norm in G, a projection D whose class embedding is normalised too.
    "sngan": lambda tmp: dict(gen="sngan", disc="sngan", data="mnist", data_root=_tiny_mnist(tmp / "data"),
                              split="test", image_size=32, conditional=True,
                              gen_options={"width": 4, "spectral_norm": True}, disc_options={"width": 4}),
}


@pytest.mark.parametrize("family", ["mlp", pytest.param("sngan", marks=pytest.mark.slow)])
def test_spectral_norm_traces_whole_and_matches_eager(family, tmp_path):
    """The power iteration updates its vectors in place on the device: traced, the step moves them as eager does."""
    changes = SPECTRAL_NORM[family](tmp_path)
    trainer = ganforge.Trainer(**{**settings(tmp_path), **changes})
    eager, traced = eager_and_traced(trainer)
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"
    # The same steps run eagerly from the start end in the same weights and power-iteration vectors.
    plain = ganforge.Trainer(**{**settings(tmp_path / "eager"), **changes})
    plain.setup()
    plain.step_fn.optimizer_step = functional_step
    run_steps(plain, WARMUP + COMPARED)
    for net in ("gen", "disc"):
        graphed, eager_state = getattr(trainer, net).state_dict(), getattr(plain, net).state_dict()
        assert any(k.endswith("._u") for k in graphed)
        for key, value in graphed.items():
            assert torch.equal(value, eager_state[key]), f"{net}.{key}"


def test_a_conditioned_scheme_with_networks_traces_whole(tmp_path, register):
    """The generic step's pieces in one traced step: conditions split from the batch and given to G and D, a
    network joined to G and one with its own optimizer (their losses in the context), lazy R1."""
    from test_generic_step import Judge, Networks, PairedPoints, Translator

    class ConditionedNetworks(Networks):
        name = "conditioned_networks_test"

    register(datasets=[PairedPoints], generators=[Translator], discriminators=[Judge], tricks=[ConditionedNetworks])
    trainer = ganforge.Trainer(**{**settings(tmp_path, ["conditioned_networks_test"], data="paired_points",
                                             gen="translator", disc="judge", regularizers=["r1"], ema_decay=0.9),
                                  "gen_options": {}, "disc_options": {}})
    eager, traced = eager_and_traced(trainer)
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"


def test_a_game_other_than_data_against_g_traces_whole(tmp_path, register):
    """A trick's ``compared`` sides (an adversarial autoencoder's codes) and a generator-only step variant."""
    from test_generic_step import LatentGame

    class Game(LatentGame):
        name = "traced_latent_game_test"

        def network_loss(self, name, ctx):
            return ((ctx.generate(self.enc(ctx.data)) - ctx.data) ** 2).mean()

        def d_steps_at(self, step):
            return 0 if step % 2 else None

    register(tricks=[Game])
    trainer = ganforge.Trainer(**settings(tmp_path, ["traced_latent_game_test"], regularizers=["r1"]))
    eager, traced = eager_and_traced(trainer, variants=2)
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"

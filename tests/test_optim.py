"""Optimizers: what build_optimizer makes, and loading saved state into them without changing how they run."""

import copy

import pytest
import torch

from ganforge.config import OptimConfig
from ganforge.training.optim import build_optimizer, load_optimizer_state

CPU = torch.device("cpu")


def trained_conv():
    """A conv layer after two fused Adam steps (as ganforge builds it), the optimizer's state (deep copy), the input."""
    torch.manual_seed(0)
    conv, x = torch.nn.Conv2d(4, 8, 3), torch.randn(2, 4, 8, 8)
    opt = torch.optim.Adam(conv.parameters(), fused=True)
    for _ in range(2):
        opt.zero_grad()
        conv(x).square().sum().backward()
        opt.step()
    return conv, copy.deepcopy(opt.state_dict()), x


def one_step_after_loading(conv, state, x, channels_last, load):
    model = torch.nn.Conv2d(4, 8, 3)
    model.load_state_dict(conv.state_dict())
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), fused=True)
    load(opt, copy.deepcopy(state))
    opt.zero_grad()
    model(x).square().sum().backward()
    opt.step()
    return model.weight.detach(), opt


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop"])
def test_capturable_optimizers_keep_their_step_on_the_device(name):
    opt = build_optimizer(torch.nn.Linear(3, 2).parameters(), OptimConfig(name=name), CPU, capturable=True)
    assert opt.param_groups[0]["capturable"] is True


def test_sgd_is_built_with_momentum():
    opt = build_optimizer(torch.nn.Linear(3, 2).parameters(), OptimConfig(name="sgd", lr=0.1, momentum=0.5), CPU)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.5


def test_loading_keeps_the_flags_the_optimizer_was_built_with():
    """A checkpoint from an eager (non-capturable, non-fused) run must not switch a graphed run's optimizer back."""
    params = [torch.nn.Parameter(torch.randn(3))]
    saved = torch.optim.Adam(params, capturable=False, foreach=False).state_dict()
    opt = torch.optim.Adam([torch.nn.Parameter(torch.randn(3))], capturable=True, fused=True)
    load_optimizer_state(opt, saved)
    assert opt.param_groups[0]["capturable"] is True and opt.param_groups[0]["fused"] is True
    assert opt.param_groups[0]["foreach"] is None
    plain = torch.optim.Adam([torch.nn.Parameter(torch.randn(3))], capturable=True, fused=True)
    plain.load_state_dict(saved)
    assert plain.param_groups[0]["capturable"] is False  # what load_optimizer_state guards against


def test_loaded_step_counters_are_placed_by_the_built_flags():
    """PyTorch moves ``step`` by the loaded groups' flags: a capturable RMSprop must get a float32 tensor step."""
    param = torch.nn.Parameter(torch.randn(3))
    eager = torch.optim.RMSprop([param], capturable=False)
    param.grad = torch.ones(3)
    eager.step()
    saved = copy.deepcopy(eager.state_dict())
    saved["state"][0]["step"] = torch.tensor(1, dtype=torch.int64)  # not how a capturable optimizer keeps it
    opt = torch.optim.RMSprop([torch.nn.Parameter(torch.randn(3))], capturable=True)
    load_optimizer_state(opt, saved)
    step = next(iter(opt.state.values()))["step"]
    assert opt.param_groups[0]["capturable"] is True and step.dtype == torch.float32
    plain = torch.optim.RMSprop([torch.nn.Parameter(torch.randn(3))], capturable=True)
    plain.load_state_dict(copy.deepcopy(saved))
    assert next(iter(plain.state.values()))["step"].dtype == torch.int64  # left as saved


def test_moments_follow_the_parameters_memory_layout():
    """Moments saved from contiguous weights, resumed into channels_last weights (CPU checkpoint -> CUDA run)."""
    conv, state, x = trained_conv()
    expected, _ = one_step_after_loading(conv, state, x, channels_last=False, load=torch.optim.Adam.load_state_dict)
    got, opt = one_step_after_loading(conv, state, x, channels_last=True, load=load_optimizer_state)
    moments = opt.state[opt.param_groups[0]["params"][0]]
    assert moments["exp_avg"].is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(got, expected, rtol=0, atol=1e-6)
    # Plain loading leaves the moments contiguous, and fused Adam then computes a wrong step.
    wrong, _ = one_step_after_loading(conv, state, x, channels_last=True, load=torch.optim.Adam.load_state_dict)
    assert (wrong - expected).abs().max() > 1e-4

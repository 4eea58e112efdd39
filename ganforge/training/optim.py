"""Building optimizers from :class:`~ganforge.config.OptimConfig`."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ganforge.config import OptimConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], config: OptimConfig, device: torch.device,
                    capturable: bool = False, tensor_betas: bool = False) -> torch.optim.Optimizer:
    """An optimizer for ``params`` per ``config``.

    Adam and AdamW use the fused implementation where the device supports it
    (one kernel for all parameters instead of several per tensor); with
    ``capturable=True`` they keep their step counters on the device so the
    update can be captured in a CUDA graph.

    ``tensor_betas=True`` (scheduled betas, :func:`~ganforge.training.schedules.bind_schedules`)
    builds Adam so that it reads betas held in device tensors without a host
    synchronisation: PyTorch's fused kernel takes betas as Python floats (a
    tensor is read back to the host at every step), so on a GPU the
    capturable multi-tensor form is used instead (other accelerators: the
    single-tensor form); on the CPU, where reading a tensor costs no
    synchronisation, the fused kernel stays.
    """
    params = [p for p in params if p.requires_grad]
    if config.name in ("adam", "adamw"):
        cls = torch.optim.Adam if config.name == "adam" else torch.optim.AdamW
        kwargs = dict(lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
        if tensor_betas and device.type == "cuda":
            return cls(params, **kwargs, foreach=True, capturable=True)
        if tensor_betas and device.type != "cpu":  # e.g. mps: the single-tensor form reads tensor betas
            return cls(params, **kwargs, foreach=False)
        if device.type in ("cuda", "cpu"):
            kwargs["fused"] = True
            if capturable:
                kwargs["capturable"] = True
        try:
            return cls(params, **kwargs)
        except (RuntimeError, TypeError):  # older torch without fused support here
            kwargs.pop("fused", None)
            return cls(params, **kwargs)
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               capturable=capturable)


#: Param-group settings that say how an optimizer runs, not what it computes.
IMPLEMENTATION_FLAGS = ("capturable", "fused", "foreach", "differentiable")


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a saved optimizer state, keeping how ``optimizer`` was built to run here.

    ``Optimizer.load_state_dict`` also takes the saved run's implementation
    flags (``capturable``, ``fused``...) and keeps each state tensor's memory
    layout. A checkpoint from a CPU or eager run resumed as a CUDA-graphed run
    would then lose ``capturable`` (and capture fails), and moments saved from
    contiguous weights would not match channels_last weights (fused Adam needs
    equal layouts). So this restores the flags this optimizer was built with and
    gives every state tensor shaped like its parameter that parameter's layout.
    """
    built = [{k: g[k] for k in IMPLEMENTATION_FLAGS if k in g} for g in optimizer.param_groups]
    # Put the flags into the saved groups before loading: PyTorch places each loaded ``step``
    # counter (on the parameter's device, or not) by the flags of the groups it loads.
    groups = [{**saved, **flags} for saved, flags in zip(state["param_groups"], built)]
    optimizer.load_state_dict({**state, "param_groups": groups})
    for param, param_state in optimizer.state.items():
        for key, value in param_state.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                param_state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)

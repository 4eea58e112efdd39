"""A third-party ganforge plugin: a tiny generator and a trick that counts its steps."""

import torch
from torch import nn

import ganforge


class TinyGenerator(ganforge.Generator):
    """One linear layer and a tanh (test plugin)."""

    name = "tiny"

    def __init__(self, spec, width: int = 8):
        super().__init__(spec)
        self.net = nn.Sequential(nn.Linear(spec.latent_dim, width), nn.Tanh(), nn.Linear(width, 2), nn.Tanh())

    def forward(self, z, labels=None):
        return self.net(z)


class CountSteps(ganforge.Trick):
    """Counts the steps it saw (test plugin)."""

    name = "count_steps"

    def __init__(self):
        self.count = torch.zeros((), dtype=torch.long)

    def before_step(self, trainer, step):
        self.count += 1

    def on_log(self, trainer, step, values):
        return {"count_steps": int(self.count)}

    def state_dict(self):
        return {"count": self.count.clone()}

    def load_state_dict(self, state):
        self.count = state["count"].clone()


@ganforge.hookimpl
def ganforge_register_generators():
    return [TinyGenerator]


@ganforge.hookimpl
def ganforge_register_tricks():
    return [CountSteps]

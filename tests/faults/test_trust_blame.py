"""A failure inside a plugin that is the run's settings or resources is not called the plugin's bug.

Issue #24 (unclear): "user mistakes reported as 'an error in the plugin: report it to its
author'". Out of memory, and tensors that do not fit (data of another shape than a model was
set up for), now say what to check first; other exceptions still name the plugin's author.
"""

from __future__ import annotations

import torch
from torch import nn

import ganforge
from ganforge.cli import main

SMALL = ["--data", "grid25", "--batch-size", "16", "--latent-dim", "8", "--device", "cpu", "--log-every", "5",
         "--sample-every", "0", "--checkpoint-every", "5", "--steps", "10", "--no-progress"]


class FixedWidth(ganforge.Discriminator):
    """A critic built for 5-wide inputs whatever the data (test)."""

    name = "fixed_width"

    def __init__(self, spec):
        super().__init__(spec)
        self.body = nn.Linear(5, 8)
        self.head = nn.Linear(8, 1)

    def features(self, x, labels=None):
        return self.body(x)


class Hungry(ganforge.Trick):
    """Asks for far more memory than any machine has (test)."""

    name = "hungry"

    def after_step(self, ctx, step):
        torch.empty(2**62, dtype=torch.uint8)


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_data_a_model_does_not_fit_points_at_the_settings_first(tmp_path, capsys, register):
    register(discriminators=[FixedWidth])
    assert main(["train", *SMALL, "--disc", "fixed_width", "--out", str(tmp_path / "run")]) == 1
    line = _error_line(capsys.readouterr().err)
    assert line.startswith("ganforge: error: The discriminator 'fixed_width' (")
    assert "failed in FixedWidth.features() at step 1: RuntimeError: mat1 and mat2 shapes cannot be multiplied" in line
    assert line.endswith(
        "Tensors of shapes that do not fit: check that the data (its shape, image_size, channels, conditional labels) "
        "suits this model and its options; if they do, the plugin has a bug: report it to its author ('ganforge "
        "--debug' shows the traceback).")


def test_running_out_of_memory_is_not_called_a_plugin_bug(tmp_path, capsys, register):
    register(tricks=[Hungry])
    assert main(["train", *SMALL, "--tricks", "hungry", "--out", str(tmp_path / "run")]) == 1
    line = _error_line(capsys.readouterr().err)
    assert "failed in Hungry.after_step() at step 1" in line
    assert line.endswith("The run ran out of memory: lower batch_size (--batch-size), the models' width or the image "
                         "size, or free memory; this is not a fault of the plugin.")
    assert "report it to its author" not in line

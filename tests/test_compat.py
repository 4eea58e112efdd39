"""Which step path a run takes, and which trick combinations are refused before the first step."""

import pytest
import torch

from ganforge.config import TrainConfig
from ganforge.errors import IncompatibleError
from ganforge.registry import get_registry
from ganforge.training.combinations import check_tricks, graph_path

CUDA = torch.device("cuda")  # a device name only: nothing here runs on it


def tricks(*names):
    return [get_registry().create("trick", name) for name in names]


def test_graphs_are_chosen_on_cuda_when_nothing_stands_in_the_way():
    assert graph_path(TrainConfig(), CUDA, False, tricks("soft_labels", "instance_noise")) == (True, "")


@pytest.mark.parametrize(("settings", "distributed", "names", "reason"), [
    ({}, False, (), "device is cpu"),
    ({"precision": "fp16"}, False, (), "fp16 needs a GradScaler"),
    ({"compile": True}, False, (), "torch.compile is on"),
    ({}, True, (), "DDP is on"),
    ({"nan_policy": "skip"}, False, (), "nan_policy='skip'"),
    ({}, False, ("loss_balancing",), "trick 'loss_balancing' is not capturable"),
])
def test_each_obstacle_gives_the_eager_path_and_says_why(settings, distributed, names, reason):
    device = torch.device("cpu") if reason == "device is cpu" else CUDA
    use, why = graph_path(TrainConfig(**settings), device, distributed, tricks(*names))
    assert use is False and reason in why
    with pytest.raises(IncompatibleError, match="cuda_graphs='on' but the step cannot be captured: .*" + reason[:12]):
        graph_path(TrainConfig(cuda_graphs="on", **settings), device, distributed, tricks(*names))


def test_off_switch_wins_and_is_named():
    assert graph_path(TrainConfig(cuda_graphs="off"), CUDA, False, []) == (False, "cuda_graphs='off'")


def test_several_obstacles_are_all_listed():
    _, why = graph_path(TrainConfig(precision="fp16", nan_policy="skip"), CUDA, True, [])
    assert why.count(";") == 2


def test_conflicting_tricks_are_refused():
    from ganforge.data.mixtures import Grid25

    with pytest.raises(IncompatibleError, match="cannot be combined with"):
        check_tricks(tricks("soft_labels", "one_sided_label_smoothing"), Grid25(), TrainConfig(), False)


def test_tricks_that_cannot_run_under_ddp_are_refused_only_there():
    from ganforge.data.mixtures import Grid25

    check_tricks(tricks("loss_balancing"), Grid25(), TrainConfig(), False)
    with pytest.raises(IncompatibleError, match="cannot run under DDP.*strategy='none'"):
        check_tricks(tricks("loss_balancing"), Grid25(), TrainConfig(), True)

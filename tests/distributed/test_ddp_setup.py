"""DDP in one process (a gloo world of one) and the pieces that shard data: checks that need no second process."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

import ganforge
from ganforge.data.loader import DistributionBatches, TensorBatches
from ganforge.registry import Registry, make_plugin_manager
from ganforge.training.distributed import DistContext

TRICKS = sorted(i.name for i in Registry(*make_plugin_manager(load_entry_points=False)).list("trick") if i.cls.ddp_safe
                and not i.cls.requires_condition)  # image-to-image schemes: tests/distributed/test_ddp_schemes.py
#: Settings that make a trick's DDP-specific code run: adaptive diffaugment sums its statistics over the ranks.
TRICK_OPTIONS = {"diffaugment": {"trick_options": {"diffaugment": {"adaptive": True, "adjust_every": 1,
                                                                   "adjust_images": 160}}}}


def test_tensor_batches_give_each_rank_its_slice_of_the_same_global_batch():
    data = torch.arange(40.0).reshape(20, 2)
    one = TensorBatches(data, None, 8, torch.device("cpu"), seed=3)
    ranks = [TensorBatches(data, None, 8, torch.device("cpu"), seed=3, rank=r, world_size=2) for r in (0, 1)]
    for _ in range(5):  # crosses two reshuffles (2 full batches per epoch)
        whole, _ = one.next()
        halves = [r.next()[0] for r in ranks]
        assert halves[0].shape == (4, 2)
        assert torch.equal(torch.cat(halves), whole)
    assert ranks[0].state_dict()["position"] == ranks[1].state_dict()["position"] == one.state_dict()["position"]


def test_distribution_batches_shard_a_global_draw(dist_helpers):
    dataset = ganforge.get_registry().create("dataset", "grid25")
    torch.manual_seed(5)
    whole, labels = DistributionBatches(dataset, 16, torch.device("cpu")).next()
    parts = []
    for rank in (0, 1):
        torch.manual_seed(5)  # every rank's RNG is seeded alike
        parts.append(DistributionBatches(dataset, 16, torch.device("cpu"), rank=rank, world_size=2).next())
    assert torch.equal(torch.cat([p[0] for p in parts]), whole)
    assert not torch.equal(parts[0][0], parts[1][0])
    if labels is not None:
        assert torch.equal(torch.cat([p[1] for p in parts]), labels)


def test_the_global_batch_must_divide_among_the_ranks():
    ctx = DistContext(False)
    ctx.world_size = 4
    assert ctx.split_batch(64) == 16
    with pytest.raises(ganforge.ConfigError, match=r"'batch_size' 30 is the global batch .* 4 processes; use a "
                                                   r"multiple of 4 \(e.g. 28\)"):
        ctx.split_batch(30)


def test_strategy_none_refuses_a_torchrun_launch(tmp_path, monkeypatch, dist_helpers):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ganforge.ConfigError, match="strategy='none' but this process was launched as one of "
                                                   "WORLD_SIZE=2"):
        ganforge.Trainer(**dist_helpers.tiny_settings(tmp_path / "run"), steps=2, strategy="none").setup()


@pytest.mark.parametrize(
    "settings, error, message",
    [({"tricks": ["loss_balancing"]}, ganforge.IncompatibleError, "Trick 'loss_balancing' cannot run under DDP"),
     ({"sync_batchnorm": True}, ganforge.IncompatibleError, "sync_batchnorm=True needs CUDA devices")],
)
def test_what_ddp_cannot_do_is_refused_and_the_group_is_left(settings, error, message, tmp_path, dist_helpers):
    with pytest.raises(error, match=message):
        ganforge.Trainer(**dist_helpers.tiny_settings(tmp_path / "run"), steps=2, strategy="ddp", **settings).setup()
    assert not dist.is_initialized()  # the one-process group ganforge made is gone


def test_log_line_names_the_path_and_the_world(tmp_path, capsys, dist_helpers):
    settings = {**dist_helpers.tiny_settings(tmp_path / "run"), "progress": True}
    ganforge.Trainer(**settings, steps=2, log_every=1, strategy="ddp").fit()
    err = capsys.readouterr().err
    assert "eager step (device is cpu; DDP is on (capturing its gradient all-reduce in the step's graph is not " \
           "verified)), DDP over 1 process(es) (gloo, rank 0), 16 samples per rank" in err
    assert not dist.is_initialized()


def test_ddp_wrappers_do_not_broadcast_buffers_before_each_forward(tmp_path, dist_helpers):
    """D runs forward twice before one backward; an in-place buffer broadcast in between breaks it on older PyTorch."""
    trainer = ganforge.Trainer(**dist_helpers.tiny_settings(tmp_path / "run"), steps=2, strategy="ddp").setup()
    try:
        for wrapper in (trainer.step_fn.gen, trainer.step_fn.disc):
            assert isinstance(wrapper, torch.nn.parallel.DistributedDataParallel)
            assert getattr(wrapper, "forward_sync_buffers", getattr(wrapper, "broadcast_buffers", None)) is False
    finally:
        trainer.dist.close(trainer.step_fn)
    assert not dist.is_initialized()


@pytest.mark.filterwarnings(r"ignore:Step \d+:")
@pytest.mark.parametrize("trick", TRICKS)
def test_each_trick_under_ddp_equals_one_process(trick, tmp_path, dist_helpers, data_for):
    """A world of one runs DDP's reducer (hooks, buckets, unused-parameter checks) and must change nothing."""
    cls = {i.name: i.cls for i in ganforge.list_plugins("trick")}[trick]
    extra = {"conditional": True} if cls.requires_labels else {}
    extra.update(TRICK_OPTIONS.get(trick, {}))
    runs = []
    for strategy in ("none", "ddp"):
        settings = dist_helpers.tiny_settings(tmp_path / strategy, tricks=[trick], steps=4, log_every=2,
                                              checkpoint_every=0, **extra)
        settings["data"] = data_for([trick])  # grid25, or tiny images for an image-only trick
        trainer = ganforge.Trainer(**settings, strategy=strategy)
        trainer.fit()
        runs.append(trainer)
    one, ddp = runs
    assert ddp.history.g_loss == one.history.g_loss and ddp.history.d_loss == one.history.d_loss
    for net in ("gen", "disc"):
        for (k, a), b in zip(getattr(one, net).state_dict().items(), getattr(ddp, net).state_dict().values()):
            assert torch.equal(a, b), f"{net}.{k}"


class _StopAtTwo(ganforge.Trick):
    name = "stop_at_two"

    def after_step(self, trainer, step):
        if step == 1:
            trainer.request_stop("test stop")


def test_a_stop_request_takes_effect_at_the_next_log_under_ddp(tmp_path, dist_helpers, register):
    """So that every rank stops after the same step (they agree at each log; no per-step check)."""
    register(tricks=[_StopAtTwo])
    steps = {}
    for strategy in ("none", "ddp"):
        settings = dist_helpers.tiny_settings(tmp_path / strategy, tricks=["stop_at_two"], steps=20, log_every=5,
                                              checkpoint_every=0)
        steps[strategy] = ganforge.Trainer(**settings, strategy=strategy).fit()
    assert len(steps["none"].g_loss) == 2 and len(steps["ddp"].g_loss) == 5

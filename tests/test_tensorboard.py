"""Optional TensorBoard logging."""

from __future__ import annotations

import pytest

import ganforge


def test_tensorboard_receives_the_logged_scalars(tiny, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install 'ganforge[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ganforge.Trainer(data="grid25", tensorboard=True, gen_options={"hidden": (8,)}, **tiny).fit()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert {"g_loss", "d_loss", "steps_per_s"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("g_loss")] == [10, 20]


def test_missing_tensorboard_is_a_clear_error(tiny, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ganforge.ConfigError, match=r"needs the tensorboard package: pip install 'ganforge\[tensorboard\]'"):
        ganforge.Trainer(data="grid25", tensorboard=True, **tiny)
    assert not (tmp_path / "run").exists()

"""ganforge sample / interpolate / plot on tiny saved runs (grid25, and conditional MNIST when present)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge import Trainer
from ganforge.cli import main
from ganforge.cli.plot import group_keys, read_metrics

SMALL = dict(steps=20, batch_size=32, log_every=5, sample_every=0, checkpoint_every=0, progress=False,
             device="cpu", gen_options={"hidden": [32, 32]}, disc_options={"hidden": [32, 32]})
RED = np.array([217, 38, 25])  # ganforge.io.viz's fake-sample colour (0.85, 0.15, 0.1) as saved


def train(path: Path, **settings) -> Path:
    Trainer(**{**SMALL, "out_dir": str(path), **settings}).fit()
    return path


@pytest.fixture
def grid_run(tmp_path) -> Path:
    return train(tmp_path / "grid", data="grid25")


@pytest.fixture
def mnist_run(tmp_path, mnist_root) -> Path:
    return train(tmp_path / "mnist", data="mnist", data_root=str(mnist_root), split="test", conditional=True)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def red_pixels(path: Path) -> int:
    """Pixels a sample covers: red, solid where samples pile up and pale (opacity 0.3) for a lone one."""
    img = pixels(path)
    return int(((img[..., 0] - img[..., 1] > 40) & (img[..., 0] - img[..., 2] > 40)).sum())


def tile(img: np.ndarray, row: int, col: int, size: int = 28, pad: int = 2) -> np.ndarray:
    top, left = pad + row * (size + pad), pad + col * (size + pad)
    return img[top:top + size, left:left + size]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- sample ---------------------------------------------------------------------------


def test_sample_grid25_writes_a_scatter_of_n_points(grid_run, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "sample", grid_run, "--out", tmp_path / "many.png")
    assert code == 0 and "Wrote 2048 samples of step 20" in out
    code, _, _ = run_cli(capsys, "sample", grid_run, "-n", "10", "--out", tmp_path / "few.png")
    assert code == 0
    assert pixels(tmp_path / "many.png").shape == (512, 512, 3)
    many, few = red_pixels(tmp_path / "many.png"), red_pixels(tmp_path / "few.png")
    assert 0 < few <= 10 * 9 < many  # each point is a 3x3 red square


def test_sample_default_out_and_seed(grid_run, capsys):
    assert run_cli(capsys, "sample", grid_run, "-n", "100")[0] == 0
    first = (grid_run / "sample.png").read_bytes()
    assert run_cli(capsys, "sample", grid_run, "-n", "100")[0] == 0
    assert (grid_run / "sample.png").read_bytes() == first  # default seed 0: same picture
    assert run_cli(capsys, "sample", grid_run, "-n", "100", "--seed", "5")[0] == 0
    assert (grid_run / "sample.png").read_bytes() != first


def test_sample_image_grid_size_padding_and_class(mnist_run, tmp_path, capsys):
    assert run_cli(capsys, "sample", mnist_run, "-n", "16", "--out", tmp_path / "sq.png")[0] == 0
    img = pixels(tmp_path / "sq.png")
    assert img.shape == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2, 3)  # 4 x 4 grid, 2-pixel padding
    assert (img[:2] == 255).all() and (img[:, :2] == 255).all()  # white padding
    assert tile(img, 0, 0).std() > 1  # an image, not a blank tile
    checkpoint = sorted((mnist_run / "checkpoints").glob("step_*.pt"))[-1]
    assert run_cli(capsys, "sample", checkpoint, "-n", "16", "--nrow", "8", "--out", tmp_path / "wide.png")[0] == 0
    assert pixels(tmp_path / "wide.png").shape == (2 * 28 + 3 * 2, 8 * 28 + 9 * 2, 3)
    # Same latents, other class: other images.
    for c in (3, 7):
        assert run_cli(capsys, "sample", mnist_run, "-n", "4", "--class", c, "--out", tmp_path / f"c{c}.png")[0] == 0
    assert np.abs(pixels(tmp_path / "c3.png") - pixels(tmp_path / "c7.png")).mean() > 1


def test_sample_errors(grid_run, mnist_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", tmp_path / "nowhere")
    assert code == 1 and "no such run folder or checkpoint file" in err
    code, _, err = run_cli(capsys, "sample", mnist_run, "--class", "10")
    assert code == 2 and "--class must be from 0 to 9" in err
    code, _, err = run_cli(capsys, "sample", grid_run, "--class", "1")
    assert code == 2 and "--class needs a conditional run" in err
    code, _, err = run_cli(capsys, "sample", grid_run, "--out", tmp_path / "x.jpg")
    assert code == 2 and "--out must name a .png or .npz or .pt file" in err
    code, _, err = run_cli(capsys, "sample", grid_run, "-n", "0")
    assert code == 2 and "-n must be an integer >= 1" in err


# -- interpolate -------------------------------------------------------------------------


def test_interpolate_rows_share_ends_between_methods(mnist_run, tmp_path, capsys):
    for method in ("slerp", "lerp"):
        code, out, _ = run_cli(capsys, "interpolate", mnist_run, "--method", method, "--rows", "3", "--steps", "5",
                               "--out", tmp_path / f"{method}.png")
        assert code == 0 and f"3 {method} paths of 5 samples" in out
    slerp, lerp = pixels(tmp_path / "slerp.png"), pixels(tmp_path / "lerp.png")
    assert slerp.shape == (3 * 28 + 4 * 2, 5 * 28 + 6 * 2, 3)
    for row in range(3):
        for col in (0, 4):  # the ends are the same latent pair whatever the path
            assert np.abs(tile(slerp, row, col) - tile(lerp, row, col)).max() <= 1
    # The straight path's middle lies nearer the origin than the great circle's: other images.
    assert np.abs(tile(slerp, 0, 2) - tile(lerp, 0, 2)).mean() > 1
    # Neighbouring points of a path look more alike than the two ends.
    near = np.abs(tile(slerp, 0, 0) - tile(slerp, 0, 1)).mean()
    far = np.abs(tile(slerp, 0, 0) - tile(slerp, 0, 4)).mean()
    assert near < far


def test_interpolate_grid25_scatters_the_paths(grid_run, capsys):
    assert run_cli(capsys, "interpolate", grid_run, "--rows", "4", "--steps", "20")[0] == 0
    out = grid_run / "interp_slerp.png"
    assert pixels(out).shape == (512, 512, 3)
    assert 0 < red_pixels(out) <= 4 * 20 * 9


def test_interpolate_errors(grid_run, capsys):
    code, _, err = run_cli(capsys, "interpolate", grid_run, "--steps", "1")
    assert code == 2 and "--steps must be an integer >= 2" in err
    code, _, err = run_cli(capsys, "interpolate", grid_run, "--rows", "0")
    assert code == 2 and "--rows must be an integer >= 1" in err
    with pytest.raises(SystemExit):
        main(["interpolate", str(grid_run), "--method", "cubic"])
    assert "invalid choice: 'cubic'" in capsys.readouterr().err


# -- plot ----------------------------------------------------------------------------------


def test_plot_draws_labelled_loss_curves(grid_run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, out, _ = run_cli(capsys, "plot", grid_run, "--out", tmp_path / "curves.png")
    assert code == 0 and "Wrote loss curves over 4 log records" in out
    img = pixels(tmp_path / "curves.png")
    assert img.shape == (360, 800, 3)  # 8 x 3.6 inches at 100 dpi: one panel
    tab_red, tab_blue = np.array([214, 39, 40]), np.array([31, 119, 180])
    for colour in (tab_red, tab_blue):  # both curves are drawn
        assert (np.abs(img - colour).sum(axis=2) <= 12).sum() > 50


def test_plot_groups_trick_values_into_panels(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = train(tmp_path / "mon", data="grid25", tricks=["failure_monitor"])
    code, out, _ = run_cli(capsys, "plot", run / "metrics.jsonl")
    assert code == 0 and "Wrote loss, grad_norm, failures, failure curves" in out
    assert pixels(run / "curves.png").shape == (int(100 * (1.2 + 2.4 * 4)), 800, 3)
    code, out, _ = run_cli(capsys, "plot", run, "--keys", "failures", "--out", tmp_path / "one.png")
    assert code == 0 and "Wrote loss, failures curves" in out
    code, _, err = run_cli(capsys, "plot", run, "--keys", "fid")
    assert code == 2 and "--keys names values this run did not log: fid" in err


def test_group_keys():
    assert group_keys(["grad_norm_gen", "grad_norm_disc", "failures", "extra_d_updates"]) == [
        ("grad_norm", ["grad_norm_gen", "grad_norm_disc"]), ("failures", ["failures"]),
        ("extra_d_updates", ["extra_d_updates"]),
    ]


def test_plot_without_matplotlib_names_the_extra(grid_run, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, _, err = run_cli(capsys, "plot", grid_run)
    assert code == 2
    assert err.strip() == "ganforge: error: ganforge plot needs matplotlib: pip install 'ganforge[plot]'"


def test_plot_errors_and_cut_off_metrics(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, _, err = run_cli(capsys, "plot", tmp_path / "nowhere")
    assert code == 1 and "does not exist" in err
    run = tmp_path / "cut"
    run.mkdir()
    lines = [json.dumps({"step": s, "g_loss": 0.7, "d_loss": 1.3}) for s in (10, 20)]
    (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 30, "g_lo')
    assert [r["step"] for r in read_metrics(run)] == [10, 20]  # a crash's half line is skipped
    (run / "metrics.jsonl").write_text('not json\n' + "\n".join(lines))
    code, _, err = run_cli(capsys, "plot", run)
    assert code == 1 and "metrics.jsonl line 1 is not JSON" in err


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sample", "interpolate", "plot"])
def test_help_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"ganforge {command} runs/" in text

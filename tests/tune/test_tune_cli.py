"""The ganforge tune command: bad input before any trial starts, and working without Optuna installed."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from ganforge.cli import main
from tune_helpers import cli_env, make_space, write_space


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err


@pytest.fixture
def space_file(tmp_path):
    return write_space(tmp_path / "space.toml", make_space())


def test_an_unreachable_storage_is_a_one_line_error_before_any_trial(space_file, tmp_path, capsys):
    pytest.importorskip("optuna", reason="ganforge tune needs Optuna: pip install 'ganforge[tune]'")
    url = f"sqlite:///{tmp_path}/no/such/folder/study.db"
    code, err = run(["tune", str(space_file), "--storage", url, "--out", str(tmp_path / "out")], capsys)
    assert (code, err) == (2, f"ganforge: error: Cannot open the study storage {url} (--storage): OperationalError: "
                              "unable to open database file; check the URL, and that the server runs and this machine "
                              "can reach it.\n")
    assert not (tmp_path / "out").exists()


def test_a_server_url_keeps_its_password_out_of_the_message(space_file, tmp_path, capsys):
    pytest.importorskip("optuna", reason="ganforge tune needs Optuna: pip install 'ganforge[tune]'")
    code, err = run(["tune", str(space_file), "--storage", "postgresql://me:secret@127.0.0.1:9/db", "--out",
                     str(tmp_path / "out")], capsys)
    assert code == 2
    assert err.startswith("ganforge: error: Cannot open the study storage postgresql://me:***@127.0.0.1:9/db "
                          "(--storage): ")
    assert "secret" not in err and err.count("\n") == 1
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        assert err.endswith("; install its database driver: pip install psycopg2-binary.\n")


def test_a_bad_space_stops_before_the_storage_is_touched(tmp_path, capsys):
    path = write_space(tmp_path / "space.toml", make_space(search={"loss": {"type": "categorical",
                                                                            "choices": ["hnige"]}}))
    code, err = run(["tune", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.startswith(f"ganforge: error: {path}: [search] 'loss': Unknown loss 'hnige'.")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--trials", "0"], "--trials must be an integer >= 1 (got 0)"),
    (["--workers", "0"], "--workers must be an integer >= 1 (got 0)"),
    (["--pruner", "meadian"], "--pruner: unknown pruner 'meadian'. Did you mean 'median'?"),
    (["--report", "somewhere"], "Give a search space to run a study, or a folder to report (--report), not both."),
])
def test_bad_flags(space_file, tmp_path, capsys, argv, message):
    pytest.importorskip("optuna", reason="ganforge tune needs Optuna: pip install 'ganforge[tune]'")
    code, err = run(["tune", str(space_file), "--out", str(tmp_path / "out"), *argv], capsys)
    assert code == 2 and err.startswith(f"ganforge: error: {message}"), err


def test_report_of_a_folder_without_a_study(tmp_path, capsys):
    pytest.importorskip("optuna", reason="ganforge tune needs Optuna: pip install 'ganforge[tune]'")
    code, err = run(["tune", "--report", str(tmp_path)], capsys)
    assert (code, err) == (2, f"ganforge: error: {tmp_path} holds no ganforge tune study (no tune.json); pass the "
                              "--out folder of a 'ganforge tune' command, or --storage and --study.\n")


def test_without_optuna_ganforge_imports_and_tune_names_the_pip_command(space_file):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["optuna"] = None  # as if not installed: importing it raises ImportError
        import ganforge, ganforge.tune, ganforge.tune.space
        from ganforge.cli import main
        space = ganforge.tune.load_space({str(space_file)!r})  # reading a space needs no Optuna
        assert space.metric == "reverse_kl"
        sys.exit(main(["tune", {str(space_file)!r}]))
    """)
    done = subprocess.run([__import__("sys").executable, "-c", script], env=cli_env(), capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stderr) == (2, "ganforge: error: ganforge tune needs Optuna: pip install "
                                                 "'ganforge[tune]'\n")


@pytest.mark.parametrize(("device", "gpus", "workers", "expected"), [
    ("auto", 2, 3, ["cuda:0", "cuda:1", "cuda:0"]),  # one GPU each, round robin
    ("cuda", 4, 2, ["cuda:0", "cuda:1"]),
    ("auto", 1, 2, [None, None]),  # one GPU: the space's device for every worker
    ("cpu", 4, 2, [None, None]),  # a device the space fixed is kept
    ("auto", 2, 1, [None]),
])
def test_workers_get_one_gpu_each_when_several_exist(monkeypatch, device, gpus, workers, expected):
    """The device assignment alone (no GPU here): torch's CUDA queries answer as a machine with ``gpus`` GPUs would."""
    import types

    import torch

    from ganforge.tune.worker import worker_devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    job = types.SimpleNamespace(options=types.SimpleNamespace(workers=workers),
                                space=types.SimpleNamespace(fixed={"device": device}))
    assert worker_devices(job) == expected

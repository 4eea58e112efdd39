"""Issue 17, item 6: caches go to a per-user cache folder, never into the data folder; a failed download
removes the folders it created.

Findings: 'ganforge eval' wrote its classifier cache into the data folder (which may be read-only or
shared); a failed or offline MNIST download left empty MNIST/raw folders behind, also in ./data for a
bare 'ganforge train'. Downloads here go to a local HTTP server (no internet), which serves a damaged
file or nothing.
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path

import pytest
import torchvision.datasets

import ganforge
from ganforge.cli import main
from ganforge.data.cifar10 import CIFAR10
from ganforge.data.mnist import MNIST
from ganforge.io.cache import CACHE_ENV, cache_dir


def test_the_cache_folder_is_per_user_and_movable(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine" and cache_dir("classifiers") == tmp_path / "mine" / "classifiers"
    monkeypatch.delenv(CACHE_ENV)
    if sys.platform.startswith("linux"):  # platformdirs follows the XDG base directory rules there
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_dir("classifiers") == tmp_path / "xdg" / "ganforge" / "classifiers"


def test_eval_leaves_the_data_folder_untouched(tiny_idx, tmp_path, monkeypatch, capsys, helpers):
    """The classifier cache used to go beside the data files whenever that folder was writable."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    run = tmp_path / "run"
    ganforge.Trainer(data="mnist", data_root=str(tiny_idx), split="test", steps=2, batch_size=16, latent_dim=8,
                     gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, device="cpu", sample_every=0,
                     progress=False, out_dir=str(run)).fit()
    before = helpers.snapshot(tiny_idx)
    assert main(["eval", str(run), "--n", "32"]) == 0
    assert helpers.snapshot(tiny_idx) == before
    assert len(list(cache_dir("classifiers").glob("ganforge-classifier-mnist-test-*.pt"))) == 1


# -- downloads ----------------------------------------------------------------------------------------------


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP server as torchvision's only MNIST mirror, serving a damaged first file and nothing else."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "train-images-idx3-ubyte.gz").write_bytes(b"not the real file" * 100)
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    yield
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request lines in the test output
        pass


def test_a_failed_download_removes_what_it_created(tmp_path, mirror):
    root = tmp_path / "new" / "data"
    with pytest.raises(ganforge.DataNotFoundError, match="Downloading through torchvision failed"):
        MNIST(root=str(root), split="train").load()
    assert not (tmp_path / "new").exists()  # the folders it made, and the damaged file in them, are gone


def test_a_failed_download_keeps_what_was_there(tmp_path, mirror, helpers):
    root = tmp_path / "data"
    (root / "MNIST" / "raw").mkdir(parents=True)
    (root / "notes.txt").write_text("mine")
    (root / "MNIST" / "raw" / "README").write_text("also mine")
    before = helpers.snapshot(root)
    with pytest.raises(ganforge.DataNotFoundError):
        MNIST(root=str(root), split="train").load()
    assert helpers.snapshot(root) == before
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["MNIST", "MNIST/raw", "MNIST/raw/README",
                                                                       "notes.txt"]


def test_a_bare_train_leaves_no_data_folder(tmp_path, mirror, monkeypatch, capsys):
    """'ganforge train' with no settings: MNIST into ./data; offline, neither ./data nor runs/ is left behind."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    assert main(["train"]) == 1
    err = capsys.readouterr().err  # torchvision's download bar, then ganforge's one line
    errors = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(errors) == 1 and "Traceback" not in err and err.endswith(errors[0] + "\n")
    assert errors[0].startswith("ganforge: error: mnist train split not found.")
    assert "Downloading through torchvision failed" in errors[0]
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["served"]


def test_a_failed_cifar10_download_removes_its_archive_and_folders(tmp_path, monkeypatch, helpers):
    served = tmp_path / "served"
    served.mkdir()
    (served / torchvision.datasets.CIFAR10.filename).write_bytes(b"not the real archive" * 100)  # fails its md5
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/{torchvision.datasets.CIFAR10.filename}"
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", url)
    try:
        root = tmp_path / "new" / "data"
        with pytest.raises(ganforge.DataNotFoundError, match="Downloading through torchvision failed"):
            CIFAR10(root=str(root), split="train").load()
        assert not (tmp_path / "new").exists()  # the damaged archive and the folders made for it are gone

        kept = tmp_path / "mine"
        kept.mkdir()
        (kept / "notes.txt").write_text("mine")
        before = helpers.snapshot(kept)
        with pytest.raises(ganforge.DataNotFoundError):
            CIFAR10(root=str(kept), split="test").load()
        assert helpers.snapshot(kept) == before and [p.name for p in kept.iterdir()] == ["notes.txt"]
    finally:
        server.shutdown()
        server.server_close()

"""Shared fixtures: isolation from installed plugins, the MNIST location, tiny runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import ganforge
import helpers  # tests/helpers.py (tests/ is on sys.path: this conftest lives there)
from ganforge.errors import IncompatibleError
from ganforge.interfaces import ModelSpec
from ganforge.registry import DISABLE_AUTOLOAD_ENV

# Tests use tiny models: one thread is faster than two fighting over 2 cores, and steadier. The
# Trainer's threads="auto" is 1 thread anyway; GANFORGE_THREADS=1 also pins runs that ask for
# another count through the environment (tests of thread selection remove the variable).
torch.set_num_threads(1)
os.environ["GANFORGE_THREADS"] = "1"

REPO = helpers.REPO
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow (subprocesses, long trainings); CI runs everything")


def pytest_collection_modifyitems(config, items):
    """Without ``--runslow``, tests marked ``@pytest.mark.slow`` are skipped, saying how to run them (pytest's
    documented recipe: docs.pytest.org, "Control skipping of tests according to command line option")."""
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run it (CI does)")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    """Unit tests see ganforge's builtins only, never whatever plugins are installed here.

    Tests of entry-point discovery delete the variable and call reset_registry() themselves.
    """
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    ganforge.reset_registry()
    yield
    ganforge.reset_registry()


def find_mnist() -> Path | None:
    """The folder holding the MNIST test split: $GANFORGE_DATA, else ../shared/data/mnist beside the checkout."""
    for candidate in (os.environ.get("GANFORGE_DATA"), SHARED_MNIST):
        if candidate and (Path(candidate) / "t10k-images-idx3-ubyte.gz").is_file() or (
            candidate and (Path(candidate) / "t10k-images-idx3-ubyte").is_file()
        ):
            return Path(candidate)
    return None


@pytest.fixture
def mnist_root() -> Path:
    """Folder of the MNIST test split; skips the test (saying why) where it is absent."""
    root = find_mnist()
    if root is None:
        pytest.skip(
            f"MNIST test split not found: set GANFORGE_DATA to a folder holding t10k-images-idx3-ubyte(.gz), "
            f"or place it at {SHARED_MNIST}"
        )
    return root


@pytest.fixture
def tiny(tmp_path):
    """Settings for a fast run: few steps, no progress bar, output in a temporary folder."""
    return dict(steps=20, batch_size=32, log_every=10, sample_every=0, checkpoint_every=0, progress=False,
                out_dir=str(tmp_path / "run"), device="cpu")


class PluginBundle:
    """A hand-registered plugin object: hook implementations returning the given classes.

    Lists and tuples are copied; any other value (a bare class, a string, None) is returned by its hook as given,
    for tests of what ganforge makes of a hook returning something other than a list.
    """

    def __init__(self, generators=(), discriminators=(), losses=(), regularizers=(), tricks=(), datasets=()):
        given = dict(generators=generators, discriminators=discriminators, losses=losses,
                     regularizers=regularizers, tricks=tricks, datasets=datasets)
        self.classes = {kind: list(value) if isinstance(value, (list, tuple)) else value
                        for kind, value in given.items()}

    @ganforge.hookimpl
    def ganforge_register_generators(self):
        return self.classes["generators"]

    @ganforge.hookimpl
    def ganforge_register_discriminators(self):
        return self.classes["discriminators"]

    @ganforge.hookimpl
    def ganforge_register_losses(self):
        return self.classes["losses"]

    @ganforge.hookimpl
    def ganforge_register_regularizers(self):
        return self.classes["regularizers"]

    @ganforge.hookimpl
    def ganforge_register_tricks(self):
        return self.classes["tricks"]

    @ganforge.hookimpl
    def ganforge_register_datasets(self):
        return self.classes["datasets"]


@pytest.fixture
def register():
    """``register(tricks=[...], regularizers=[...], ...)`` registers test plugins until the test ends.

    ``name="..."`` chooses the plugin's name (for tests asserting a message that names it; default
    ``test-plugins-N``); ``register(plugin_object)`` registers a ready plugin object (a module, or an object with
    hooks of its own) instead of a :class:`PluginBundle`. Returns the plugin's name. ``register.remove(name)``
    unregisters one before the test ends (to register a new release under the same name).
    """
    names = []

    def add(plugin=None, /, *, name=None, **classes):
        if plugin is not None and classes:
            raise TypeError("register(plugin) takes no classes: put them in the plugin object's hooks")
        plugin = PluginBundle(**classes) if plugin is None else plugin
        if name is None:  # numbered by the unnamed ones only: a named plugin moves no test's expected name
            name = f"test-plugins-{sum(n.startswith('test-plugins-') for n in names)}"
        names.append(ganforge.register_plugin(plugin, name=name))
        return name

    def remove(name):
        names.remove(name)
        ganforge.unregister_plugin(name)

    add.remove = remove
    yield add
    for name in names:
        ganforge.unregister_plugin(name)


class TinyImages(ganforge.Dataset):
    """64 deterministic 3x8x8 uint8 images in 10 classes, in memory (tests of image-only plugins)."""

    name = "tiny_images"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (3, 8, 8)

    @property
    def num_classes(self) -> int:
        return 10

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        labels = torch.arange(64) % 10
        # A bright square whose corner and colour depend on the class, on a random background.
        images = torch.randint(0, 96, (64, 3, 8, 8), generator=gen, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            r, c = divmod(label % 4, 2)
            images[i, label % 3, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 150
        return images, labels


class TinyPairs(ganforge.Dataset):
    """64 deterministic 1x8x8 pairs, stored (condition, sample) on the channels: a random image and its negative
    (tests of image-to-image plugins: a data set that offers a condition)."""

    name = "tiny_pairs"

    @property
    def sample_shape(self):
        return (1, 8, 8)

    @property
    def condition_shape(self):
        return (1, 8, 8)

    @property
    def stored_shape(self):
        return (2, 8, 8)

    def split_condition(self, x):
        return x[:, 1:], x[:, :1]

    def load(self):
        a = torch.randint(0, 256, (64, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
        return torch.cat([a, 255 - a], dim=1), None


def refuses_point_data(trick: str) -> bool:
    """True when trick ``trick`` (default options) refuses 2-D point data when the models' spec is made (image-only)."""
    try:
        ganforge.create_plugin("trick", trick).adjust_spec(ModelSpec((2,), latent_dim=8))
    except IncompatibleError:
        return True
    return False


@pytest.fixture
def image_data(register) -> str:
    """Registers the ``tiny_images`` data set (3x8x8, 10 classes) for the test; returns its name."""
    register(datasets=[TinyImages], name="tests-tiny-images")
    return TinyImages.name


@pytest.fixture
def pair_data(register) -> str:
    """Registers the ``tiny_pairs`` data set (1x8x8 conditions and samples) for the test; returns its name."""
    register(datasets=[TinyPairs], name="tests-tiny-pairs")
    return TinyPairs.name


@pytest.fixture
def data_for(request) -> Any:
    """``data_for(tricks)``: ``"grid25"``, or ``"tiny_images"`` (registered for the test) when a trick needs images."""

    def choose(tricks: Sequence[str] = (), images: bool = False) -> str:
        if images or any(refuses_point_data(t) for t in tricks):
            return request.getfixturevalue("image_data")
        return "grid25"

    return choose


# -- one helper each: the command line, tiny data sets, distribution installs, waiting, error lines ------------
# (plain functions in tests/helpers.py; these fixtures hand them to test functions)


@pytest.fixture(scope="session")
def cli() -> SimpleNamespace:
    """``python -m ganforge`` in a fresh interpreter: ``cli.env(**extra)``, ``cli.command(*args)`` (argv) and
    ``cli.run(*args, cwd=, env=, timeout=)`` (runs it to the end, output captured)."""
    return SimpleNamespace(env=helpers.cli_env, command=helpers.cli_command, run=helpers.run_cli)


@pytest.fixture(scope="session")
def write_mnist():
    """``write_mnist(folder, n=64, split="test", ...)``: random MNIST-format IDX files; see helpers.write_mnist."""
    return helpers.write_mnist


@pytest.fixture
def tiny_mnist(tmp_path) -> Path:
    """A data root holding a 64-image MNIST-format test split (random 28x28 digits, labels 0-9)."""
    root = tmp_path / "idx"
    helpers.write_mnist(root)
    return root


@pytest.fixture(scope="session")
def point_data():
    """``point_data(name, draw, doc)``: a 2-D point data set class (``draw(n, device)``); register it to use it."""
    return helpers.point_data


@pytest.fixture(scope="session")
def pip_install_target():
    """``pip_install_target(project, target)``: ``pip install --target target project`` (helpers.pip_install_target)."""
    return helpers.pip_install_target


@pytest.fixture(scope="session")
def installed() -> SimpleNamespace:
    """Fresh interpreters using distributions installed with :func:`pip_install_target` into a folder ``site``:
    ``installed.env(site, **extra)`` and ``installed.run(code, site, cwd, **env)`` (``python -c CODE``)."""
    return SimpleNamespace(env=helpers.site_env, run=helpers.run_code)


@pytest.fixture(scope="session")
def wait_for():
    """``wait_for(condition, timeout=240.0, every=0.1)`` polls until ``condition()`` is true and returns it."""
    return helpers.wait_for


@pytest.fixture(scope="session")
def error_line():
    """``error_line(err)``: the one ``ganforge: error:`` line of a command's stderr (no traceback allowed)."""
    return helpers.error_line

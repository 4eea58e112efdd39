"""Third-party plugins found through the ``ganforge`` entry-point group.

The first test pip-installs the real distribution in tests/plugin_dist into a
folder of its own and trains with its plugins by name in a fresh interpreter,
which never imports the plugin module itself.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ganforge
from ganforge.registry import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV

PLUGIN_DIST = Path(__file__).parent / "plugin_dist"


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory, pip_install_target) -> Path:
    """tests/plugin_dist pip-installed into its own folder (put it on PYTHONPATH to use it)."""
    target = tmp_path_factory.mktemp("site")
    pip_install_target(PLUGIN_DIST, target)
    assert (target / "ganforge_testplugin").is_dir()
    return target


def _run(code: str, site: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, ALLOW_LIST_ENV)}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_installed_plugin_trains_by_name(installed_plugin, tmp_path):
    result = _run(
        """
        import json, sys
        from ganforge import Trainer, get_registry
        trainer = Trainer(gen="tiny", tricks=["count_steps"], data="grid25", steps=12, log_every=6,
                          sample_every=0, progress=False, device="cpu", out_dir="run")
        history = trainer.fit()
        info = get_registry().get("generator", "tiny")
        print(json.dumps({
            "gen": type(trainer.gen).__name__,
            "counts": history["count_steps"],
            "imported_by_user": "ganforge_testplugin" in sys.argv,
            "plugin": info.plugin, "distribution": info.distribution,
        }))
        """,
        installed_plugin, tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["gen"] == "TinyGenerator"
    assert out["counts"] == [6, 12]
    assert out["plugin"] == "testplugin"
    assert out["distribution"] == "ganforge-testplugin 0.3.1"


@pytest.mark.slow
def test_plugins_command_lists_the_distribution(installed_plugin, tmp_path):
    result = _run("from ganforge.cli import main; raise SystemExit(main(['plugins', '--json']))",
                  installed_plugin, tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("trick", "count_steps")]["distribution"] == "ganforge-testplugin 0.3.1"
    assert rows[("generator", "mlp")]["plugin"] == "ganforge.models"
    human = _run("from ganforge.cli import main; raise SystemExit(main(['plugins']))", installed_plugin, tmp_path)
    assert "count_steps" in human.stdout and "(plugin 'testplugin' (distribution ganforge-testplugin 0.3.1))" in human.stdout


@pytest.mark.slow
def test_autoload_can_be_disabled_or_allow_listed(installed_plugin, tmp_path):
    code = "import ganforge; print(sorted(i.name for i in ganforge.list_plugins('generator')))"
    assert "tiny" in _run(code, installed_plugin, tmp_path).stdout
    assert "tiny" not in _run(code, installed_plugin, tmp_path, **{DISABLE_AUTOLOAD_ENV: "1"}).stdout
    assert "tiny" not in _run(code, installed_plugin, tmp_path, **{ALLOW_LIST_ENV: "someother"}).stdout
    assert "tiny" in _run(code, installed_plugin, tmp_path, **{ALLOW_LIST_ENV: "testplugin"}).stdout


def _fake_distribution(root: Path, module_source: str) -> None:
    """An installed distribution as pip lays it out: a module and its .dist-info with entry points."""
    (root / "broken_ganforge_plugin.py").write_text(module_source)
    info = root / "broken_ganforge_plugin-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-ganforge-plugin\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[ganforge]\nbroken = broken_ganforge_plugin\n")


def test_a_plugin_that_fails_to_import_is_named(tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "import missing_dependency_of_the_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV)
    ganforge.reset_registry()
    with pytest.raises(ganforge.PluginLoadError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        'Error importing plugin "broken" (broken_ganforge_plugin) from distribution broken-ganforge-plugin 1.2: '
        "ModuleNotFoundError: No module named 'missing_dependency_of_the_plugin'. Fix or uninstall that "
        f"distribution, or set {DISABLE_AUTOLOAD_ENV}=1 to start without third-party plugins."
    )
    assert isinstance(info.value, ImportError)
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    ganforge.reset_registry()
    assert "mlp" in ganforge.get_registry().names("generator")


def test_cli_reports_a_broken_plugin_in_one_line(tmp_path):
    _fake_distribution(tmp_path, "raise RuntimeError('plugin exploded at import')\n")
    result = _run("from ganforge.cli import main; raise SystemExit(main(['plugins']))", tmp_path, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'ganforge: error: Error importing plugin "broken" (broken_ganforge_plugin) from distribution '
        "broken-ganforge-plugin 1.2: RuntimeError: plugin exploded at import. Fix or uninstall that "
        f"distribution, or set {DISABLE_AUTOLOAD_ENV}=1 to start without third-party plugins."
    )


def _distribution(root: Path, name: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A distribution as pip installs it into ``root``: its modules and a .dist-info declaring ``entry_points``."""
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[ganforge]\n{lines}")


TRICK_MODULE = """
    import ganforge

    class {cls}(ganforge.Trick):
        name = "{trick}"

    @ganforge.hookimpl
    def ganforge_register_tricks():
        return [{cls}]
"""


def _autoload(monkeypatch, *folders: Path) -> None:
    for folder in reversed(folders):  # the first folder ends up first on sys.path
        monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV)
    ganforge.reset_registry()


def test_an_allow_list_naming_a_plugin_that_is_not_installed_is_an_error(tmp_path, monkeypatch):
    _distribution(tmp_path, "ganforge-alpha", "1.0", {"alpha": "alpha_mod"},
                  {"alpha_mod": TRICK_MODULE.format(cls="Alpha", trick="alpha_trick")})
    _autoload(monkeypatch, tmp_path)
    monkeypatch.setenv(ALLOW_LIST_ENV, "alpah")
    installed = ", ".join(sorted(f"{ep.name} ({ep.dist.metadata['Name']} {ep.dist.version})"
                                 for ep in importlib.metadata.entry_points(group="ganforge")))
    assert "alpha (ganforge-alpha 1.0)" in installed
    with pytest.raises(ganforge.UnknownPluginError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        f"{ALLOW_LIST_ENV} names 'alpah', which is not an installed ganforge plugin. Did you mean 'alpha'? "
        f"Installed: {installed}. Install the plugin, or correct {ALLOW_LIST_ENV} (entry-point names, "
        "comma-separated)."
    )
    monkeypatch.setenv(ALLOW_LIST_ENV, "alpha")
    ganforge.reset_registry()
    assert ganforge.get_registry().get("trick", "alpha_trick").distribution == "ganforge-alpha 1.0"


def test_two_distributions_with_one_entry_point_name_are_both_named(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    _distribution(first, "ganforge-one", "1.0", {"dup": "one_mod"},
                  {"one_mod": TRICK_MODULE.format(cls="One", trick="one_trick")})
    _distribution(second, "ganforge-two", "2.0", {"dup": "two_mod"},
                  {"two_mod": TRICK_MODULE.format(cls="Two", trick="two_trick")})
    _autoload(monkeypatch, first, second)
    with pytest.raises(ganforge.DuplicatePluginError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        "Two plugins are named 'dup': distribution ganforge-one 1.0 (one_mod) and distribution ganforge-two 2.0 "
        "(two_mod), whose entry point in group 'ganforge' has the same name. Uninstall one of them."
    )


def test_a_hand_registered_plugin_named_like_an_entry_point_is_refused(tmp_path, monkeypatch):
    _distribution(tmp_path, "ganforge-gamma", "1.0", {"gamma": "gamma_mod"},
                  {"gamma_mod": TRICK_MODULE.format(cls="Gamma", trick="gamma_trick")})
    monkeypatch.syspath_prepend(str(tmp_path))
    import gamma_mod

    ganforge.register_plugin(gamma_mod, name="gamma")
    try:
        _autoload(monkeypatch)
        with pytest.raises(ganforge.DuplicatePluginError) as info:
            ganforge.get_registry()
    finally:
        ganforge.unregister_plugin("gamma")
    assert str(info.value) == (
        "Two plugins are named 'gamma': a plugin registered with ganforge.register_plugin() and distribution "
        "ganforge-gamma 1.0 (gamma_mod), whose entry point in group 'ganforge' has the same name. Uninstall one "
        "of them, or register yours under another name=."
    )


@pytest.mark.slow
def test_cli_names_the_distribution_of_an_incomplete_plugin(tmp_path):
    _distribution(tmp_path, "ganforge-half", "0.2", {"half": "half_mod"}, {"half_mod": """
        import ganforge

        class HalfLoss(ganforge.Loss):
            name = "half"

            def criterion(self, logits, targets):
                return (logits - targets).square().mean()

        @ganforge.hookimpl
        def ganforge_register_losses():
            return [HalfLoss]
    """})
    expected = (
        "ganforge: error: Plugin 'half' (distribution ganforge-half 0.2) registers loss 'half' (class "
        "half_mod.HalfLoss), which is incomplete: it lacks a generator loss: define g_loss(fake_logits, "
        "real_targets, fake_targets) (the logit form) or generator_loss(ctx) (the context form)."
    )
    for command in (["plugins"], ["train", "--data", "grid25", "--steps", "1", "--no-progress", "--out", "run"]):
        result = _run(f"from ganforge.cli import main; raise SystemExit(main({command!r}))", tmp_path, tmp_path)
        assert result.returncode == 1
        assert result.stderr.strip() == expected
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_names_a_misspelt_hook_of_an_installed_plugin(installed_plugin, tmp_path):
    """The real distribution, plus a folder holding a second one whose hook name has a typo."""
    _distribution(tmp_path, "ganforge-typo", "1.1", {"typo": "typo_mod"}, {"typo_mod": """
        import ganforge

        @ganforge.hookimpl
        def ganforge_register_generator():
            return []
    """})
    site = os.pathsep.join([str(installed_plugin), str(tmp_path)])
    result = _run("from ganforge.cli import main; raise SystemExit(main(['plugins']))", Path(site), tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "ganforge: error: Plugin 'typo' (distribution ganforge-typo 1.1) defines ganforge_register_generator(), "
        "which is named like a ganforge hook but matches none, so it is never called. Did you mean "
        "'ganforge_register_generators'?"
    )
    allowed = _run("from ganforge.cli import main; raise SystemExit(main(['plugins', '--kind', 'generator']))",
                   Path(site), tmp_path, **{ALLOW_LIST_ENV: "testplugin"})
    assert allowed.returncode == 0 and "tiny" in allowed.stdout  # the allow-list leaves the broken one out


def test_the_installed_distribution_has_the_packages_version():
    """pip's metadata and ganforge.__version__ are one number (pyproject reads ganforge/version.py), so a
    plugin that requires ganforge>=X installs against the version ganforge reports."""
    assert importlib.metadata.version("ganforge") == ganforge.__version__
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and 'attr = "ganforge.version.__version__"' in pyproject

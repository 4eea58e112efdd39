"""Third-party plugins found through the ``ganforge`` entry-point group.

The first test pip-installs the real distribution in tests/plugin_dist into a
folder of its own and trains with its plugins by name in a fresh interpreter,
which never imports the plugin module itself.
"""

from __future__ import annotations

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
def installed_plugin(tmp_path_factory) -> Path:
    """tests/plugin_dist pip-installed into its own folder (put it on PYTHONPATH to use it)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(PLUGIN_DIST)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    assert (target / "ganforge_testplugin").is_dir()
    return target


def _run(code: str, site: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, ALLOW_LIST_ENV)}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=300)


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


def test_plugins_command_lists_the_distribution(installed_plugin, tmp_path):
    result = _run("from ganforge.cli import main; raise SystemExit(main(['plugins', '--json']))",
                  installed_plugin, tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("trick", "count_steps")]["distribution"] == "ganforge-testplugin 0.3.1"
    assert rows[("generator", "mlp")]["plugin"] == "ganforge.models"
    human = _run("from ganforge.cli import main; raise SystemExit(main(['plugins']))", installed_plugin, tmp_path)
    assert "count_steps" in human.stdout and "(plugin 'testplugin' (distribution ganforge-testplugin 0.3.1))" in human.stdout


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

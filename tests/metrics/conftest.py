"""Shared fixtures for the metric tests: one classifier cache for the whole session."""

from __future__ import annotations

import pytest

from ganforge.metrics.classifier import CACHE_ENV


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ganforge-cache")


@pytest.fixture
def cache_env(_session_cache, monkeypatch):
    """Point $GANFORGE_CACHE at a per-session folder, so the domain classifier is trained once per test run."""
    monkeypatch.setenv(CACHE_ENV, str(_session_cache))
    return _session_cache


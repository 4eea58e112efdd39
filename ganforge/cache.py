"""The per-user cache folder (downloaded weights, reference statistics), never inside a data folder."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that overrides the cache folder.
CACHE_ENV = "GANFORGE_CACHE"


def cache_dir() -> Path:
    """The per-user cache folder, created on demand.

    ``$GANFORGE_CACHE`` when set, else the platform's user cache folder for
    ``ganforge`` (``platformdirs.user_cache_dir("ganforge")``, e.g.
    ``~/.cache/ganforge`` on Linux).
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("ganforge"))
    path.mkdir(parents=True, exist_ok=True)
    return path

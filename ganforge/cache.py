"""Where ganforge keeps what it computes once and reuses: the per-user cache folder.

The metrics' domain classifiers and reference statistics are cached here,
never beside the data (a data folder may be read-only or shared by several
users). The folder is ``$GANFORGE_CACHE`` when that variable is set, else the
platform's per-user cache folder (``platformdirs.user_cache_path("ganforge")``:
``~/.cache/ganforge`` on Linux, ``~/Library/Caches/ganforge`` on macOS,
``%LOCALAPPDATA%\\ganforge\\Cache`` on Windows).
"""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that moves the cache.
CACHE_ENV = "GANFORGE_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache folder, or a subfolder of it (``cache_dir("classifiers")``); not created here.

    Args:
        *parts: Subfolder names below the cache root.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        root = Path(env).expanduser()
    else:
        import platformdirs

        root = platformdirs.user_cache_path("ganforge", appauthor=False)
    return root.joinpath(*parts)

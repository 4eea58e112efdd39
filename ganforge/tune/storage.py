"""Where a study lives: an SQLite file in the output folder (default) or a database server (``--storage URL``).

Both go through Optuna's :class:`~optuna.storages.RDBStorage`, so one
machine and many use the same code, with the same heartbeat: a running trial
records a heartbeat every ``heartbeat`` seconds and one silent for two
intervals is marked failed (and run again) by the next worker that looks.
Optuna's journal file storage has no heartbeat, which is why the embedded
default is SQLite rather than a journal file.

SQLite lets one writer in at a time; the connection waits up to
:data:`SQLITE_TIMEOUT_S` for the lock instead of failing at once (a trial
writes a handful of rows per evaluation, so waits are short). A server URL
gets a :data:`CONNECT_TIMEOUT_S` connect timeout, so an unreachable server
is reported within seconds.
"""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganforge.errors import ConfigError

#: The SQLite file of the default storage, inside the output folder.
STUDY_DB = "study.db"
#: Seconds an SQLite connection waits for another process's write lock.
SQLITE_TIMEOUT_S = 60
#: Seconds a PostgreSQL or MySQL connection attempt may take.
CONNECT_TIMEOUT_S = 10
#: Database drivers to suggest when SQLAlchemy cannot import one.
DRIVERS = {"postgresql": "psycopg2-binary", "mysql": "pymysql"}


def require_optuna() -> Any:
    """The ``optuna`` module; a :class:`~ganforge.errors.ConfigError` naming the pip command when it is missing."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("ganforge tune needs Optuna: pip install 'ganforge[tune]'") from None
    return optuna


def default_url(out_dir: str | Path) -> str:
    """The embedded storage of a study in ``out_dir``: ``sqlite:///OUT/study.db`` (absolute path)."""
    return f"sqlite:///{(Path(out_dir) / STUDY_DB).resolve()}"


def backend(url: str) -> str:
    """``"sqlite"``, ``"postgresql"``, ``"mysql"``, ... (the URL's scheme without its driver)."""
    return url.split(":", 1)[0].split("+", 1)[0].lower()


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///PATH`` URL (None for other URLs and in-memory SQLite)."""
    if backend(url) != "sqlite" or not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    return Path(url[len("sqlite:///"):])


def shown_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and files."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: nothing to hide
        return url


def has_password(url: str) -> bool:
    """True when ``url`` holds a password."""
    return shown_url(url) != url


def engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy engine settings: the SQLite lock wait, or a connect timeout for a server."""
    name = backend(url)
    if name == "sqlite":
        return {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    if name in ("postgresql", "mysql"):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    return {}


def _retryable(exc: Exception) -> bool:
    """Another process creating the same SQLite tables at the same moment."""
    text = str(exc).lower()
    return "database is locked" in text or "already exists" in text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if text.startswith("(") and ") " in text:  # SQLAlchemy's "(sqlite3.OperationalError) unable to open ..."
        text = text.split(") ", 1)[1]
    return text


def open_storage(url: str, *, heartbeat: int = 60, stale_callback: Callable[..., None] | None = None,
                 flag: str = "--storage") -> Any:
    """Open (creating its tables if needed) the Optuna storage at ``url``.

    Args:
        url: An SQLAlchemy URL: ``sqlite:///path/study.db``,
            ``postgresql://user:password@host/db``, ``mysql+pymysql://...``.
        heartbeat: Seconds between heartbeats of a running trial (0: none).
        stale_callback: Called as ``f(study, frozen_trial)`` for each trial
            found silent for two heartbeats and marked failed.
        flag: How the user gave ``url``, for the message.

    Raises:
        ConfigError: naming the URL (password hidden) and the reason when the
            storage cannot be opened: a missing driver, an unreachable server,
            a folder that does not exist...
    """
    optuna = require_optuna()
    kwargs: dict[str, Any] = {}
    if heartbeat:
        kwargs.update(heartbeat_interval=int(heartbeat), grace_period=2 * int(heartbeat))
        if stale_callback is not None:
            params = inspect.signature(optuna.storages.RDBStorage).parameters
            name = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params \
                else "failed_trial_callback"  # Optuna < 4.9
            kwargs[name] = stale_callback
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeat_interval is marked experimental
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url), **kwargs)
        except Exception as exc:
            if attempt < 5 and _retryable(exc):
                time.sleep(0.2 * (attempt + 1))
                continue
            cause: BaseException = exc
            if isinstance(exc, ImportError) and exc.__cause__ is not None:
                cause = exc.__cause__
            if isinstance(exc, ImportError):
                driver = DRIVERS.get(backend(url))
                hint = f"install its database driver: pip install {driver}" if driver else \
                    "install the database driver SQLAlchemy names for it"
            else:
                hint = "check the URL, and that the server runs and this machine can reach it"
            raise ConfigError(f"Cannot open the study storage {shown_url(url)} ({flag}): "
                              f"{type(cause).__name__}: {_first_line(cause)}; {hint}.") from None
    raise AssertionError("unreachable")  # pragma: no cover

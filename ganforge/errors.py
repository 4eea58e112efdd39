"""The exceptions ganforge raises on purpose.

Every error a user can cause derives from :class:`GanforgeError`, so
``except ganforge.GanforgeError`` catches them all, and each one also derives
from the builtin exception a Python programmer would expect (``LookupError``
for an unknown name, ``ValueError`` for a bad value, ...). Messages name the
problem and the fix.
"""

from __future__ import annotations


class GanforgeError(Exception):
    """Base class of all errors raised by ganforge on purpose."""


class ConfigError(GanforgeError, ValueError):
    """A configuration value is invalid: the message names the field, the value and what is allowed."""


class UnknownPluginError(GanforgeError, LookupError):
    """No plugin of the requested kind has the requested name.

    Unlike ``KeyError`` its ``str()`` is the plain message.
    """


class DuplicatePluginError(GanforgeError):
    """Two plugins registered the same name for the same kind."""


class PluginLoadError(GanforgeError, ImportError):
    """A third-party plugin failed to import or to register."""


class PluginError(GanforgeError, TypeError):
    """A plugin returned something that is not a valid implementation."""


class PluginContractError(PluginError):
    """A plugin does not keep its contract with ganforge.

    A registered class lacks a method its kind requires, a registration hook
    returned something other than a list of classes, or a function is named
    like a ganforge hook but matches none. The message names the plugin, its
    distribution, the class and what to change.
    """


class PluginBuildError(PluginError):
    """A plugin's constructor raised an unexpected exception (not a problem with the options given).

    The message names the plugin, its class and distribution and the original
    error, which is chained as ``__cause__`` for the traceback.
    """


class IncompatibleError(GanforgeError, ValueError):
    """Chosen plugins or options cannot work together (e.g. two conflicting tricks)."""


class DataError(GanforgeError, ValueError):
    """A data set is missing, malformed or does not fit the chosen models."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data set's files were not found; the message lists where ganforge looked."""


class CheckpointError(GanforgeError, ValueError):
    """A checkpoint file is unreadable, corrupt, foreign or from a newer format."""


class RunDirectoryError(GanforgeError, FileExistsError):
    """The output directory already holds another run."""


class TrainingDivergedError(GanforgeError, FloatingPointError):
    """A loss or parameter became NaN or infinite."""


class DistributedError(GanforgeError, RuntimeError):
    """Under DDP, a collective operation failed: another rank died, hung or could not be reached."""


class StorageError(GanforgeError, OSError):
    """Reading or writing a file failed: disk full, read-only, permission denied, a file where a folder should be.

    The message names the path, the cause and the fix; ``errno`` is the
    operating system's error number (e.g. ``errno.ENOSPC``).
    """


class RunLockedError(RunDirectoryError):
    """Another process is writing into the run folder; the message names it (PID, host, command)."""

"""Naming what failed during a run: the plugin, its class and method; and what a file-system failure leaves.

:meth:`ganforge.Trainer.fit` passes every exception through
:func:`explain_failure`:

* an exception raised inside a plugin (a method raising
  ``NotImplementedError``, a shape error in a third-party model) becomes a
  :class:`~ganforge.errors.PluginError` naming the plugin, its distribution,
  the class and the method: the innermost frame of the traceback that belongs
  to one of the run's plugin objects;
* a :class:`~ganforge.errors.StorageError` (disk full, read-only, ...) gets the
  state of the run appended: which checkpoint is intact and the command that
  continues the run.

The original exception stays attached as ``__cause__``; ``ganforge --debug``
prints its traceback. :func:`check_model_outputs` catches a generator that
returns the wrong shape before the run folder is created.
"""

from __future__ import annotations

import traceback
import warnings
from typing import TYPE_CHECKING, Any

import torch

from ganforge.errors import GanforgeError, PluginError, StorageError

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.trainer import Trainer


def _suspects(trainer: Trainer) -> dict[int, tuple[str, str, Any]]:
    """``id(object) -> (kind, name, object)`` for the run's plugin objects that exist."""
    from ganforge.training.step import unwrap

    cfg = trainer.config
    found: dict[int, tuple[str, str, Any]] = {}

    def add(obj: Any, kind: str, name: str) -> None:
        if obj is not None:
            found[id(obj)] = (kind, name, obj)

    add(unwrap(trainer.gen) if trainer.gen is not None else None, "generator", cfg.gen)
    add(unwrap(trainer.disc) if trainer.disc is not None else None, "discriminator", cfg.disc)
    add(getattr(trainer, "loss", None), "loss", cfg.loss)
    dataset = getattr(trainer, "dataset", None)
    add(dataset, "dataset", cfg.data)
    add(getattr(dataset, "inner", None), "dataset", cfg.data)
    for trick in getattr(trainer, "tricks", []):
        add(trick, "trick", trick.name)
    return found


def _source(trainer: Trainer, kind: str, name: str) -> str:
    from ganforge.registry import PluginNameWarning, get_registry, pinned

    try:
        with pinned(getattr(trainer, "plugin_pins", {})), warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginNameWarning)  # told when the run was built
            return get_registry().get(kind, name).source
    except GanforgeError:  # pragma: no cover - registered when the run was built
        return "an unknown plugin"


#: Words of PyTorch's messages for tensors that do not fit together (shapes, sizes, dtypes, devices).
_MISMATCH = ("shape", "size of tensor", "sizes of tensors", "must match the size", "expected input", "expected all "
             "tensors to be on the same device", "but got input of size", "expected scalar type", "mat1 and mat2")


def _fix_for(exc: BaseException, cls: type, method: str) -> str:
    """What to do about ``exc`` raised in ``cls.method``: a missing method, a resource or setting problem, or a bug.

    Running out of memory and tensors that do not fit together (most often
    data of another shape than the models were set up for) are usually the
    run's settings, not the plugin: the message says so first, and names the
    plugin's author only when the settings are right.
    """
    text = str(exc).lower()
    if isinstance(exc, NotImplementedError):
        return (f"{cls.__name__} does not implement {method}(), which ganforge calls: implement it "
                "(docs/plugins.md) or ask the plugin's author")
    if isinstance(exc, MemoryError | torch.OutOfMemoryError) or "out of memory" in text or "can't allocate" in text:
        return ("the run ran out of memory: lower batch_size (--batch-size), the models' width or the image size, or "
                "free memory; this is not a fault of the plugin")
    if isinstance(exc, RuntimeError | ValueError | IndexError) and any(w in text for w in _MISMATCH):
        return ("tensors of shapes that do not fit: check that the data (its shape, image_size, channels, "
                "conditional labels) suits this model and its options; if they do, the plugin has a bug: report it "
                "to its author ('ganforge --debug' shows the traceback)")
    return "this is an error in the plugin: report it to its author ('ganforge --debug' shows the traceback)"


def blame_plugin(trainer: Trainer, exc: BaseException) -> PluginError | None:
    """A :class:`PluginError` naming the plugin whose code raised ``exc``; None when no plugin is on its traceback."""
    if isinstance(exc, GanforgeError) or not isinstance(exc, Exception):
        return None
    suspects = _suspects(trainer)
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        obj = frame.f_locals.get("self")
        if obj is None or id(obj) not in suspects:
            continue
        kind, name, _ = suspects[id(obj)]
        cls = type(obj)
        method = frame.f_code.co_name
        detail = " ".join(str(exc).split())[:300]
        what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        fix = _fix_for(exc, cls, method)
        return PluginError(
            f"The {kind} '{name}' ({cls.__module__}.{cls.__qualname__}, from {_source(trainer, kind, name)}) failed in "
            f"{cls.__name__}.{method}() at step {trainer.step + 1}: {what}. {fix[0].upper()}{fix[1:]}."
        )
    return None


def _storage_hint(trainer: Trainer, exc: StorageError) -> StorageError | None:
    from ganforge.io.checkpoint import list_checkpoints
    from ganforge.io.rundir import holds_run

    run = trainer.run_dir
    if run is None or not holds_run(run):
        return None
    found = list_checkpoints(run)
    if found:
        hint = (f"The run's last checkpoint, {found[-1][1]}, is intact: once that is fixed, continue with "
                f"'ganforge train --resume {run}'.")
    else:
        hint = "No checkpoint was written yet: once that is fixed, start the run again with the same command."
    better = StorageError(f"{exc} {hint}")
    better.errno = exc.errno
    return better


def explain_failure(trainer: Trainer, exc: BaseException) -> BaseException | None:
    """A clearer exception for ``exc`` raised by :meth:`~ganforge.Trainer.fit`, or None to re-raise it unchanged."""
    if isinstance(exc, StorageError):
        return _storage_hint(trainer, exc)
    return blame_plugin(trainer, exc)


@torch.no_grad()
def check_model_outputs(trainer: Trainer) -> None:
    """Run the generator once on two latents and check the samples' shape against the data's.

    Done before the run folder is created, in eval mode and on a forked RNG
    (the run's random streams, batch-norm statistics and exact resume are not
    touched). An exception inside the generator is named by :func:`blame_plugin`.

    Raises:
        PluginError: when the generator returns a shape other than ``(B, *spec.data_shape)``.
    """
    from ganforge.training.step import unwrap

    spec, gen = trainer.spec, unwrap(trainer.gen)
    device = trainer.device
    was_training = gen.training
    gen.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            z = torch.zeros(2, spec.latent_dim, device=device)
            labels = spec.probe_labels(2, device)
            try:
                if gen.takes_condition:
                    out = gen(z, labels, condition=torch.zeros(2, *spec.condition_shape, device=device))
                else:
                    out = gen(z, labels)
            except Exception as exc:
                better = blame_plugin(trainer, exc)
                if better is None:
                    raise
                raise better from exc
    finally:
        gen.train(was_training)
    shape = tuple(getattr(out, "shape", ()))
    if not isinstance(out, torch.Tensor) or shape != (2, *spec.data_shape):
        cls = type(gen)
        got = f"shape {shape}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise PluginError(
            f"The generator '{trainer.config.gen}' ({cls.__module__}.{cls.__qualname__}, from "
            f"{_source(trainer, 'generator', trainer.config.gen)}) returned {got} from {cls.__name__}.forward() for 2 latent "
            f"vectors; the data needs (2, {', '.join(map(str, spec.data_shape))}) (batch, *spec.data_shape). Fix "
            "the generator's output shape, or choose a generator that fits this data set."
        )


"""The Trainer: composes registered plugins into a GAN training run.

Reading order: ``__init__`` checks the configuration and the plugin names;
``setup`` builds data, models, tricks and optimizers on one device; ``fit``
runs the loop (step, log, sample, checkpoint); the rest is sampling and
checkpoint state.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor

from ganforge.config import OptimConfig, TrainConfig
from ganforge.context import TrickContext
from ganforge.data.loader import to_model_space
from ganforge.data.placement import describe_placement, make_batches
from ganforge.data.resize import ResizedDataset
from ganforge.errors import CheckpointError, ConfigError, DataError, IncompatibleError
from ganforge.interfaces import (
    Dataset,
    Discriminator,
    Generator,
    ModelSpec,
    Network,
    Regularizer,
    Trick,
)
from ganforge.io import checkpoint as ckpt
from ganforge.io.history import History, MetricsWriter
from ganforge.io.rundir import METRICS_FILE, SAMPLES_DIR, RunFolder
from ganforge.io.tensorboard import (
    TENSORBOARD_DIR,
    TensorBoardWriter,
    summary_writer_class,
)
from ganforge.io.viz import save_grid
from ganforge.registry import get_registry, pinned
from ganforge.training.combinations import check_plugins, graph_path
from ganforge.training.device import resolve_device
from ganforge.training.distributed import DistContext, wants_ddp
from ganforge.training.ema import GeneratorEMA
from ganforge.training.evaluation import evaluate_and_track, resolve_eval_metric
from ganforge.training.failures import check_model_outputs, explain_failure
from ganforge.training.graphs import GraphedStep
from ganforge.training.health import check_losses, check_parameters
from ganforge.training.optim import build_optimizer, load_optimizer_state
from ganforge.training.precision import Precision
from ganforge.training.plugins import (
    changed_defaults,
    pin_notes,
    plugin_defaults,
    plugin_sources,
    recorded_pins,
    resolve_config,
)
from ganforge.training.progress import Progress
from ganforge.training.sampling import latents, sampling_generator
from ganforge.training.schedules import HyperSchedules, LRSchedule, bind_schedules
from ganforge.training.seeding import get_rng_state, seed_everything, set_rng_state
from ganforge.training.signals import catch_stop_signals
from ganforge.training.step import GANStep, OwnedNetwork, overriding, unwrap
from ganforge.training.threads import apply as apply_threads
from ganforge.training.threads import choose as choose_threads
from ganforge.training.threads import describe as describe_threads
from ganforge.training.threads import measure as measure_thread_counts
from ganforge.training.threads import recorded_count
from ganforge.version import __version__


class Trainer:
    """Train a GAN from registered plugins.

    Args:
        config: A :class:`~ganforge.config.TrainConfig`, a mapping of its
            fields, or None for the defaults.
        callbacks: Objects told about the run as it goes, for code that drives
            the Trainer (a hyper-parameter search, a dashboard); not part of the
            configuration. Each may define ``on_log(trainer, record)`` (every
            ``log_every`` steps) and ``on_evaluate(trainer, record)`` (every
            ``eval_every`` steps, with the ``eval_*`` values); a callback may call
            :meth:`request_stop`.
        **settings: Fields of :class:`~ganforge.config.TrainConfig` that
            override ``config`` (``gen="mlp"``, ``tricks=["soft_labels"]``, ...).

    After :meth:`fit`, ``trainer.gen`` and ``trainer.disc`` hold the trained
    models and ``trainer.history`` the losses. Tricks may use ``gen``, ``disc``,
    ``opt_g``, ``opt_d``, ``loss``, ``device``, ``config``, ``spec``,
    ``dataset``, ``step`` (steps done), :meth:`update_discriminator` and
    :meth:`request_stop`.

    Under DDP (``strategy``; see docs/distributed.md) ``gen`` and ``disc`` are
    the plain models and ``step_fn`` holds their DistributedDataParallel
    wrappers; ``dist`` says which rank this process is. Every rank must call
    :meth:`fit`, :meth:`save_checkpoint` and :meth:`update_discriminator` alike.

    Example::

        from ganforge import Trainer
        history = Trainer(data="grid25", steps=500, tricks=["soft_labels"]).fit()
    """

    def __init__(self, config: TrainConfig | Mapping[str, Any] | None = None, *, callbacks: Sequence[Any] = (),
                 _pins: Mapping[tuple[str, str], str] = {}, **settings: Any):
        if config is None:
            config = TrainConfig()
        elif isinstance(config, Mapping):
            config = TrainConfig.from_dict(config)
        elif not isinstance(config, TrainConfig):
            raise ConfigError(f"config must be a TrainConfig or a mapping (got {type(config).__name__})")
        config = config.evolve(**settings) if settings else config
        #: ``{(kind, name): qualified name}`` a resumed run keeps its plugins by (:func:`ganforge.registry.pinned`).
        self.plugin_pins: dict[tuple[str, str], str] = dict(_pins)
        # Fail now, not after loading data, on any unknown name or option; record every option's value.
        with pinned(self.plugin_pins):
            self.config: TrainConfig = resolve_config(config)
        cfg = self.config
        if cfg.tensorboard:
            summary_writer_class()  # fail now if the extra is missing
        self.callbacks = list(callbacks)
        self.step = 0
        self.history = History()
        self.run_dir: Path | None = None
        self.gen: Generator | None = None
        self.disc: Discriminator | None = None
        #: The generator's weight average (``ema_decay``), or None.
        self.ema: GeneratorEMA | None = None
        #: Which generator sampling and evaluation use when not told: True the average, False the trained
        #: generator itself, None (default) the average when the run keeps one (``--no-ema`` sets False).
        self.use_ema: bool | None = None
        #: What host-side trick events receive.
        self.context = TrickContext(self)
        self._built = False
        self._resume_state: dict[str, Any] | None = None
        self._threads_given = False  # Trainer.resume(..., threads=...): the recorded thread count is not used
        self._stop_reason: str | None = None
        self._stop_agreed = False  # under DDP, a stop takes effect once all ranks know of it
        #: This process's place in a data-parallel run (single process until setup).
        self.dist = DistContext(False)
        #: The best evaluation so far: {"metric", "value", "step"} (with eval_every).
        self.best: dict[str, Any] | None = None

    @classmethod
    def from_preset(cls, name: str, **settings: Any) -> Trainer:
        """A Trainer with a published protocol's settings (see :mod:`ganforge.presets`), overridden by ``settings``."""
        from ganforge.presets import get_preset

        return cls(TrainConfig.from_dict(get_preset(name, **settings)))

    @classmethod
    def measure_threads(cls, config: TrainConfig | Mapping[str, Any] | None = None, counts: list[int] | None = None,
                        warmup: int = 2, timed: int = 5) -> dict[int, float]:
        """Steps per second of the run ``config`` describes on the CPU with each thread count (``{1: 236.0, ...}``).

        An explicit, documented step (``threads="measure"`` takes it for you): a throwaway copy of the run is
        built and timed, and the process is left as it was; see :func:`ganforge.training.threads.measure`.
        """
        return measure_thread_counts(lambda cfg: cls(cfg).setup(), config, counts, warmup, timed)

    @classmethod
    def resume(cls, run_dir_or_checkpoint: str | Path, *, callbacks: Sequence[Any] = (), **settings: Any) -> Trainer:
        """A Trainer that continues a saved run toward its total ``steps``.

        ``settings`` may change fields that do not alter the computation
        (``steps`` to extend the budget, ``progress``, ``log_every``...; see
        :data:`~ganforge.io.checkpoint.RESUME_CHANGEABLE`); progress settings are
        not inherited from the run. A run folder resumes from its newest
        checkpoint that loads (an unloadable newer one is skipped with a
        :class:`~ganforge.io.checkpoint.ResumeWarning`).
        """
        path, state = ckpt.load_latest_good(run_dir_or_checkpoint)
        saved = TrainConfig.from_dict(state["config"])
        defaults = TrainConfig()
        for name in ckpt.NOT_INHERITED:
            settings.setdefault(name, getattr(defaults, name))
        config = saved.evolve(**settings)
        ckpt.check_resume_changes(saved.to_dict(), config.to_dict(), path)  # before the new plugin options are read
        pins = recorded_pins(state.get("plugins"))  # the implementations it was trained with, by qualified name
        trainer = cls(config, callbacks=callbacks, _pins=pins)
        with pinned(pins):
            notes = pin_notes(pins) + changed_defaults(state.get("plugin_defaults") or {},
                                                       plugin_defaults(trainer.config), saved)
        for note in notes:
            warnings.warn(note, stacklevel=2)
        trainer._resume_state = state
        trainer._threads_given = "threads" in settings  # else the resumed run keeps the count it recorded
        trainer.run_dir = ckpt.run_dir_of(path)
        return trainer

    # -- building ----------------------------------------------------------------

    @property
    def scaler(self) -> Any:
        """The ``torch.amp.GradScaler`` of an fp16 run (:attr:`precision`'s), else None."""
        return self.precision.scaler if getattr(self, "precision", None) is not None else None

    @scaler.setter
    def scaler(self, value: Any) -> None:
        self.precision.scaler = value

    def setup(self) -> Trainer:
        """Build data, models, tricks and optimizers on the device (once; ``fit`` calls it)."""
        if self._built:
            return self
        device = resolve_device(self.config.device)
        self.dist = DistContext(wants_ddp(self.config.strategy), device.type, self.config.dist_timeout)
        try:
            with pinned(self.plugin_pins):
                return self._build(device)
        except BaseException:
            if self.dist.world_size == 1:  # a group of one that ganforge made: leave it (more ranks: just exit)
                self.dist.close(barrier=False)
            raise

    def _build(self, device: torch.device) -> Trainer:
        cfg, registry = self.config, get_registry()
        self.device = self.dist.device(device)
        if self.device.type == "cuda" and self.device.index is not None:
            torch.cuda.set_device(self.device)  # streams, graphs and RNG calls without a device then mean this one
        self._choose_threads()  # before anything is built or seeded ("measure" builds a throwaway copy)
        local_batch = self.dist.split_batch(cfg.batch_size)
        seed_everything(cfg.seed)  # the same on every rank: same initial weights, latents and data order
        self.dataset = registry.create("dataset", cfg.data, root=cfg.data_root, split=cfg.split, **cfg.data_options)
        if cfg.image_size is not None:
            self.dataset = ResizedDataset(self.dataset, cfg.image_size)
        self.tricks: list[Trick] = [
            registry.create("trick", name, **cfg.trick_options.get(name, {})) for name in cfg.tricks
        ]
        self.loss = registry.create("loss", cfg.loss, **cfg.loss_options)
        self.regularizers: list[Regularizer] = [
            registry.create("regularizer", name, **cfg.regularizer_options.get(name, {})) for name in cfg.regularizers
        ]
        check_plugins(self.tricks, self.dataset, cfg, self.dist.enabled, self.loss, self.regularizers)
        num_classes = self.dataset.num_classes if cfg.conditional else None
        num_attributes = self.dataset.num_attributes if cfg.conditional else None
        if cfg.conditional and num_classes is None and num_attributes is None:
            raise ConfigError(f"conditional=True needs a labelled data set; '{cfg.data}' has no labels.")
        if num_attributes is not None and self.dataset.per_item:
            raise ConfigError(f"Data set '{cfg.data}' has attributes (num_attributes={num_attributes}) but is read "
                              "item by item; conditional training on attributes needs the labels at once: implement "
                              "load().")
        spec = ModelSpec(self.dataset.sample_shape, cfg.latent_dim, num_classes,
                         condition_shape=self.dataset.condition_shape, data_classes=self.dataset.num_classes,
                         num_attributes=num_attributes)
        for trick in self.tricks:
            spec = trick.adjust_spec(spec)
        self.spec = spec
        translates = getattr(registry.get("generator", cfg.gen).cls, "takes_condition", False)
        if cfg.latent_dim == 0 and not translates:
            raise ConfigError(f"latent_dim=0 leaves the generator '{cfg.gen}' nothing to generate from: it makes "
                              "samples from latents. Give latent_dim >= 1 (--latent-dim), or use a generator that "
                              "translates a condition.")
        if translates and spec.condition_shape is None:
            raise IncompatibleError(
                f"The generator '{cfg.gen}' translates a condition (an image it is given), but the data set "
                f"'{cfg.data}' offers none. Choose a data set with a condition (paired or unpaired images, e.g. "
                f"'mnist-edges2digits', 'paired-folder', 'unpaired-folder'), or a generator of latents.")
        if num_attributes is not None:
            for kind, name in (("generator", cfg.gen), ("discriminator", cfg.disc)):
                if not getattr(registry.get(kind, name).cls, "takes_attributes", False):
                    names = tuple(self.dataset.attribute_names or ())
                    listed = f": {', '.join(names[:4])}{', ...' if len(names) > 4 else ''}" if names else ""
                    raise IncompatibleError(
                        f"The data set '{cfg.data}' has {num_attributes} labels per sample (attributes{listed}), "
                        f"and the {kind} '{name}' embeds one class "
                        f"index per sample (takes_attributes is False). Use one that takes attribute rows "
                        f"('mlp', 'dcgan'), or train unconditionally (conditional=False).")
        gen = registry.create("generator", cfg.gen, spec, **cfg.gen_options)
        disc = registry.create("discriminator", cfg.disc, spec, **cfg.disc_options)
        for trick in self.tricks:
            gen, disc = trick.modify_models(gen, disc)
        networks = self._declared_networks(spec)
        if cfg.sync_batchnorm and self.dist.enabled:
            if self.device.type != "cuda":
                raise IncompatibleError("sync_batchnorm=True needs CUDA devices (PyTorch's SyncBatchNorm has no CPU "
                                        "version); drop --sync-batchnorm on the CPU.")
            gen, disc = (torch.nn.SyncBatchNorm.convert_sync_batchnorm(m) for m in (gen, disc))
        self.gen, self.disc = gen.to(self.device), disc.to(self.device)
        for declared in networks.values():
            declared[1].module.to(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # static shapes: pick the fastest convolution kernels once
            for model in (self.gen, self.disc):
                if any(isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d) for m in model.modules()):
                    model.to(memory_format=torch.channels_last)  # tensor cores prefer NHWC
        if cfg.ema_decay is not None:
            self.ema = GeneratorEMA(self.gen, cfg.ema_decay, cfg.ema_start, cfg.ema_warmup)
            for trick in (m.__self__ for m in overriding(self.tricks, "sampling_weights")):
                warnings.warn(f"Trick {trick.name!r} swaps its own sampling weights into G, but samples come from "
                              f"ganforge's EMA (ema_decay={cfg.ema_decay:g}), which the trick does not touch; drop "
                              f"ema_decay (--ema) to sample through the trick, or sample with --no-ema.", stacklevel=2)
        self.batches = make_batches(self.dataset, cfg.batch_size, self.device, cfg.data_placement, seed=cfg.seed,
                                    rank=self.dist.rank, world_size=self.dist.world_size, workers=cfg.data_workers)
        attribute_table = None if num_attributes is None else self._attribute_table(num_attributes)
        self.use_graphs, self._path_reason = graph_path(cfg, self.device, self.dist.enabled, self.tricks,
                                                        [self.loss, *self.regularizers])
        g_optim, d_optim = cfg.g_optim, cfg.d_optim
        for trick in self.tricks:
            g_optim, d_optim = trick.adjust_optimizer("gen", g_optim), trick.adjust_optimizer("disc", d_optim)
        def joined(phase: str) -> list[torch.nn.Parameter]:
            return [p for _, net in networks.values() if net.phase == phase and net.optimizer == "joined"
                    for p in net.module.parameters()]

        scheduled_betas = {name.partition(".")[0] for name in cfg.schedules if name.partition(".")[2].startswith("beta")}
        self.opt_g = build_optimizer([*self.gen.parameters(), *joined("gen")], g_optim, self.device,
                                     capturable=self.use_graphs, tensor_betas="g_optim" in scheduled_betas)
        self.opt_d = build_optimizer([*self.disc.parameters(), *joined("disc")], d_optim, self.device,
                                     capturable=self.use_graphs, tensor_betas="d_optim" in scheduled_betas)
        scheduled = [(self.opt_g, g_optim), (self.opt_d, d_optim)]
        #: The tricks' further networks, by qualified name (``trick.name``), as the step trains them.
        self.networks: dict[str, OwnedNetwork] = {}
        for qualified, (trick, net) in networks.items():
            opt = None
            if net.optimizer == "own":
                base = g_optim if net.phase == "gen" else d_optim
                optim = (net.optim if isinstance(net.optim, OptimConfig)
                         else attrs.evolve(base, **dict(net.optim or {})))
                opt = build_optimizer(net.module.parameters(), optim, self.device, capturable=self.use_graphs)
                scheduled.append((opt, optim))
            self.networks[qualified] = OwnedNetwork(trick, qualified.split(".", 1)[1], net.module, net.phase, opt)
        self.schedules: list[LRSchedule | HyperSchedules] = [
            LRSchedule(opt, optim, cfg.steps, self.device) for opt, optim in scheduled if optim.scheduled]
        #: The scheduled hyper-parameters other than learning rates (``config.schedules``), or None.
        self.hyper_schedules = bind_schedules(
            cfg.schedules, optimizers={"g_optim": self.opt_g, "d_optim": self.opt_d}, ema=self.ema,
            plugins={p.name: p for p in (self.loss, *self.regularizers, *self.tricks)}, total=cfg.steps,
            device=self.device)
        if self.hyper_schedules is not None:
            self.schedules.append(self.hyper_schedules)
        #: The run's arithmetic (autocast, gradient scaling, backward, optimizer steps) and the scaler's state.
        self.precision = Precision(cfg.precision, self.device)
        gen_run, disc_run = self.gen, self.disc
        if cfg.compile:
            gen_run, disc_run = torch.compile(self.gen), torch.compile(self.disc)
        gen_run, disc_run = self.dist.wrap(gen_run), self.dist.wrap(disc_run)  # DDP: rank 0's weights everywhere
        self.step_fn = GANStep(
            gen=gen_run, disc=disc_run, loss=self.loss, opt_g=self.opt_g, opt_d=self.opt_d, tricks=self.tricks,
            batch_size=local_batch, latent_dim=spec.latent_dim, num_classes=num_classes, device=self.device,
            attribute_table=attribute_table,
            precision=self.precision, grad_clip=cfg.grad_clip,
            skip_nonfinite=cfg.nan_policy == "skip", rank=self.dist.rank, world_size=self.dist.world_size,
            regularizers=self.regularizers, ema=self.ema, schedules=self.schedules,
            split_condition=self.dataset.split_condition if spec.condition_shape is not None else None,
            gen_takes_condition=self.gen.takes_condition, networks=list(self.networks.values()),
        )
        self._run_step = GraphedStep(self.step_fn) if self.use_graphs else self.step_fn
        self._before_step = overriding(self.tricks, "before_step")
        self._after_step = overriding(self.tricks, "after_step")
        self._d_steps_at = overriding(self.tricks, "d_steps_at")
        for trick in self.tricks:
            trick.setup(self.context)
        for plugin in (self.loss, *self.regularizers):
            plugin.setup(self.context)
        # Fixed latents for sample grids, from their own generator: drawing them
        # must not move the training RNG (exact resume depends on it).
        fixed = torch.Generator().manual_seed(cfg.seed + 1)
        self._grid_labels = self._grid_label_batch()
        n_grid = 64 if self._grid_labels is None else len(self._grid_labels)
        self._grid_z = torch.randn(n_grid, spec.latent_dim, generator=fixed).to(self.device)
        #: Held-out conditions for sample grids and for sampling without given ones (conditioned generators).
        self._conditions: Tensor | None = None
        if self.gen.takes_condition:
            self._conditions = self.held_out_conditions()
            self._grid_z = self._grid_z[: min(n_grid, 32)]
        self._built = True
        if self._resume_state is not None:
            self.load_state_dict(self._resume_state)
            self._resume_state = None
            for trick in overriding(self.tricks, "on_load"):
                trick(self.context, self.step)
        return self

    def _choose_threads(self) -> None:
        """Set PyTorch's CPU thread count per ``config.threads`` (CPU runs only); note the choice for the log.

        An explicit setting is used as given, else a resumed run keeps the count it recorded, else
        ``"auto"`` means 1 thread: never a timing race (see :mod:`ganforge.training.threads` for the order).
        """
        #: How many CPU threads the run uses and why (None on GPUs), for the run's first line.
        self.threads_note: str | None = None
        #: The CPU thread count the run uses (None on GPUs); checkpoints record it for the resume.
        self.thread_count: int | None = None
        if self.device.type != "cpu":
            return
        saved = recorded_count(self._resume_state) if self._resume_state is not None else None
        count, source = choose_threads(self.config.threads, None if self._threads_given else saved)
        rates = None
        if count is None:  # threads="measure", asked for: time a throwaway copy of the run
            rates = type(self).measure_threads(self.config)
            count = max(rates, key=rates.get)
        apply_threads(count)
        self.thread_count = count
        self.threads_note = describe_threads(count, rates, source)
        if saved is not None and saved != count:
            self.threads_note = (f"{self.threads_note[:-1]}; the run used {saved} before: from here its sums may "
                                 f"differ in the last bits from an uninterrupted run)")

    def _declared_networks(self, spec: ModelSpec) -> dict[str, tuple[Trick, Network]]:
        """The further networks the tricks declare, by qualified name; checked."""
        found: dict[str, tuple[Trick, Network]] = {}
        for trick in self.tricks:
            for name, net in dict(trick.networks(spec) or {}).items():
                if not isinstance(net, Network) or not isinstance(net.module, torch.nn.Module):
                    raise IncompatibleError(
                        f"Trick '{trick.name}'.networks() returned {type(net).__name__} for {name!r}; return "
                        f"ganforge.interfaces.Network(module, phase=..., optimizer=...) for each network.")
                found[f"{trick.name}.{name}"] = (trick, net)
        return found

    @torch.no_grad()
    def held_out_conditions(self, n: int = 32) -> Tensor:
        """The first ``n`` conditions (fewer if the split is smaller) of the data set's test split (the training
        split when it has none), on the device: what sample grids, evaluation and sampling without given
        conditions translate."""
        try:
            data = self.dataset_for("test")
            rows = self._first_rows(data, n)
        except Exception:  # no test split (a user's folder of training images): the training rows
            data = self.dataset
            rows = self._first_rows(data, n)
        _, condition = data.split_condition(to_model_space(rows.to(self.device)))
        return condition

    @staticmethod
    def _first_rows(data: Dataset, n: int) -> Tensor:
        if data.per_item:
            return torch.stack([torch.as_tensor(data.load_item(i)[0]) for i in range(min(n, data.num_items()))])
        return data.load()[0][:n]

    def _grid_label_batch(self) -> Tensor | None:
        if self.spec.num_attributes is not None:  # one row per attribute combination the data has (up to 8)
            table = self.step_fn.attribute_table
            return torch.unique(table, dim=0)[:8].float().repeat_interleave(8, dim=0)
        if self.spec.num_classes is None:
            return None
        per_class = 8  # one row per class
        return torch.arange(self.spec.num_classes, device=self.device).repeat_interleave(per_class)

    def _attribute_table(self, k: int) -> Tensor:
        """The data set's attribute rows ``(N, k)`` as uint8 on the device (from the loaded batches): the fakes'
        labels are drawn from them (the attributes' joint distribution as the data has it)."""
        data = self.dataset
        labels = getattr(self.batches, "labels", None)  # what load() returned, as the batches hold it (no 2nd load)
        if labels is None or tuple(labels.shape[1:]) != (k,):
            got = None if labels is None else tuple(labels.shape)
            raise DataError(f"Data set '{data.name}' declares num_attributes={k}, so load() must return labels of "
                            f"shape (N, {k}); it returned {got}.")
        if not bool(((labels == 0) | (labels == 1)).all()):
            raise DataError(f"Data set '{data.name}': attribute labels must be 0 or 1 (found other values); map "
                            "them first (CelebA's -1 means 0).")
        return labels.to(device=self.device, dtype=torch.uint8)

    # -- training ----------------------------------------------------------------

    # State of fit() (run folder, progress output, pending losses); these defaults serve a Trainer used without it.
    _folder: RunFolder | None = None
    _progress: Progress | None = None
    _pending = 0
    _saved_step: int | None = None
    _timer: ckpt.CheckpointTimer | None = None

    def fit(self) -> History:
        """Train until ``config.steps`` steps are done; return the :class:`~ganforge.io.history.History`.

        The run folder is checked (an existing one locked) before any data is
        read and created once the run is built (:mod:`ganforge.io.rundir`); a
        failure inside a plugin is named (:mod:`ganforge.training.failures`).
        """
        self._folder = self._check_run_folder()
        try:
            self.setup()
            try:
                self._train()
            except BaseException:
                if self.dist.world_size == 1:  # a group of one that ganforge made: leave it (more ranks: just exit)
                    self.dist.close(self.step_fn, barrier=False)
                raise
            self.dist.close(self.step_fn)
        except Exception as exc:
            better = explain_failure(self, exc)
            if better is None:
                raise
            raise better from exc
        finally:
            self._folder.release()
        return self.history

    def _check_run_folder(self) -> RunFolder:
        """What can be checked of the run folder before data is read; an existing folder is locked."""
        cfg, state = self.config, self._resume_state
        folder = RunFolder(self.run_dir or cfg.out_dir, (cfg.gen, cfg.data), cfg.overwrite,
                           resuming=state is not None or self.step > 0)
        if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 alone writes the folder
            folder.check(state["config"] if state is not None else None)
        if state is not None:
            try:
                ckpt.check_unfinished(int(state["step"]), cfg.steps, self.run_dir)
            except BaseException:
                folder.release()
                raise
        return folder

    def _train(self) -> None:
        cfg = self.config
        resuming = self.step > 0
        if cfg.eval_every:  # checked before the folder is created: a wrong metric fails now, not at step eval_every
            self._eval_metric = resolve_eval_metric(self)
        check_model_outputs(self)
        writers = self._open_run(resuming)
        self._progress = Progress(cfg.steps, self.step, show=cfg.progress, every_s=cfg.progress_seconds,
                                  enabled=self.dist.is_main)
        self._say(self._describe(resuming))
        self._losses = torch.zeros(cfg.log_every, 2, device=self.device)  # per-step losses not yet read (device)
        self._pending = 0
        timer = self._timer = ckpt.CheckpointTimer(cfg.checkpoint_minutes)
        restore_signals = catch_stop_signals(self.request_stop)  # kept until the last checkpoint is written
        last_log, last_time = self.step, time.perf_counter()
        try:
            while self.step < cfg.steps and not self._stopping():
                losses = self.dist.guard(self._one_step, "running a training step", self.step + 1)
                self._losses[self._pending].copy_(losses)
                self._pending += 1
                self.step += 1
                self._progress.update()
                checkpoint_due = bool(cfg.checkpoint_every) and self.step % cfg.checkpoint_every == 0
                # Losses are checked for NaN/Inf at every log, so log before every checkpoint:
                # a checkpoint is only written after the steps it holds were found finite.
                if (self.step - last_log == cfg.log_every or self.step == cfg.steps or self._stopping()
                        or checkpoint_due):
                    now = time.perf_counter()
                    record = self._log(self.step - last_log, (self.step - last_log) / (now - last_time))
                    for writer in writers:
                        writer.write(record)
                    self._progress.log(self.step, self._progress_line(record))
                    last_log, last_time = self.step, now
                    if self.dist.enabled:  # a stop requested on any rank takes effect on all, here
                        self._stop_agreed = self.dist.any(self._stop_reason is not None, self.step)
                        if self._stop_agreed and self._stop_reason is None:
                            self._stop_reason = "another rank was asked to stop"
                    # Time-based checkpoints are decided here, on the host, at no extra synchronisation.
                    if timer.minutes and not checkpoint_due:
                        checkpoint_due = self.dist.any(timer.due(), self.step)
                if cfg.sample_every and self.step % cfg.sample_every == 0 and self.dist.is_main:
                    self.save_samples()
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self._evaluate(writers)
                if checkpoint_due:
                    self.save_checkpoint()
            path = self.run_dir / ckpt.CHECKPOINT_DIR / ckpt.checkpoint_name(self.step)
            if self._saved_step != self.step:
                path = self.save_checkpoint()
        finally:
            self._progress.close()
            restore_signals()
            self.batches.close()  # DataLoader workers, if any, are not needed between fits
            for writer in writers[1:]:
                writer.close()
        if self._stopping():
            self._say(f"Stopped at step {self.step}: {self._stop_reason}. Saved {path}; resume with "
                      f"'ganforge train --resume {self.run_dir}'.")
            return
        if self.dist.is_main:
            grid = self.save_samples()
            self._say(f"Done: {self.step} steps. Samples in {grid}, checkpoints in {self.run_dir / ckpt.CHECKPOINT_DIR}.")

    def _open_run(self, resuming: bool) -> list[Any]:
        """Create and prepare the run folder and open the log writers: on rank 0 only (other ranks learn the path)."""
        cfg = self.config

        def prepare() -> tuple[str, list[str]]:
            notes = self._folder.open(cfg, self.step)
            return str(self._folder.path), notes

        path, notes = self.dist.on_main(prepare, "preparing the run folder")
        self.run_dir = Path(path)
        for note in notes:
            self._say(note)
        if not self.dist.is_main:
            return []
        writers: list[Any] = [MetricsWriter(self.run_dir / METRICS_FILE, restart=self.history.records if resuming else None)]
        if cfg.tensorboard:
            with self._folder.recording(TENSORBOARD_DIR):
                writers.append(TensorBoardWriter(self.run_dir))
        return writers

    def _one_step(self) -> Tensor:
        """The tricks' before_step hooks, one training step, the after_step hooks; the step's losses (device)."""
        step, ctx = self.step, self.context
        for hook in self._before_step:
            hook(ctx, step)
        asked = [k for k in (at(step) for at in self._d_steps_at) if k is not None]
        d_steps = max(asked) if asked else self.step_fn.d_steps
        lazy = tuple(i for i, reg in enumerate(self.step_fn.lazy) if (step + 1) % reg.every == 0)
        if d_steps == 0:  # a generator-only step (a trick's d_steps_at said 0): one batch, for G's update
            losses = self._run_step([self.batches.next()], lazy, 0)
        else:
            losses = self._run_step([self.batches.next() for _ in range(d_steps)], lazy)
        for hook in self._after_step:
            hook(ctx, step)
        return losses

    def _stopping(self) -> bool:
        """A stop was requested (under DDP: and every rank knows, which they check at each log)."""
        return self._stop_reason is not None and (self._stop_agreed or not self.dist.enabled)

    def _evaluate(self, writers: list[Any]) -> dict[str, Any] | None:
        """Measure the generator, log the metrics and keep ``checkpoints/best.pt`` by the chosen metric.

        None when a stop signal abandoned the evaluation: nothing of it is logged, and the loop saves its stop
        checkpoint at once.
        """
        record = evaluate_and_track(self, self._eval_metric)
        if record is None:
            return None
        self.history.records.append(record)
        for writer in writers:
            writer.write(record)
        self._notify("on_evaluate", record)
        metric, best = self._eval_metric, self.best
        self._say(f"Step {self.step}: {metric} = {record['eval_' + metric]:.4g} "
                  f"(best {best['value']:.4g} at step {best['step']}).")
        return record

    def _describe(self, resuming: bool) -> str:
        cfg = self.config
        path = "CUDA-graph step" if self.use_graphs else f"eager step ({self._path_reason})"
        if self.dist.enabled:
            path += f", {self.dist.describe()}, {cfg.batch_size // self.dist.world_size} samples per rank"
        what = f"Resuming at step {self.step} of" if resuming else "Training"
        tricks = f", tricks: {', '.join(cfg.tricks)}" if cfg.tricks else ""
        tricks += f", regularizers: {', '.join(cfg.regularizers)}" if cfg.regularizers else ""
        tricks += f", generator EMA {cfg.ema_decay:g}" if cfg.ema_decay is not None else ""
        if cfg.schedules:
            tricks += ", schedules: " + ", ".join(f"{n} {s.kind} {s.start:g}->{s.final:g}" if s.kind != "constant"
                                                  else f"{n} {s.start:g}" for n, s in cfg.schedules.items())
        if self.networks:
            tricks += f", networks: {', '.join(n.describe() for n in self.networks.values())}"
        where = ("sampled on the fly" if self.dataset.is_distribution
                 else f"{cfg.split} split, {describe_placement(self.batches)}")
        data = f"{cfg.data} ({where})"
        if self.spec.num_attributes is not None:
            names = ", ".join(self.dataset.attribute_names or ())
            data += f", conditional on {self.spec.num_attributes} attributes{f' ({names})' if names else ''}"
        threads = f" ({self.threads_note})" if self.threads_note else ""
        return (f"{what} {cfg.steps} steps: {cfg.gen} generator / {cfg.disc} discriminator, {cfg.loss} loss"
                f"{tricks}, on {data}, batch {cfg.batch_size}, {self.device}{threads}, {path}. "
                f"Writing to {self.run_dir}.")

    def _flush_losses(self) -> None:
        """Read the losses of the steps since the last flush to the host, check them, add them to the history.

        Done at every log and before every checkpoint, so a checkpoint's history
        holds every step its weights have seen, all checked for NaN/Inf.
        """
        n, self._pending = self._pending, 0
        if not n:
            return
        values = self.dist.mean_(self._losses[:n], self.step).cpu()  # the host synchronisation; DDP: one all_reduce
        checkpoints = self.run_dir / ckpt.CHECKPOINT_DIR
        if self.config.nan_policy != "skip":  # with "skip", bad steps were skipped and counted
            check_losses(values, self.step - n + 1, checkpoints)
        check_parameters({"generator": self.gen, "discriminator": self.disc}, self.step, checkpoints)
        self.history.g_loss += values[:, 0].tolist()
        self.history.d_loss += values[:, 1].tolist()

    def _log(self, steps: int, steps_per_s: float) -> dict[str, Any]:
        """The log record of the last ``steps`` steps (their mean losses, the tricks' values)."""
        self._flush_losses()
        mean = torch.tensor([self.history.g_loss[-steps:], self.history.d_loss[-steps:]]).mean(dim=1)
        record: dict[str, Any] = {"step": self.step, "g_loss": float(mean[0]), "d_loss": float(mean[1]),
                                  "steps_per_s": round(steps_per_s, 2)}
        if self.step_fn.skipped:
            record["skipped_updates"] = self.step_fn.skipped
        if self.hyper_schedules is not None:  # the values the last step used (the EMA half-life as its decay)
            record.update(self.hyper_schedules.current())
        for plugin in (*self.tricks, self.loss, *self.regularizers):
            extra = plugin.on_log(self.context, self.step, record)
            if extra:
                record.update(extra)
        self.history.records.append(record)
        self._notify("on_log", record)
        return record

    def _notify(self, event: str, record: dict[str, Any]) -> None:
        """Call ``event(self, record)`` on every callback that defines it."""
        for callback in self.callbacks:
            method = getattr(callback, event, None)
            if method is not None:
                method(self, record)

    def _progress_line(self, record: dict[str, Any]) -> str:
        parts = [f"g={record['g_loss']:.3f}", f"d={record['d_loss']:.3f}"]
        for key in (k for t in self.tricks for k in t.progress_keys):
            if key in record:
                value = record[key]
                parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
        return " ".join(parts)

    def update_discriminator(self) -> Tensor:
        """Run one extra discriminator update on a fresh real and fake batch; return its loss (device)."""
        real, labels, condition = self.step_fn.prepare(*self.batches.next())
        fake, fake_labels, z = self.step_fn._draw_fakes(real.shape[0], grad=False, condition=condition)
        return self.step_fn.discriminator_update(real, labels, fake, fake_labels, condition, z=z)

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped before its last step (a signal, a trick, a callback), or None."""
        return self._stop_reason

    def request_stop(self, reason: str) -> None:
        """Stop after the current step, saving a checkpoint (used by monitors and signal handlers)."""
        self._stop_reason = reason

    def _say(self, message: str) -> None:
        """Print a message line on the main process (whatever ``progress`` is)."""
        if self._progress is not None:
            self._progress.say(message)
        elif self.dist.is_main:
            print(message, file=sys.stderr, flush=True)

    # -- sampling ----------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int = 64, labels: Tensor | None = None, z: Tensor | None = None,
               ema: bool | None = None, condition: Tensor | None = None) -> Tensor:
        """Generate ``n`` samples (CPU tensor, model space) without touching the training RNG state.

        Args:
            n: Number of samples (ignored when ``z`` is given).
            labels: Class labels ``(n,)`` for conditional models (default: uniform random); for a run on
                attributes, rows ``(n, num_attributes)`` of 0 and 1 (default: rows drawn from the data's).
            z: Latents to use instead of fresh ones (the tricks' ``latent`` transforms apply).
            ema: Sample from the generator's weight average (True), from the
                trained generator itself (False), or from the average when the
                run keeps one (None, the default).
            condition: For a generator that translates a condition: what it
                translates, ``(n, *condition_shape)`` in model space (``n`` is
                then its length); default: the held-out conditions, repeated
                to ``n`` (:meth:`held_out_conditions`).
        """
        self.setup()
        if self.gen.takes_condition:
            if condition is None:
                reps = -(-(n if z is None else len(z)) // len(self._conditions))
                condition = self._conditions.repeat(reps, *[1] * (self._conditions.dim() - 1))
                condition = condition[: (n if z is None else len(z))]
            condition = condition.to(self.device)
            n = len(condition) if z is None else n
        with sampling_generator(self, ema) as gen:
            z = latents(self, z, n)
            labels = self.step_fn.sample_labels(z.shape[0]) if labels is None else self._given_labels(labels, len(z))
            return self.step_fn.generate(gen, z, labels, condition).float().cpu()

    def _given_labels(self, labels: Tensor, n: int) -> Tensor:
        """A caller's labels on the device: class indices as given, attribute rows as float ``(n, k)``."""
        k = self.spec.num_attributes
        if k is None:
            return labels.to(self.device)
        if tuple(labels.shape) != (n, k):
            raise ConfigError(f"labels must be attribute rows of shape ({n}, {k}) for this run (one row of {k} "
                              f"values 0/1 per sample); got shape {tuple(labels.shape)}.")
        return labels.to(self.device, torch.float32)

    @torch.no_grad()
    def dataset_for(self, split: str) -> Dataset:
        """The run's data set as configured (options, ``image_size``), built anew for ``split``."""
        cfg = self.config
        with pinned(self.plugin_pins):
            data = get_registry().create("dataset", cfg.data, root=cfg.data_root, split=split, **cfg.data_options)
        return ResizedDataset(data, cfg.image_size) if cfg.image_size is not None else data

    def to_model_space(self, x: Tensor) -> Tensor:
        """Real samples as the models saw them in training: uint8 images mapped to [-1, 1], then the
        tricks' ``real_batch`` transforms (e.g. ``normalize``'s rescaling). Returns a CPU float tensor.

        Evaluation compares generated samples with reals passed through this.
        """
        from ganforge.metrics.spaces import as_trained

        self.setup()
        return as_trained(self, to_model_space(x))

    def save_samples(self, path: str | Path | None = None) -> Path:
        """Save the fixed-latent sample picture (image grid, or scatter plot for 2-D data)."""
        if path is None:
            path = self.run_dir / SAMPLES_DIR / f"step_{self.step:07d}.png"
        samples = self.sample(z=self._grid_z, labels=self._grid_labels)
        if self._conditions is not None:  # each condition beside its translation, when they can share a picture
            cond = self._conditions[: len(samples)].float().cpu()
            if cond.shape[1:] == samples.shape[1:]:
                samples = torch.stack([cond, samples], dim=1).flatten(0, 1)
        if samples.ndim == 2 and samples.shape[1] == 2:
            from ganforge.metrics.scatter import (
                save_sample_scatter,  # matplotlib-free, but metrics import more
            )

            more = self.sample(2048 - len(samples)) if len(samples) < 2048 else samples[:0]
            save_sample_scatter(self, torch.cat([samples, more]), path)
        else:
            save_grid(samples, path, nrow=8)
        if self._folder is not None:
            self._folder.record(path)
        return Path(path)

    # -- checkpoints -------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly."""
        return {
            "ganforge_version": __version__,
            "torch_version": torch.__version__,
            "config": self.config.to_dict(),
            "step": self.step,
            "gen": unwrap(self.gen).state_dict(),
            "disc": unwrap(self.disc).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.precision.state_dict(),
            "data": self.batches.state_dict(),
            "tricks": {t.name: t.state_dict() for t in self.tricks},
            "loss": self.loss.state_dict(),
            "regularizers": {r.name: r.state_dict() for r in self.regularizers},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            **self._network_record(),
            **self._plugin_record(),
            "threads": self.threads_note,
            "thread_count": self.thread_count,
            "rng": get_rng_state(),
            "history": self.history.to_dict(),
            "skipped_updates": self.step_fn.skipped,
            "best": self.best,
        }

    def _network_record(self) -> dict[str, Any]:
        """The tricks' further networks and their own optimizers (keys only when a run has such networks)."""
        if not self.networks:
            return {}
        return {"networks": {q: n.module.state_dict() for q, n in self.networks.items()},
                "network_optimizers": {q: n.opt.state_dict() for q, n in self.networks.items() if n.own}}

    def _plugin_record(self) -> dict[str, Any]:
        """The chosen plugins' option defaults and qualified names, as checkpoints keep them."""
        with pinned(self.plugin_pins):
            return {"plugin_defaults": plugin_defaults(self.config), "plugins": plugin_sources(self.config)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into a built Trainer."""
        unwrap(self.gen).load_state_dict(state["gen"])
        unwrap(self.disc).load_state_dict(state["disc"])
        if self.use_graphs:  # a captured graph would keep using the optimizer state tensors replaced below
            self._run_step = GraphedStep(self.step_fn)
        load_optimizer_state(self.opt_g, state["opt_g"])
        load_optimizer_state(self.opt_d, state["opt_d"])
        saved_nets, saved_opts = state.get("networks") or {}, state.get("network_optimizers") or {}
        for qualified, net in self.networks.items():
            if qualified not in saved_nets:
                raise CheckpointError(
                    f"The checkpoint holds no weights for the network {qualified!r} that this run's tricks declare "
                    f"(it has: {', '.join(saved_nets) or 'none'}); resume with the tricks the run was trained with.")
            net.module.load_state_dict(saved_nets[qualified])
            if net.own:
                load_optimizer_state(net.opt, saved_opts[qualified])
        for schedule in self.schedules:  # loading replaced the shared learning-rate and beta tensors
            schedule.reattach()
        if self.ema is not None:
            if state.get("ema"):
                self.ema.load_state_dict(state["ema"])
            else:  # a checkpoint of a run without an average: start one from the loaded weights
                self.ema.reset_to(unwrap(self.gen))
        self.loss.load_state_dict(state.get("loss") or {})
        for reg in self.regularizers:
            reg.load_state_dict((state.get("regularizers") or {}).get(reg.name, {}))
        self.precision.load_state_dict(state.get("scaler"))
        self.batches.load_state_dict(state["data"])
        # Under DDP each rank restores its own RNG and trick states when the world size matches;
        # otherwise rank 0's (the RNG streams are the same on every rank by design).
        ranks = state.get("ranks")
        own = ranks[self.dist.rank] if ranks and len(ranks) == self.dist.world_size else state
        for trick in self.tricks:
            trick.load_state_dict(own["tricks"].get(trick.name, {}))
        set_rng_state(own["rng"])
        self.history = History.from_dict(state["history"])
        self.step_fn.skipped = int(state.get("skipped_updates", 0))
        self.best = state.get("best")
        self.step = int(state["step"])
        self.step_fn.step_count.fill_(self.step)

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Write a checkpoint atomically (default: ``checkpoints/step_NNNNNNN.pt``, keeping the newest K).

        Under DDP every rank must call it: each rank's RNG and trick states are
        gathered into the file (key ``ranks``, by rank) and rank 0 alone writes it.
        The losses of steps not logged yet are read first, so the history is complete.
        """
        self._flush_losses()
        state = self.state_dict()
        if self.dist.world_size > 1:
            state["ranks"] = self.dist.gather_to_main({"rng": state["rng"], "tricks": state["tricks"]}, self.step)

        def write() -> Path:
            if path is not None:
                out = ckpt.save_checkpoint(path, state)
            else:
                out = ckpt.save_checkpoint(self.run_dir / ckpt.CHECKPOINT_DIR / ckpt.checkpoint_name(self.step), state)
                ckpt.prune_checkpoints(self.run_dir, self.config.keep_checkpoints)
            if self._folder is not None:
                self._folder.record(out)
            return out

        out = Path(self.dist.on_main(write, "writing a checkpoint", self.step))
        if path is None:
            self._saved_step = self.step
            if self._timer is not None:
                self._timer.reset()
        return out


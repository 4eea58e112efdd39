"""``ganforge sample`` and ``ganforge interpolate``: draw from a trained run.

Both load the run's latest checkpoint (or the checkpoint file given) with
:meth:`ganforge.Trainer.resume` and draw with the trained generator; image
data becomes a PNG grid, 2-D data a scatter plot over the data set's
reference points. ``ganforge sample --out FILE.npz`` (or ``.pt``) writes the
samples themselves instead, for other tools to score.

Every file is built in memory and written by a temporary file renamed over
``--out`` (:mod:`ganforge.io.atomic`): a full disk leaves the previous file as it
was, and a link at ``--out`` is replaced, never written through.
"""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganforge.cli.common import out_path, positive
from ganforge.errors import ConfigError, DataError

SAMPLE_EXAMPLE = """\
examples:
  ganforge sample runs/grid25 --out grid25.png                   # scatter of 2048 points over the modes
  ganforge sample runs/mnist -n 64 --out grid.png --seed 3       # 8 x 8 image grid
  ganforge sample runs/mnist/checkpoints/step_0002000.pt -n 16 --class 7 --out sevens.png
  ganforge sample runs/grid25 -n 2500 --out samples.npz          # the points in data units, for other tools
  ganforge sample runs/mnist -n 10000 --out samples.pt           # uint8 images (and labels when conditional)
  ganforge sample runs/pix2pix --from my_outlines/ --out translated/   # an image-to-image run: one PNG per input
"""

INTERPOLATE_EXAMPLE = """\
examples:
  ganforge interpolate runs/mnist --method slerp --steps 10 --out interp.png   # 8 rows of 10
  ganforge interpolate runs/mnist --method lerp --rows 4 --steps 12 --seed 1 --out lerp.png
  ganforge interpolate runs/grid25 --rows 16 --out paths.png                    # 2-D data: paths as points
"""

#: Points drawn by ``ganforge sample`` on 2-D data when ``-n`` is not given.
DEFAULT_POINTS = 2048
#: Images drawn by ``ganforge sample`` when ``-n`` is not given.
DEFAULT_IMAGES = 64

def add_parser(subparsers: Any) -> None:
    """Register ``sample`` and ``interpolate`` on ``subparsers`` (from :func:`ganforge.cli.build_parser`)."""
    raw = argparse.RawDescriptionHelpFormatter
    run_help = "a run folder (its newest checkpoint is used) or a checkpoint file"

    p = subparsers.add_parser(
        "sample", help="draw samples from a trained run into a PNG, or as data (.npz, .pt)",
        description="Load a run's newest checkpoint (or the given one) and save samples of its generator: an "
                    "image grid for image data, a scatter plot over the data set's reference points for 2-D "
                    "data; or, with --out FILE.npz or FILE.pt, the samples themselves (images as uint8 pixels "
                    "(N, C, H, W), other data in data units) with their labels when the run is conditional. "
                    "They are the samples 'ganforge eval' measures with the same -n and --seed.",
        epilog=SAMPLE_EXAMPLE, formatter_class=raw,
    )
    p.add_argument("run", metavar="CHECKPOINT_OR_RUN_DIR", help=run_help)
    p.add_argument("-n", "--n", dest="n", type=int, default=None,
                   help=f"number of samples (default {DEFAULT_IMAGES} images, or {DEFAULT_POINTS} points for 2-D data)")
    p.add_argument("--out", default=None,
                   help="file to write: .png (a picture), .npz or .pt (the samples as data); default "
                        "RUN_DIR/sample.png")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default 0)")
    p.add_argument("--class", dest="label", type=int, default=None, metavar="C",
                   help="conditional runs: draw only class C (default: classes at random)")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row (default: a square grid)")
    p.add_argument("--device", default="cpu", help="device to generate on (default cpu)")
    p.add_argument("--no-ema", dest="ema", action="store_false", default=None,
                   help="draw from the trained generator itself, not its weight average (runs with --ema)")
    p.add_argument("--from", dest="inputs", nargs="+", default=None, metavar="DIR_OR_IMAGE",
                   help="image-to-image runs: translate these images (folders are searched for images) instead "
                        "of the held-out ones; --out is then a folder that gets one PNG per input, named after it "
                        "(default RUN_DIR/translated)")
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "interpolate", help="draw paths between random latent vectors into a PNG",
        description="Load a run's newest checkpoint (or the given one), draw --rows random pairs of latent "
                    "vectors and generate --steps samples along the path between each pair (ends included). "
                    "Image data becomes one row of images per pair; 2-D data a scatter of the paths' points.",
        epilog=INTERPOLATE_EXAMPLE, formatter_class=raw,
    )
    p.add_argument("run", metavar="CHECKPOINT_OR_RUN_DIR", help=run_help)
    p.add_argument("--method", default="slerp", choices=["slerp", "lerp"],
                   help="slerp (default): along the great circle; lerp: along the straight line")
    p.add_argument("--steps", type=int, default=10, help="samples per path, ends included (default 10)")
    p.add_argument("--rows", type=int, default=8, help="number of paths (default 8)")
    p.add_argument("--out", default=None, help="PNG to write (default RUN_DIR/interp_METHOD.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent pairs (default 0)")
    p.add_argument("--class", dest="label", type=int, default=None, metavar="C",
                   help="conditional runs: class of every path (default: row i uses class i mod classes)")
    p.add_argument("--device", default="cpu", help="device to generate on (default cpu)")
    p.add_argument("--no-ema", dest="ema", action="store_false", default=None,
                   help="draw from the trained generator itself, not its weight average (runs with --ema)")
    p.set_defaults(func=cmd_interpolate)


# -- loading -------------------------------------------------------------------------


def load_run(path: str | Path, device: str = "cpu", ema: bool | None = None) -> Any:
    """A built :class:`~ganforge.Trainer` holding the newest checkpoint of ``path`` (a run folder or a file).

    ``ema`` sets which generator it samples from (:attr:`ganforge.Trainer.use_ema`; False: the trained
    generator itself, not its weight average).

    Raises:
        CheckpointError: when ``path`` does not exist or holds no checkpoint.
    """
    from ganforge.trainer import Trainer

    trainer = Trainer.resume(path, progress=False, device=device).setup()
    trainer.use_ema = ema
    return trainer


def writable_out(out: str | None, trainer: Any, default: str, suffixes: tuple[str, ...] = (".png",)) -> Path:
    """:func:`~ganforge.cli.common.out_path`, checked to be writable before anything is generated.

    Raises:
        StorageError: naming the file, the cause (read-only, permission, a file in the
            way...) and the fix, instead of a traceback after the samples were drawn.
    """
    from ganforge.cli.common import check_out
    from ganforge.io.atomic import probe_writable, storage_error

    check_out(out, f"--out {default}")
    fix = "choose a writable --out"
    path = Path(out) if out is not None else Path(trainer.run_dir) / default
    probe_writable(path.parent, "write", fix, name=path)
    if path.is_dir():
        raise storage_error(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path)), path, "write", fix)
    try:
        return out_path(out, trainer, default, suffixes=suffixes)
    except OSError as exc:
        raise storage_error(exc, path, "write", fix) from exc


def _labels(trainer: Any, label: int | None, n: int) -> Tensor | None:
    """Class labels for ``n`` samples: all ``label``, or None (the Trainer's uniform draw)."""
    classes = trainer.spec.num_classes
    if label is None:
        return None
    if trainer.spec.num_attributes is not None:
        raise ConfigError(f"--class picks one class, and {trainer.run_dir} was trained on {trainer.spec.num_attributes} "
                          "attributes per sample; choose attribute rows from Python: "
                          "Trainer.sample(labels=rows of 0/1, shape (n, attributes)).")
    if classes is None:
        raise ConfigError(f"--class needs a conditional run; {trainer.run_dir} was trained without labels.")
    if not 0 <= label < classes:
        raise ConfigError(f"--class must be from 0 to {classes - 1} for this run (got {label})")
    return torch.full((n,), label, dtype=torch.long)


def _is_points(samples: Tensor) -> bool:
    return samples.ndim == 2 and samples.shape[1] == 2


def _as_images(samples: Tensor) -> Tensor:
    if samples.ndim == 3:  # (N, H, W): one channel
        samples = samples.unsqueeze(1)
    if samples.ndim != 4:
        raise DataError(
            f"Cannot draw samples of shape {tuple(samples.shape[1:])}: ganforge draws images (C, H, W) "
            "and 2-D points."
        )
    return samples


def _save_points(trainer: Any, points: Tensor, path: Path) -> None:
    from ganforge.metrics.scatter import save_sample_scatter

    save_sample_scatter(trainer, points, path)


def write_samples_data(path: str | Path, samples: Tensor, labels: Tensor | None = None, **meta: Any) -> Path:
    """Write samples as ``.npz`` or ``.pt`` by a temporary file renamed over ``path``.

    The file is built in memory first, so a full disk (or any refusal) leaves a
    previous ``path`` intact and no temporary file, and raises one
    :class:`~ganforge.errors.StorageError` naming ``path``, for every format; a
    link at ``path`` is replaced, not written through.
    """
    from ganforge.metrics.sampling import save_samples_data

    return save_samples_data(path, samples, labels, **meta)


# -- sample ------------------------------------------------------------------------------


def sample_to_png(trainer: Any, path: str | Path, n: int | None = None, seed: int = 0, label: int | None = None,
                  nrow: int | None = None) -> Tensor:
    """Generate samples with a built Trainer and save them; return them (CPU, model space).

    The file's ending chooses what is written: ``.png`` a picture (image grid,
    or scatter plot for 2-D data), ``.npz`` or ``.pt`` the samples as data
    (:func:`ganforge.metrics.samples_as_data`) with their labels when the run
    is conditional. The samples are :func:`ganforge.metrics.generate_with_labels`'s,
    the ones :func:`ganforge.metrics.evaluate` measures for the same ``n`` and ``seed``.

    Args:
        trainer: A Trainer after :meth:`~ganforge.Trainer.setup` (e.g. from :func:`load_run`).
        path: The file to write (``.png``, ``.npz`` or ``.pt``).
        n: Number of samples (default 64 images, or 2048 points for 2-D data).
        seed: Seed of the latent vectors (and random classes), default 0. The
            Trainer's own random state is left as it was.
        label: Conditional runs: generate only this class.
        nrow: Images per grid row (default: a square grid).
    """
    from ganforge.metrics import generate_with_labels, samples_as_data

    points = trainer.spec.data_shape == (2,)
    n = n if n is not None else (DEFAULT_POINTS if points else DEFAULT_IMAGES)
    positive("-n", n)
    positive("--nrow", nrow)
    _labels(trainer, label, n)  # checks --class
    samples, labels = generate_with_labels(trainer, n, seed=seed, label=label)
    path = Path(path)
    if path.suffix.lower() in (".npz", ".pt"):
        write_samples_data(path, samples_as_data(trainer, samples), labels, step=int(trainer.step),
                           data=trainer.dataset.name, seed=seed)
    elif _is_points(samples):
        _save_points(trainer, samples, path)
    else:
        from ganforge.io.viz import save_grid

        save_grid(_as_images(samples), path, nrow=nrow)
    return samples


def input_images(paths: list[str], shape: tuple[int, ...]) -> tuple[list[Path], Tensor]:
    """The image files among ``paths`` (folders searched below), decoded to uint8 ``(N, *shape)``.

    Raises:
        DataError: naming the paths when none is an image, or when ``shape`` is not a square image.
    """
    from ganforge.data.image_folder import _images_under, _is_image, load_image

    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files += _images_under(path)
        elif _is_image(path):
            files.append(path)
        elif not path.exists():
            raise DataError(f"--from {given}: no such file or folder.")
    if not files:
        raise DataError(f"--from {' '.join(paths)}: no image files there (PNG, JPEG, BMP, TIFF, ...).")
    if len(shape) != 3 or shape[1] != shape[2]:
        raise DataError(f"This run's generator translates conditions of shape {shape}, not square images: "
                        "translate them from Python with Trainer.sample(condition=...).")
    import numpy as np

    images = np.stack([load_image(f, shape[1], shape[0]) for f in files])
    return files, torch.from_numpy(images)


def translate_files(trainer: Any, paths: list[str], out_dir: Path, seed: int = 0, chunk: int = 256) -> list[Path]:
    """Translate the images at ``paths`` with an image-to-image run; write ``out_dir/<input name>.png`` each.

    Inputs are fitted to the condition's size and channels as training images are (shorter side scaled,
    centre square cropped), mapped by the data set's ``condition_from``, and translated with latents seeded
    by ``seed``. Names that repeat (``a/x.png``, ``b/x.png``) get the input's position as a prefix.
    """
    from ganforge.io.viz import png_bytes, write_png

    if not getattr(trainer.gen, "takes_condition", False):
        raise ConfigError(f"--from needs an image-to-image run (a generator that translates a condition); "
                          f"{trainer.run_dir} generates from latents. Drop --from.")
    files, images = input_images(paths, tuple(trainer.spec.condition_shape))
    conditions = trainer.dataset.condition_from(images)
    gen = torch.Generator().manual_seed(seed)
    outs = []
    for start in range(0, len(files), chunk):
        part = conditions[start : start + chunk]
        z = torch.randn(len(part), trainer.spec.latent_dim, generator=gen)
        outs.append(trainer.sample(z=z, condition=part))
    translated = torch.cat(outs)
    stems = [f.stem for f in files]
    repeated = {s for s in stems if stems.count(s) > 1}
    written = []
    for i, (stem, image) in enumerate(zip(stems, translated)):
        name = f"{i:05d}_{stem}.png" if stem in repeated else f"{stem}.png"
        path = out_dir / name
        write_png(path, png_bytes(_as_images(image[None]).add(1).div(2).clamp(0, 1), nrow=1, padding=0))
        written.append(path)
    return written


def cmd_sample(args: argparse.Namespace) -> int:
    """Run ``ganforge sample``; returns the exit status."""
    positive("-n", args.n)
    trainer = load_run(args.run, device=args.device, ema=args.ema)
    if args.inputs:
        from ganforge.cli.common import check_out
        from ganforge.io.atomic import probe_writable

        check_out(args.out, "--out DIR")
        out_dir = Path(args.out) if args.out is not None else Path(trainer.run_dir) / "translated"
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"--out {out_dir} is a file; with --from it names a folder for the translations.")
        out_dir.mkdir(parents=True, exist_ok=True)
        probe_writable(out_dir, "write", "choose a writable --out folder")
        written = translate_files(trainer, args.inputs, out_dir, seed=args.seed)
        print(f"Translated {len(written)} images with step {trainer.step} into {out_dir}")
        return 0
    out = writable_out(args.out, trainer, "sample.png", suffixes=(".png", ".npz", ".pt"))
    samples = sample_to_png(trainer, out, n=args.n, seed=args.seed, label=args.label, nrow=args.nrow)
    print(f"Wrote {len(samples)} samples of step {trainer.step} to {out}")
    return 0


# -- interpolate -------------------------------------------------------------------------


def interpolation_rows(trainer: Any, rows: int = 8, steps: int = 10, method: str = "slerp", seed: int = 0,
                       label: int | None = None) -> Tensor:
    """Samples along ``rows`` paths between random latent pairs, ``(rows * steps, *data_shape)``, row by row.

    Uses :func:`ganforge.interpolate.interpolate` (the run's ``latent`` tricks
    apply to the endpoints). Conditional runs draw every path for ``label``,
    or path ``i`` for class ``i mod num_classes`` when ``label`` is None.
    """
    from ganforge.interpolate import interpolate

    positive("--rows", rows)
    _labels(trainer, label, 1)  # checks --class
    classes = trainer.spec.num_classes
    gen = torch.Generator().manual_seed(seed)
    ends = torch.randn(rows, 2, trainer.spec.latent_dim, generator=gen)
    out = []
    attributes = trainer.spec.probe_labels(rows) if trainer.spec.num_attributes is not None else None
    for i in range(rows):
        cls = None if classes is None else torch.tensor(label if label is not None else i % classes)
        if attributes is not None:  # path i for the i-th binary pattern of the attributes
            cls = attributes[i]
        out.append(interpolate(trainer, ends[i, 0], ends[i, 1], steps=steps, method=method, labels=cls))
    return torch.cat(out)


def cmd_interpolate(args: argparse.Namespace) -> int:
    """Run ``ganforge interpolate``; returns the exit status."""
    positive("--rows", args.rows)
    if args.steps < 2:
        raise ConfigError(f"--steps must be an integer >= 2 (got {args.steps})")
    trainer = load_run(args.run, device=args.device, ema=args.ema)
    out = writable_out(args.out, trainer, f"interp_{args.method}.png")
    samples = interpolation_rows(trainer, rows=args.rows, steps=args.steps, method=args.method, seed=args.seed,
                                 label=args.label)
    if _is_points(samples):
        _save_points(trainer, samples, out)
    else:
        from ganforge.io.viz import save_grid

        save_grid(_as_images(samples), out, nrow=args.steps)
    print(f"Wrote {args.rows} {args.method} paths of {args.steps} samples (step {trainer.step}) to {out}")
    return 0

"""One MNIST epoch end to end: ganforge's resident-data Trainer against the plain PIL pipeline.

The plain pipeline is the classic one: a Dataset that turns each uint8 image
into a PIL image and back through ``ToTensor`` and ``Normalize`` per item, a
``DataLoader`` without workers, numpy noise, and both losses read with
``.item()`` every step. ganforge's side is ``Trainer.fit()`` for the same
number of steps, data loading, setup and the final checkpoint included.
Both train the same models (built by ganforge's registry) at the same batch size.

With ``--files W`` the 10,000 images are also written as PNG files (digit
subfolders, not timed), and two more pipelines read them per epoch with W
DataLoader workers: ganforge's ``image-folder`` with ``data_placement="files"``
and the plain loop over torchvision's ``ImageFolder``.

    python benchmarks/epoch.py --device cpu
    python benchmarks/epoch.py --device cuda --json out.json
    python benchmarks/epoch.py --device cpu --files 2

MNIST is read from --data-root, $GANFORGE_DATA or ../shared/data/mnist
(the test split, 10,000 images).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms

import ganforge
from ganforge.data.mnist import MNIST
from ganforge.interfaces import ModelSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step import machine, save_json  # noqa: E402  (the sibling benchmark: shared reporting helpers)

DEFAULT_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"


class PILMNIST(torch.utils.data.Dataset):
    """MNIST as torchvision serves it: one PIL image per item, transformed on the CPU."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.images[i, 0].numpy(), mode="L")
        return self.transform(img), int(self.labels[i])


def write_png_folder(root: str, folder: Path) -> Path:
    """The MNIST test split as PNG files in one subfolder per digit (for the ``--files`` pipelines)."""
    images, labels = MNIST(root=root, split="test", download=False).load()
    for i, (image, label) in enumerate(zip(images, labels.tolist())):
        sub = folder / str(label)
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy(), mode="L").save(sub / f"{i:05d}.png")
    return folder


def plain_epoch(root: str, batch: int, device: str, model: str, files: tuple[Path, int] | None = None
                ) -> tuple[float, int]:
    """Seconds and images for one epoch of the plain pipeline (from reading the files on).

    ``files=(folder, workers)`` reads the PNG folder with torchvision's ImageFolder and ``workers``
    DataLoader workers instead of the IDX files.
    """
    dev = torch.device(device)
    t0 = time.perf_counter()
    if files is None:
        images, labels = MNIST(root=root, split="test", download=False).load()
        loader = DataLoader(PILMNIST(images, labels), batch_size=batch, shuffle=True, drop_last=True)
    else:
        transform = transforms.Compose([transforms.Grayscale(), transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
        loader = DataLoader(torchvision.datasets.ImageFolder(str(files[0]), transform=transform), batch_size=batch,
                            shuffle=True, drop_last=True, num_workers=files[1], pin_memory=dev.type == "cuda")
    torch.manual_seed(0)
    spec = ModelSpec((1, 28, 28), latent_dim=100)
    gen = ganforge.create_plugin("generator", model, spec).to(dev)
    disc = ganforge.create_plugin("discriminator", model, spec).to(dev)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = torch.nn.BCEWithLogitsLoss()
    valid, fake_t = torch.ones(batch, device=dev), torch.zeros(batch, device=dev)
    seen = 0
    for real, _ in loader:
        real = real.to(dev)
        z = torch.from_numpy(np.random.normal(0, 1, (batch, 100)).astype(np.float32)).to(dev)
        opt_g.zero_grad()
        fake = gen(z)
        g_loss = criterion(disc(fake), valid)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad()
        d_loss = (criterion(disc(real), valid) + criterion(disc(fake.detach()), fake_t)) / 2
        d_loss.backward()
        opt_d.step()
        g_loss.item(), d_loss.item()
        seen += batch
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, seen


def ganforge_epoch(root: str, batch: int, device: str, model: str, files: tuple[Path, int] | None = None
                   ) -> tuple[float, int]:
    """Seconds and images for one epoch of Trainer.fit() (setup, data loading and final checkpoint included).

    ``files=(folder, workers)`` trains on the PNG folder read by ``workers`` DataLoader workers
    (``data_placement="files"``) instead of the resident IDX data.
    """
    steps = 10_000 // batch
    data = dict(data="mnist", data_root=root, split="test")
    if files is not None:
        data = dict(data="image-folder", data_root=str(files[0]), data_options={"image_size": 28, "channels": 1},
                    data_placement="files", data_workers=files[1])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ganforge.Trainer(gen=model, disc=model, batch_size=batch, steps=steps, device=device, out_dir=tmp,
                         progress=False, sample_every=0, checkpoint_every=0, log_every=100, **data).fit()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, steps * batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", default=os.environ.get("GANFORGE_DATA", str(DEFAULT_ROOT)))
    parser.add_argument("--files", type=int, metavar="WORKERS",
                        help="also time reading PNG files with this many DataLoader workers")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    if MNIST(root=args.data_root, split="test", download=False)._find() is None:
        print(f"MNIST test split not found in {args.data_root}; pass --data-root", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as png_dir:
        pipelines = [("ganforge", ganforge_epoch, None), ("plain", plain_epoch, None)]
        if args.files is not None:
            files = (write_png_folder(args.data_root, Path(png_dir)), args.files)
            pipelines += [("ganforge-files", ganforge_epoch, files), ("plain-files", plain_epoch, files)]
        runs: dict[str, list[float]] = {name: [] for name, _, _ in pipelines}
        for _ in range(args.repeats):  # alternate, so machine load hits all alike
            for name, fn, source in pipelines:
                seconds, images = fn(args.data_root, args.batch_size, args.device, args.model, source)
                runs[name].append(images / seconds)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(args.device),
        "device": args.device, "torch": torch.__version__, "model": args.model, "batch": args.batch_size,
        "command": " ".join(["epoch.py", *(argv if argv is not None else sys.argv[1:])]),
        "img_per_s": {k: round(statistics.median(v), 1) for k, v in runs.items()},
        "runs_img_per_s": {k: [round(x, 1) for x in v] for k, v in runs.items()},
    }
    rates = result["img_per_s"]
    result["ratio"] = round(rates["ganforge"] / rates["plain"], 3)
    if args.files is not None:
        result["files_workers"] = args.files
        result["files_ratio"] = round(rates["ganforge-files"] / rates["plain-files"], 3)
    print(f"{result['date']}  {result['machine']}  torch {result['torch']}  {args.model}, batch {args.batch_size}, "
          f"median of {args.repeats}")
    for name, rate in rates.items():
        print(f"{name:<15}{rate:>10.1f} img/s")
    print(f"{'ratio':<15}{result['ratio']:>10.3f}")
    if args.files is not None:
        print(f"{'files ratio':<15}{result['files_ratio']:>10.3f}  ({args.files} workers)")
    save_json(args.json_path, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

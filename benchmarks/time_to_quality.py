"""Time to quality: wall-clock seconds of training until a 2-D mixture run first meets a quality threshold.

Three trainers, each with a fixed seed, evaluated every ``--every`` steps with
PacGAN's protocol (2,500 samples, the same mixture metrics as ``ganforge
eval``; evaluation time is not counted):

* ``ganforge recipe``: ganforge with the preset (``--preset``, default ``grid25``);
* ``ganforge seed settings``: ganforge with the settings of the seed recipe the
  project started from (``mlp``/``bce``, Adam 2e-4 (0.5, 0.999), the README's
  former first-run widths), which shows what the recipe is worth;
* ``plain loop``: a hand-written PyTorch loop with the *same* model and settings
  as the recipe, which shows what the library itself costs.

Each reports the seconds until the first evaluation that meets the threshold
(default for grid25: all 25 modes and at least 80 % high-quality samples), or
"not reached" within ``--max-steps``. One CPU thread; run nothing else at the
same time.

Example::

    python benchmarks/time_to_quality.py --preset grid25 --every 500 --max-steps 20000 --seeds 3
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))

#: The seed recipe: ganforge's classic MLP GAN as the README first ran it.
SEED_SETTINGS = {"gen": "mlp", "disc": "mlp", "loss": "bce", "batch_size": 256,
                 "gen_options": {"hidden": [128, 128, 128]}, "disc_options": {"hidden": [128, 128]}}


def meets(result: dict[str, Any], modes: int, hq: float) -> bool:
    return result["modes"] >= modes and result["hq_percent"] >= hq


def evaluate_points(points: torch.Tensor, dataset: Any) -> dict[str, Any]:
    """PacGAN's mixture metrics of model-space ``points`` (the function ``ganforge eval`` uses)."""
    from ganforge.metrics.mixture import dataset_mixture_metrics

    return dataset_mixture_metrics(points, dataset)


def run_ganforge(settings: dict[str, Any], every: int, max_steps: int, n: int, modes: int, hq: float,
                 out: Path) -> dict[str, Any]:
    """Train with ganforge in chunks of ``every`` steps; evaluate between chunks (not timed)."""
    import ganforge
    from ganforge.metrics.sampling import generate

    trainer = ganforge.Trainer(**{**settings, "steps": max_steps, "out_dir": str(out), "overwrite": True,
                                  "progress": False, "sample_every": 0, "checkpoint_every": 0,
                                  "checkpoint_minutes": 0, "threads": 1, "log_every": every})
    trainer.setup()
    trained, curve = 0.0, []
    while trainer.step < max_steps:
        start = time.perf_counter()
        for _ in range(every):
            trainer._one_step()
            trainer.step += 1
        trained += time.perf_counter() - start
        result = evaluate_points(generate(trainer, n, seed=0), trainer.dataset)
        curve.append({"step": trainer.step, "seconds": trained, **{k: result[k] for k in ("modes", "hq_percent",
                                                                                          "reverse_kl")}})
        if meets(result, modes, hq):
            return {"reached_s": trained, "reached_step": trainer.step, "curve": curve}
    return {"reached_s": None, "reached_step": None, "curve": curve}


class PlainMLP(nn.Module):
    """Linear -> activation blocks (no normalisation), then a linear output (tanh for the generator)."""

    def __init__(self, sizes: list[int], activation: str, tanh: bool):
        super().__init__()
        act = {"relu": lambda: nn.ReLU(), "leaky_relu": lambda: nn.LeakyReLU(0.2)}[activation]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers += [nn.Linear(a, b), act()]
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def run_plain(settings: dict[str, Any], seed: int, every: int, max_steps: int, n: int, modes: int,
              hq: float) -> dict[str, Any]:
    """The recipe written as a plain PyTorch loop (mlp models without norms, bce or hinge, Adam, linear decay, EMA,
    lazy R1), trained on the same data set object ganforge samples from."""
    import ganforge

    g_opts, d_opts = settings.get("gen_options", {}), settings.get("disc_options", {})
    if g_opts.get("norm", "batch") != "none" or d_opts.get("norm", "none") != "none":
        raise SystemExit("the plain loop implements mlp models without normalisation layers")
    torch.manual_seed(seed)
    data = ganforge.get_registry().create("dataset", settings["data"], **settings.get("data_options", {}))
    z_dim, batch = settings["latent_dim"], settings["batch_size"]
    gen = PlainMLP([z_dim, *g_opts["hidden"], 2], g_opts.get("activation", "leaky_relu"), tanh=True)
    disc = PlainMLP([2, *d_opts["hidden"], 1], d_opts.get("activation", "leaky_relu"), tanh=False)
    g_cfg, d_cfg = settings["g_optim"], settings["d_optim"]
    opt_g = torch.optim.Adam(gen.parameters(), lr=g_cfg["lr"], betas=tuple(g_cfg["betas"]))
    opt_d = torch.optim.Adam(disc.parameters(), lr=d_cfg["lr"], betas=tuple(d_cfg["betas"]))
    ema = copy.deepcopy(gen).requires_grad_(False) if settings.get("ema_decay") else None
    decay = settings.get("ema_decay") or 0.0
    r1 = settings.get("regularizer_options", {}).get("r1", {}) if "r1" in settings.get("regularizers", ()) else {}
    gamma, r1_every = r1.get("gamma", 0.0), r1.get("every", 1)  # lazy R1: every k steps, k times as strong
    hinge = settings.get("loss") == "hinge"
    soft = nn.functional.softplus
    trained, curve, step = 0.0, [], 0
    while step < max_steps:
        start = time.perf_counter()
        for _ in range(every):
            for opt, cfg in ((opt_g, g_cfg), (opt_d, d_cfg)):
                if cfg.get("schedule") == "linear":
                    frac = min(1.0, step / max(1, max_steps - 1))
                    for group in opt.param_groups:
                        group["lr"] = cfg["lr"] + (cfg.get("final_lr", 0.0) - cfg["lr"]) * frac
            fake = gen(torch.randn(batch, z_dim))
            g_logits = disc(fake).squeeze(1)
            g_loss = -g_logits.mean() if hinge else soft(-g_logits).mean()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward(inputs=list(gen.parameters()))
            opt_g.step()
            if ema is not None:
                with torch.no_grad():
                    for a, p in zip(ema.parameters(), gen.parameters()):
                        a.lerp_(p, 1 - decay)
            real, _ = data.sample(batch)
            r_logits = disc(real).squeeze(1)
            f_logits = disc(fake.detach()).squeeze(1)
            if hinge:
                d_loss = torch.relu(1 - r_logits).mean() + torch.relu(1 + f_logits).mean()
            else:
                d_loss = soft(-r_logits).mean() + soft(f_logits).mean()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward(inputs=list(disc.parameters()))
            opt_d.step()
            if gamma > 0 and (step + 1) % r1_every == 0:
                # Lazy R1 as ganforge (and StyleGAN2) does it: its own D update, every k steps, k times as strong;
                # the last layer's bias gets no gradient and Adam leaves it alone.
                real = real.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(disc(real).sum(), real, create_graph=True)
                penalty = gamma * r1_every / 2 * grad.pow(2).sum(1).mean()
                opt_d.zero_grad(set_to_none=True)
                penalty.backward()
                opt_d.step()
            step += 1
        trained += time.perf_counter() - start
        sampler = ema if ema is not None else gen
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(0)
            points = torch.cat([sampler(torch.randn(min(1000, n - i), z_dim)) for i in range(0, n, 1000)])
        result = evaluate_points(points, data)
        curve.append({"step": step, "seconds": trained, **{k: result[k] for k in ("modes", "hq_percent",
                                                                                  "reverse_kl")}})
        if meets(result, modes, hq):
            return {"reached_s": trained, "reached_step": step, "curve": curve}
    return {"reached_s": None, "reached_step": None, "curve": curve}


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from bench_common import machine, save_json

    from ganforge.presets import get_preset

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="grid25", help="the recipe (a ganforge preset on a 2-D mixture)")
    p.add_argument("--every", type=int, default=500, help="steps between evaluations (default 500)")
    p.add_argument("--max-steps", type=int, default=20000, help="give up after this many steps (default 20000)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--n", type=int, default=2500, help="evaluation samples (default 2500, PacGAN's)")
    p.add_argument("--modes", type=int, default=None, help="modes the threshold needs (default: all of them)")
    p.add_argument("--hq", type=float, default=80.0, help="high-quality percent the threshold needs (default 80)")
    p.add_argument("--out", default=None, help="output path without extension")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    recipe = {k: v for k, v in get_preset(args.preset).items() if k != "steps"}
    import ganforge

    data = ganforge.get_registry().create("dataset", recipe["data"], **recipe.get("data_options", {}))
    modes = int(data.modes.shape[0]) if args.modes is None else args.modes
    seed_settings = {**SEED_SETTINGS, "data": recipe["data"]}
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for name, fn in (
                ("ganforge recipe", lambda s: run_ganforge({**recipe, "seed": s}, args.every, args.max_steps, args.n,
                                                           modes, args.hq, Path(tmp) / f"recipe-{s}")),
                ("ganforge seed settings", lambda s: run_ganforge({**seed_settings, "seed": s}, args.every,
                                                                  args.max_steps, args.n, modes, args.hq,
                                                                  Path(tmp) / f"seed-{s}")),
                ("plain loop (recipe)", lambda s: run_plain(recipe, s, args.every, args.max_steps, args.n, modes,
                                                            args.hq)),
            ):
                result = fn(seed)
                result["seed"] = seed
                rows.setdefault(name, []).append(result)
                reached = "not reached" if result["reached_s"] is None else \
                    f"{result['reached_s']:.1f} s (step {result['reached_step']})"
                print(f"seed {seed} {name:<24} {reached}", flush=True)
    summary = {}
    for name, runs in rows.items():
        times = [r["reached_s"] for r in runs if r["reached_s"] is not None]
        summary[name] = {"reached": f"{len(times)}/{len(runs)}",
                         "median_s": statistics.median(times) if times else None,
                         "times_s": [r["reached_s"] for r in runs],
                         # training time per step over each run's whole curve (evaluations not counted)
                         "ms_per_step": statistics.median(1000 * r["curve"][-1]["seconds"] / r["curve"][-1]["step"]
                                                          for r in runs)}
    report = {"benchmark": "time_to_quality", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "command": " ".join(["python", *sys.argv]), "preset": args.preset,
              "recipe": recipe, "seed_settings": seed_settings,
              "threshold": {"modes": modes, "hq_percent": args.hq}, "every": args.every,
              "max_steps": args.max_steps, "summary": summary, "runs": rows}
    out = Path(args.out) if args.out else RESULTS / f"time-to-quality-{args.preset}"
    save_json(report, out.with_suffix(".json"))
    for name, s in summary.items():
        med = "not reached" if s["median_s"] is None else f"{s['median_s']:.1f} s"
        print(f"{name:<24} reached {s['reached']}, median {med}, {s['ms_per_step']:.2f} ms/step")
    print(f"Wrote {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

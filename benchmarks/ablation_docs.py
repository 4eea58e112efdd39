"""Write an ablation's results into docs/tricks.md: each trick's "**Measured**" paragraph, from the JSON.

Reads the JSON files ``benchmarks/ablation.py`` wrote and replaces, in every
``## `TRICK` ...`` section of docs/tricks.md, the paragraph that starts with
``**Measured**`` by one built from the results (mean with its 95 % interval,
the baseline's in brackets, and the verdict of the stated test per metric).
A trick with no ablation result keeps no stale numbers: its paragraph says it
was not measured by these runs.

Example::

    python benchmarks/ablation_docs.py benchmarks/results/ablation-grid25.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TRICKS_PAGE = REPO / "docs" / "tricks.md"
LABELS = {"modes": "modes", "hq_percent": "high quality %", "reverse_kl": "reverse KL", "fid": "FID",
          "classes": "classes", "class_kl": "class KL", "precision": "precision", "recall": "recall"}
SECTION = re.compile(r"^## `(\w+)`")


def _cell(cell: dict[str, Any]) -> str:
    lo, hi = cell["ci"]
    return f"{cell['mean']:.3g} ({lo:.3g} to {hi:.3g})"  # no brackets: "[a] [b]" would read as a link


def paragraph(trick: str, reports: list[tuple[str, dict[str, Any]]]) -> str:
    """The "**Measured**" paragraph of ``trick`` from the ablation ``reports`` (``(file name, report)``)."""
    parts, sources = [], []
    for name, report in reports:
        meta = report["meta"]
        base = (f"the `{meta['base_preset']}` preset" if meta.get("base_preset") else "the classic MLP GAN")
        command = re.sub(r"--only .*?(?=\s--|$)", "--only ...", meta["command"])  # the file lists them
        sources.append(f"`{command}` ({meta['date'][:10]}, {meta['steps']} steps, "
                       f"{len(meta['seeds'])} seeds, baseline {base}; `benchmarks/results/{name}`)")
        for data, block in report["results"].items():
            rows = {row["config"]: row for row in block["table"]}
            row = rows.get(trick)
            if row is None:
                continue
            if "skipped" in row:
                parts.append(f"{data}: not run ({row['skipped']})")
                continue
            base_row = rows.get(row["baseline"], {})
            cells = []
            for key, label in LABELS.items():
                if key not in row or key not in base_row:
                    continue
                verdict = row[key].get("verdict", "no detectable effect")
                if verdict == "no detectable effect":
                    verdict = "no detectable effect at this budget"
                cells.append(f"{label} {_cell(row[key])} against {_cell(base_row[key])}: **{verdict}**")
            if row["baseline"] != "baseline":
                cells.append(f"(against the {row['baseline']})")
            parts.append(f"{data}: " + "; ".join(cells))
    if not parts:
        return ("**Measured:** not in the current ablation (" + "; ".join(sources)
                + "). See [Benchmarks](benchmarks.md#trick-ablation).")
    return ("**Measured** by " + "; ".join(sources) + ". Each metric: mean (95 % t interval) over the seeds "
            "against the baseline's; verdict by an exact permutation test, p < 0.05, uncorrected. " + ". ".join(parts)
            + ". See [Benchmarks](benchmarks.md#trick-ablation) for the whole table.")


def rewrite(page: str, reports: list[tuple[str, dict[str, Any]]]) -> str:
    """``page`` with every trick section's "**Measured**" paragraph replaced (or added at the section's end)."""
    lines = page.split("\n")
    out: list[str] = []
    trick: str | None = None
    written = False

    def close() -> None:
        if trick is not None and not written:
            while out and out[-1] == "":
                out.pop()
            out.extend(["", paragraph(trick, reports), ""])

    for line in lines:
        match = SECTION.match(line)
        if match or line.startswith("## "):
            close()
            trick, written = (match.group(1) if match else None), False
        if trick is not None and line.startswith("**Measured"):
            out.append(paragraph(trick, reports))
            written = True
            continue
        out.append(line)
    close()
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        raise SystemExit("usage: python benchmarks/ablation_docs.py ABLATION.json [...]")
    reports = [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in paths]
    TRICKS_PAGE.write_text(rewrite(TRICKS_PAGE.read_text(encoding="utf-8"), reports), encoding="utf-8")
    print(f"Rewrote the Measured paragraphs of {TRICKS_PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

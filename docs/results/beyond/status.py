"""Print the "Where the runs stand" tables of README.md: per study and variant, the seeds whose
run is complete and their run times. Usage: python docs/results/beyond/status.py [RUNS_DIR]"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from toobig.store import run_dir_name
from toobig.studies import STUDIES


def main(runs: Path) -> None:
    for study in STUDIES.values():
        print(f"**{study.name}** ({study.seeds} seeds asked per variant)\n")
        print("| variant | complete seeds | minutes per run (summary.json total_s) |")
        print("|---|---|---|")
        missing = 0
        for variant in study.variants:
            seeds, minutes = [], []
            for seed in range(study.seeds):
                path = runs / run_dir_name(replace(variant.config(0), seed=seed)) / "summary.json"
                summary = json.loads(path.read_text()) if path.is_file() else {}
                if summary.get("status") == "complete":
                    seeds.append(seed)
                    minutes.append(summary["timings"]["total_s"] / 60)
                else:
                    missing += 1
            span = f"{min(minutes):.1f}-{max(minutes):.1f}" if minutes else "—"
            listed = ", ".join(map(str, seeds)) or "none"
            name = variant.label if variant.label.startswith(variant.model) else f"{variant.model}, {variant.label}"
            print(f"| {name} | {len(seeds)} ({listed}) | {span} |")
        print(f"\nMissing: {missing} runs.\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "runs")

"""Print the "Where the runs stand" tables of README.md: per study and variant, the seeds whose
run is complete and their run times, against the seeds the queue (queue.sh) asks for. Usage:
python docs/results/beyond/status.py [RUNS_DIR]"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from toobig.store import run_dir_name
from toobig.studies import STUDIES

# What queue.sh asks for beyond the studies' own seeds: Table 2 (the paper's n14, n28 and n56,
# shared with the capacity curve) at 20 seeds. Keep in step with it.
TABLE2_SEEDS = 20
# And less than a study plans: (study, model) -> seeds of that model's variants other than the
# paper's (since session 17 the queue trains n14's order-ablation protocols, which no hypothesis
# reads, to 5 seeds, not 10).
FEWER_SEEDS = {("order-ablation", "n14"): 5}


def _asked() -> list[tuple[str, tuple, int]]:
    """(name, variants, seeds asked) per block of the status: the studies, then Table 2."""
    blocks = [(s.name, s.variants, s.seeds) for s in STUDIES.values()]
    table2 = tuple(v for v in STUDIES["capacity-curve"].variants if v.is_table2)
    return [*blocks, ("table2 (n14, n28, n56 under the paper's protocol)", table2, TABLE2_SEEDS)]


def _minutes_per_model(runs: Path) -> dict[str, list[float]]:
    """Run times of the complete runs per model, in minutes per 30,000 iterations."""
    per_model: dict[str, list[float]] = {}
    for path in runs.glob("*/seed*/summary.json"):
        summary = json.loads(path.read_text())
        if summary.get("status") == "complete":
            iters = summary.get("max_iters", 30_000)
            per_model.setdefault(summary["model"], []).append(summary["timings"]["total_s"] / 60 * 30_000 / iters)
    return per_model


def main(runs: Path) -> None:
    per_model = _minutes_per_model(runs)
    # The median includes the runs slowed by tests on their core; the fastest run of a model is
    # closer to what a quiet core gives.
    typical = {model: statistics.median(values) for model, values in per_model.items()}
    fastest = {model: min(values) for model, values in per_model.items()}
    remaining, quiet, asked = 0.0, 0.0, set()
    for name, variants, planned in _asked():
        fewer = "".join(f"; {k} of {m}'s protocols" for (study, m), k in FEWER_SEEDS.items() if study == name)
        print(f"**{name}** ({planned} seeds asked per variant{fewer})\n")
        print("| variant | complete seeds | minutes per run (summary.json total_s) |")
        print("|---|---|---|")
        missing, block_hours = 0, 0.0
        for variant in variants:
            asked_seeds = planned if variant.is_table2 else FEWER_SEEDS.get((name, variant.model), planned)
            seeds, minutes = [], []
            for seed in range(asked_seeds):
                path = runs / run_dir_name(replace(variant.config(0), seed=seed)) / "summary.json"
                summary = json.loads(path.read_text()) if path.is_file() else {}
                if summary.get("status") == "complete":
                    seeds.append(seed)
                    minutes.append(summary["timings"]["total_s"] / 60)
                else:
                    missing += 1
                    config = replace(variant.config(0), seed=seed)
                    if (config.digest(), seed) not in asked:  # studies share Table 2's runs
                        asked.add((config.digest(), seed))
                        share = variant.max_iters / 30_000
                        minutes_left = typical.get(variant.model, max(typical.values(), default=0.0)) * share
                        remaining += minutes_left
                        block_hours += minutes_left / 60
                        quiet += fastest.get(variant.model, max(fastest.values(), default=0.0)) * share
            span = f"{min(minutes):.1f}-{max(minutes):.1f}" if minutes else "—"
            listed = ", ".join(map(str, seeds)) or "none"
            shown = variant.label if variant.label.startswith(variant.model) else f"{variant.model}, {variant.label}"
            print(f"| {shown} | {len(seeds)} ({listed}) | {span} |")
        # A run shared with an earlier block (Table 2's, in the studies) is counted there.
        hours = f" (about {block_hours:.1f} core-hours)" if missing else ""
        print(f"\nMissing: {missing} runs{hours}.\n")
    print(f"The missing runs need about {remaining / 60:.0f} core-hours at the median run time per model so far "
          f"({quiet / 60:.0f} at each model's fastest run, closer to a core left alone); each block's hours count a run "
          "that two blocks share (Table 2's) in the first.")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "runs")

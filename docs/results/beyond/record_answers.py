"""Write answers.json (toobig.answers) for the complete runs trained before the evaluation records
carried the held-out answers, where this machine still has their last checkpoint (it is not
committed: it holds the optimizer state). A run whose last checkpoint does not reproduce its last
evaluation's counts exactly gets nothing. Usage: python docs/results/beyond/record_answers.py [RUNS_DIR]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from toobig.answers import record_answers
from toobig.store import ANSWERS_FILE, RunDir, StoreError


def main(runs: Path) -> None:
    written, recorded, no_checkpoint, failed = 0, 0, [], []
    for summary_path in sorted(runs.glob("*/seed*/summary.json")):
        run = RunDir(summary_path.parent)
        summary = json.loads(summary_path.read_text())
        final = summary.get("final") or {}
        if summary.get("status") != "complete" or "heldout_by_prompt" not in final and not final.get("heldout_total"):
            continue  # unfinished, or nothing held out
        if "heldout_answers" in final or (run.path / ANSWERS_FILE).is_file():
            recorded += 1
            continue
        if not run.checkpoint_path("last").is_file():
            no_checkpoint.append(run.path.relative_to(runs))
            continue
        try:
            record_answers(run.path)
            written += 1
        except StoreError as exc:
            failed.append(f"{run.path.relative_to(runs)}: {exc}")
    print(f"answers.json written for {written} runs; {recorded} had their answers already; "
          f"{len(no_checkpoint)} have no last checkpoint here; {len(failed)} failed")
    for line in failed:
        print("  failed:", line)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "runs")

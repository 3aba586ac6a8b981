"""Ask the studies' question of configurations of your own: does n20 extrapolate to the held-out
pairs more often at a lower peak learning rate? Trains both settings side by side on every core
(toobig.sweep), then tests the hypothesis as the report tests a study's (toobig.compare).

    python examples/ask_a_question.py [ITERS] [SEEDS] [OUT]   # 30000: the paper's protocol
"""
import sys
from pathlib import Path

import toobig

LOWER, PAPER = 3e-3, 1e-2  # peak learning rates (the minimum is 1/100 of the peak, as in the paper)


def main(iters: int, seeds: int, out: Path) -> int:
    grid = [toobig.config("arithmetic", "n20", iters=iters, learning_rate=lr, min_lr=lr / 100) for lr in (LOWER, PAPER)]
    outcome = toobig.sweep(grid, seeds=range(seeds), out=out)
    if not outcome.ok:
        print("some runs failed; run the script again to retry them", file=sys.stderr)
        return 1
    # Each setting's seeds share one configuration folder (their runs' parent). The hypothesis:
    # the lower peak extrapolates more than the paper's.
    folder = {run.config.train.learning_rate: run.path.parent for run in toobig.load_runs(out)}
    print(f"Does n20 extrapolate more at a peak learning rate of {LOWER:g} than at {PAPER:g}?\n")
    names = (f"lr {LOWER:g}", f"lr {PAPER:g} (paper)")
    print(toobig.compare(folder[LOWER], folder[PAPER], planned=seeds, names=names))
    for v in toobig.compare_verdicts(folder[LOWER], folder[PAPER], planned=seeds, names=names):
        print(f"{v.reading}: {v.outcome} (p = {v.p.raw:.3g})")
    return 0


# Worker processes import this script again: it starts runs only when run itself.
if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(int(args[0]) if args else 30_000, int(args[1]) if len(args) > 1 else 5, Path(args[2] if len(args) > 2 else "runs/question")))

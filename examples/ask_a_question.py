"""Ask the studies' question of configurations of your own: does n20 extrapolate to the held-out
pairs more often at a lower peak learning rate? Trains both settings side by side on every core
(toobig.sweep), then tests the hypothesis as the report tests a study's (toobig.compare).

    python examples/ask_a_question.py [ITERS] [SEEDS] [OUT]   # 30000: the paper's protocol
"""
import sys
from pathlib import Path

import toobig
from toobig.store import run_dir_name


def main(iters: int, seeds: int, out: Path) -> int:
    settings = {"lr 3e-3": 3e-3, "lr 1e-2 (paper)": 1e-2}
    grid = {
        name: [toobig.config("arithmetic", "n20", iters=iters, learning_rate=lr, min_lr=lr / 100, seed=s) for s in range(seeds)]
        for name, lr in settings.items()
    }
    outcome = toobig.sweep([c for configs in grid.values() for c in configs], out)
    if not outcome.ok:
        print("some runs failed; run the script again to retry them", file=sys.stderr)
        return 1
    # Each setting's seeds share one configuration folder (its seed<N> runs' parent); the
    # hypothesis: the first setting extrapolates more than the second.
    low, paper = ((out / run_dir_name(configs[0])).parent for configs in grid.values())
    print(toobig.compare(low, paper, planned=seeds))
    for v in toobig.compare_verdicts(low, paper, planned=seeds):
        print(f"{v.reading}: {v.outcome} (p = {v.p.raw:.3g})")
    return 0


# Worker processes import this script again: it starts runs only when run itself.
if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(int(args[0]) if args else 30_000, int(args[1]) if len(args) > 1 else 5, Path(args[2] if len(args) > 2 else "runs/question")))

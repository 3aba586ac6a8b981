"""Train three seeds of n14 for a short run and plot the held-out (5,7) accuracy with the
in-distribution accuracy: `python examples/heldout_curves.py [ITERS] [OUT]`."""
import sys

import matplotlib.pyplot as plt

import toobig

iters, out = int(sys.argv[1]) if len(sys.argv) > 1 else 3000, sys.argv[2] if len(sys.argv) > 2 else "example_runs"
runs = toobig.train(toobig.config("arithmetic", "n14", iters=iters), seeds=[0, 1, 2], out=out, resume=True)
for run in runs:
    plt.plot(*run.curve("add_acc"), color="grey", lw=0.8)
    plt.plot(*run.curve("heldout_acc"), label=f"seed {run.seed}: held-out (5,7)")
plt.xlabel("iteration"), plt.ylabel("accuracy (grey: addition)"), plt.legend()
plt.savefig(f"{out}/heldout.png", dpi=120)
print(f"{out}/heldout.png")

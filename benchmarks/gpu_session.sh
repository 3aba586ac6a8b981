#!/usr/bin/env bash
# One GPU window in one command: the carried wheels (tomli-w is not on the GPU image), the suite
# under a hard limit, and a snapshot of its results into $OUT every 30 s, so a call cut off by its
# limit still brings back what was done. MLT checkpoints (43 MB best, 128 MB with optimizer
# state) stay behind: the window's transfer limits (16 MiB a file) leave no room for them. The
# mini runs' last checkpoints come back, so a later call can resume them: unpack gpu.tgz into
# .gpu_results (ignored by git), carry it, and run with R=.gpu_results. The studies beyond the
# paper (`--only beyond`) come back as beyond.tgz: unpack it and copy its complete runs into a
# results folder of their own (they trained on another device than the CPU studies).
#     bash benchmarks/gpu_session.sh 480                      # on the GPU machine, $OUT set
#     PY=.venv/bin/python OUT=/tmp/o bash benchmarks/gpu_session.sh 300 --dry-run
set -u
BUDGET=${1:-480}
shift || true
PY=${PY:-python3}
: "${OUT:?OUT must name the folder that comes back}"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
else
  export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
nvidia-smi -L 2>/dev/null
$PY -c "import torch, toobig; print('torch', torch.__version__, 'cuda', torch.version.cuda)" || exit 1
R=${R:-/tmp/gpu_results}
mkdir -p "$R"
snap() {
  tar czf "$OUT/gpu.tgz.tmp" -C "$R" --exclude='*.lock' --exclude='*.tmp' --exclude=./beyond \
      --exclude='*-mlt-*/*/checkpoints' . 2>/dev/null && mv "$OUT/gpu.tgz.tmp" "$OUT/gpu.tgz"
  # The studies beyond the paper in their own archive, without optimizer state (a variant cut
  # off trains again from the start), so the two stay under the 16 MiB a file that comes back.
  [ -d "$R/beyond" ] && tar czf "$OUT/beyond.tgz.tmp" -C "$R" --exclude='*.lock' --exclude='*.tmp' \
      --exclude='last.safetensors' --exclude='*.staged.safetensors' beyond 2>/dev/null \
      && mv "$OUT/beyond.tgz.tmp" "$OUT/beyond.tgz"
}
( while sleep 30; do snap; done ) &
SNAPPER=$!
timeout $((BUDGET + 45)) $PY benchmarks/gpu_suite.py --out "$R" --budget-s "$BUDGET" "$@"
echo "suite exit $?"
kill $SNAPPER 2>/dev/null
snap
cp "$R/suite.jsonl" "$R/speed.md" "$OUT/" 2>/dev/null
ls -la "$OUT"

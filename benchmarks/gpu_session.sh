#!/usr/bin/env bash
# One GPU window in one command: the carried wheels (tomli-w is not on the GPU image), the suite
# under a hard limit, and a snapshot of its results into $OUT every 30 s, so a call cut off by its
# limit still brings back what was done. MLT checkpoints (43 MB best, 128 MB with optimizer
# state) stay behind: the window's transfer limits (16 MiB a file) leave no room for them. The
# mini runs' last checkpoints come back, so a later call can resume them: unpack gpu.tgz into
# .gpu_results (ignored by git), carry it, and run with R=.gpu_results. The studies beyond the
# paper (`--only beyond`) come back as beyond.tgz and beyond-last.tgz (the optimizer state of
# their unfinished runs): unpack both into .gpu_results to resume them the same way, and copy
# their complete runs into a results folder of their own (they trained on another device).
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
# archive NAME TAR-ARGS...: $OUT/NAME from $R, replaced whole (a temp name per call, so the
# snapper's tar and the final one never share a file). tar's status 1 (a file changed while
# read: trainers append to metrics.jsonl) still gives a usable archive.
archive() {
  local name=$1 tmp="$OUT/.$1.$BASHPID.tmp"
  shift
  tar czf "$tmp" -C "$R" --warning=no-file-changed --exclude='*.lock' --exclude='*.tmp' "$@" 2>/dev/null
  if [ $? -le 1 ]; then mv "$tmp" "$OUT/$name"; else rm -f "$tmp"; fi
  if [ -f "$OUT/$name" ] && [ "$(stat -c %s "$OUT/$name")" -gt $((16 * 1024 * 1024)) ]; then
    echo "gpu_session: $name is over 16 MiB and will not come back" >&2
  fi
}
snap() {
  archive gpu.tgz --exclude=./beyond --exclude='*-mlt-*/*/checkpoints' .
  # The studies beyond the paper: text files and best checkpoints in one archive, the optimizer
  # state of their unfinished runs in another (to resume them in a later window), so each stays
  # under the 16 MiB a file that comes back.
  if [ -d "$R/beyond/runs" ]; then
    archive beyond.tgz --exclude='last.safetensors' --exclude='*.staged.safetensors' beyond
    (cd "$R" && grep -L '"status": "complete"' beyond/runs/*/seed*/summary.json 2>/dev/null \
      | sed 's|summary.json$|checkpoints/last.safetensors|' | while read -r f; do [ -f "$f" ] && echo "$f"; done) \
      > "$OUT/.beyond-last.list"
    archive beyond-last.tgz -T "$OUT/.beyond-last.list"
  fi
}
( while sleep 30; do snap; done ) &
SNAPPER=$!
timeout $((BUDGET + 45)) $PY benchmarks/gpu_suite.py --out "$R" --budget-s "$BUDGET" "$@"
echo "suite exit $?"
kill $SNAPPER 2>/dev/null
snap
cp "$R/suite.jsonl" "$R/speed.md" "$OUT/" 2>/dev/null
rm -f "$OUT"/.*.tmp "$OUT/.beyond-last.list"
ls -la "$OUT"

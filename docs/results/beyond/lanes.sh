#!/usr/bin/env bash
# Run the studies' background queue (queue.sh) across sessions: start, pause, resume, stop,
# status, and commit the runs that completed.
#
#   lanes.sh start [COMMIT]   pin a git worktree at COMMIT (default: HEAD) and start both lanes
#                             (refused while a lane of this QUEUE_DIR still runs or is paused),
#                             "order" on core 1 and "other" on core 0, each in its own process group
#   lanes.sh pause [LANE...]  SIGSTOP lanes (default: other), e.g. while tests run on core 0
#   lanes.sh resume [LANE...] SIGCONT them
#   lanes.sh stop             end both lanes; interrupted runs resume from their last checkpoint
#   lanes.sh status           what each lane runs now, from its log, and whether it is paused
#   lanes.sh commit           git add the run directories whose summary.json says complete and
#                             that git sees changed (never a run in progress), and list them
#
# The worktree keeps later code changes away from the running studies. PYTHON is the interpreter
# with toobig's dependencies (default: python3); QUEUE_DIR holds the worktree, the logs and the
# process-group ids (default: ~/.toobig-queue).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
runs=$here/runs
queue_dir=${QUEUE_DIR:-$HOME/.toobig-queue}
worktree=$queue_dir/worktree
python=${PYTHON:-python3}
lanes=(order other)

signal() {  # signal SIGNAL LANE...
    local sig=$1 lane
    shift
    for lane in "$@"; do
        if [ -s "$queue_dir/$lane.pid" ]; then
            kill "-$sig" -- "-$(cat "$queue_dir/$lane.pid")" 2>/dev/null && echo "$lane: $sig" || echo "$lane: not running"
        else
            echo "$lane: never started here"
        fi
    done
}

case ${1:-status} in
    start)
        mkdir -p "$queue_dir"
        for lane in "${lanes[@]}"; do  # a second queue would race the first for the same runs
            if [ -s "$queue_dir/$lane.pid" ] && kill -0 -- "-$(cat "$queue_dir/$lane.pid")" 2>/dev/null; then
                echo "lanes.sh: lane $lane is already running (process group $(cat "$queue_dir/$lane.pid")); stop it first" >&2
                exit 2
            fi
        done
        commit=$(git -C "$repo" rev-parse "${2:-HEAD}") || exit 2
        if [ -d "$worktree" ]; then
            git -C "$worktree" checkout -q --detach "$commit" || exit 2
        else
            git -C "$repo" worktree add -q -f --detach "$worktree" "$commit" || exit 2
        fi
        for lane in "${lanes[@]}"; do
            core=$([ "$lane" = order ] && echo 1 || echo 0)
            TOOBIG="$python -m toobig.cli" PYTHONPATH="$worktree/src" \
                setsid nohup "$here/queue.sh" "$lane" "$core" >> "$queue_dir/$lane.log" 2>&1 < /dev/null &
            echo $! > "$queue_dir/$lane.pid"
            echo "$lane: started on core $core at ${commit:0:7} (log: $queue_dir/$lane.log)"
        done ;;
    pause)
        shift; signal STOP "${@:-other}" ;;
    resume)
        shift; signal CONT "${@:-other}" ;;
    stop)
        signal CONT "${lanes[@]}" > /dev/null
        signal TERM "${lanes[@]}" ;;
    status)
        for lane in "${lanes[@]}"; do
            # A lane left paused (SIGSTOP) trains nothing: say so, since its log looks the same.
            state=""
            if [ -s "$queue_dir/$lane.pid" ]; then
                case $(ps -o stat= -p "$(cat "$queue_dir/$lane.pid")" 2>/dev/null) in
                    "") state=" [not running]" ;;
                    T*) state=" [PAUSED: lanes.sh resume $lane]" ;;
                esac
            fi
            echo "== $lane$state: $(tail -n 1 "$queue_dir/$lane.log" 2>/dev/null || echo 'no log')"
        done ;;
    commit)
        cd "$repo" || exit 2
        for summary in "$runs"/*/seed*/summary.json; do
            run=$(dirname "$summary")
            [ -n "$(git status --porcelain -- "$run")" ] || continue
            if "$python" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["status"] != "complete")' "$summary" 2>/dev/null; then
                git add -- "$run" && echo "${run#"$runs"/}"
            fi
        done ;;
    *)
        echo "lanes.sh: unknown command '$1' (start, pause, resume, stop, status or commit)" >&2
        exit 2 ;;
esac

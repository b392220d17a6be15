#!/bin/bash
# make valgrind: the unit suites, a live trace with the exporter and a
# recording, and the report of that recording, under memcheck. Any error or
# leak fails.
set -euo pipefail
cd "$(dirname "$0")/.."
VG=(valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --suppressions=tests/valgrind.supp)
for t in build/tests/test_*; do
	"${VG[@]}" "$t" > /dev/null
done
tmp=$(mktemp -d)
ns=eptrace-vg-$$
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; ip netns del $ns 2>/dev/null; rm -rf "$tmp"' EXIT
ip netns add $ns
ip -n $ns link set lo up
port=$((20000 + $$ % 20000))
"${VG[@]}" build/eptrace record -o "$tmp/vg.db" --json --netns /run/netns/$ns -i 0.5 \
	--prometheus 127.0.0.1:$port > "$tmp/live.out" 2> "$tmp/live.err" &
pid=$!
for _ in $(seq 300); do grep -q Tracing "$tmp/live.err" && break; sleep 0.1; done
grep -q Tracing "$tmp/live.err" || { cat "$tmp/live.err"; exit 1; }
ip netns exec $ns python3 tests/integration/scenario.py connect_many 50 > /dev/null
for _ in $(seq 300); do
	[ "$(grep -c '"event":"alloc"' "$tmp/live.out")" -ge 50 ] && break
	sleep 0.1
done
python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/metrics').read()"
kill -INT $pid
if ! wait $pid; then pid=; cat "$tmp/live.err"; exit 1; fi
pid=
[ "$(grep -c '"event":"alloc"' "$tmp/live.out")" -ge 50 ] || { echo "valgrind: allocs missing"; exit 1; }
"${VG[@]}" build/eptrace report "$tmp/vg.db" --hist --collisions --occupancy > /dev/null
"${VG[@]}" build/eptrace report "$tmp/vg.db" --json > /dev/null
echo "valgrind: unit suites, live record with exporter, and report clean"

#!/bin/bash
# lbfoctl against a running instance on a real SAN: status figures match
# what fio moved, a policy switch and share changes mid-run cause no client
# error, drain moves new I/O off a path and leaves none in flight, path
# fail/restore, the JSON parses, malformed requests get an error while I/O
# goes on, and the metrics endpoint is scraped with rising counters.
set -u
cd "$(dirname "$0")/../.."
export TB_ID=${TB_ID:-c$$}
TB_ID=${TB_ID:0:7}
source tests/integration/lib/testbed.sh
source tests/integration/lib/lbfo.sh
trap 'lbfo_cleanup' EXIT
CTL=build/src/ctl/lbfoctl

tb_up 2 300 300 || { fail "control: test bed up"; exit 1; }
P1=$(tb_portal 1) P2=$(tb_portal 2)
SOCK=$LBFO_TMP/ctl.sock
export LBFO_SOCKET=$SOCK
MPORT=$((20000 + RANDOM % 20000))

lbfo_start portal="$P1" portal="$P2" target="$TB_IQN" lun=1 control="$SOCK" \
	metrics_listen="127.0.0.1:$MPORT" || { fail "control: nbdkit start: $(tail -3 "$LBFO_LOG")"; exit 1; }

# The socket is the operator's only.
check "control: socket is mode 0600" test "$(stat -c %a "$SOCK")" = 600
# A second instance on the same socket is refused.
msg=$(lbfo_run_fail portal="$P1" target="$TB_IQN" lun=1 control="$SOCK")
check "control: socket of a live instance is refused" grep -q "belongs to a running lbfo instance" <<<"$msg"

# Status figures match what fio moved.
lbfo_fio "$LBFO_TMP/f1.json" --rw=write --bs=256k --iodepth=16 --size=48M
wbytes=$(fio_field "$LBFO_TMP/f1.json" .write.io_bytes)
"$CTL" status --json >"$LBFO_TMP/st.json"
rc=$?
sbytes=$(jq '[.lus[0].paths[].bytes_written] | add' "$LBFO_TMP/st.json")
if [ $rc = 0 ] && [ -n "$sbytes" ] && [ "$wbytes" -gt 0 ] &&
   [ "$(echo "d = $sbytes - $wbytes; if (d < 0) d = -d; d * 100 <= 5 * $wbytes" | bc)" = 1 ]; then
	pass "status --json parses; bytes written $sbytes vs fio $wbytes (within 5 %)"
else
	fail "status: bytes $sbytes vs fio $wbytes (rc=$rc)"
fi
for k in name portal state role read_share write_share bytes_read bytes_written outstanding; do
	jq -e ".lus[0].paths[0] | has(\"$k\")" "$LBFO_TMP/st.json" >/dev/null || fail "status json: no '$k'"
done
"$CTL" status | grep -q "^  p0 " && pass "status: human table lists the paths" || fail "status: table"

# A policy switch and a share change in the middle of a verified run.
( sleep 1; "$CTL" policy set round-robin repeat=4 >/dev/null; sleep 1;
  "$CTL" policy set static-share >/dev/null; "$CTL" shares set p0=70 p1=30 >/dev/null; sleep 1;
  "$CTL" policy set service-time >/dev/null ) &
spid=$!
lbfo_fio "$LBFO_TMP/f2.json" --rw=randwrite --bs=64k --iodepth=16 --size=96M --verify=crc32c --verify_fatal=1
frc=$?
wait $spid
if [ $frc = 0 ] && [ "$(fio_field "$LBFO_TMP/f2.json" .error)" = 0 ] &&
   [ "$("$CTL" status --json | jq -r '.lus[0].policy')" = service-time ] &&
   "$CTL" events | grep -q "policy set to static-share (operator)"; then
	pass "policy switched three times mid-run: 0 errors, data verifies, events logged"
else
	fail "policy switch mid-run (fio rc=$frc): $("$CTL" events | tail -3)"
fi
msg=$("$CTL" policy set dynamic-share bogus=1 2>&1)
check "policy set with a bad parameter is refused by name" grep -q "unknown parameter 'bogus'" <<<"$msg"
[ "$("$CTL" status --json | jq -r '.lus[0].policy')" = service-time ] || fail "bad policy set changed the policy"
msg=$("$CTL" shares set p9=10 2>&1)
check "shares set on an unknown path names it" grep -q "no path 'p9'" <<<"$msg"

# Drain: new I/O moves off the path, none left in flight.
( lbfo_fio "$LBFO_TMP/f3.json" --rw=randwrite --bs=64k --iodepth=16 --size=64M ) &
fpid=$!
sleep 1
out=$("$CTL" path drain p0 --timeout 20)
drc=$?
b0=$("$CTL" status --json | jq '.lus[0].paths[0].bytes_written')
sleep 1.5
b1=$("$CTL" status --json | jq '.lus[0].paths[0].bytes_written')
st=$("$CTL" status --json | jq -r '.lus[0].paths[0].state + " " + (.lus[0].paths[0].outstanding | tostring)')
wait $fpid
if [ $drc = 0 ] && grep -q "drained" <<<"$out" && [ "$b0" = "$b1" ] && [ "$st" = "draining 0" ] &&
   [ "$(fio_field "$LBFO_TMP/f3.json" .error)" = 0 ]; then
	pass "drain: reported done, no new I/O on the path, none in flight, 0 client errors"
else
	fail "drain: rc=$drc out='$out' bytes $b0 -> $b1 state '$st'"
fi
"$CTL" path restore p0 >/dev/null
[ "$("$CTL" status --json | jq -r '.lus[0].paths[0].state')" = active ] &&
	pass "path restore after drain: active again" || fail "restore after drain"

# Operator fail / restore.
"$CTL" path fail p1 >/dev/null
if lbfo_wait_status '.lus[0].paths[1].state == "failed" and .lus[0].paths[1].operator_down' 5; then
	lbfo_fio "$LBFO_TMP/f4.json" --rw=write --bs=64k --iodepth=8 --size=8M
	sleep 2 # longer than a reconnect backoff: it must stay out
	if [ "$(lbfo_status '.lus[0].paths[1].state')" = failed ] &&
	   [ "$(fio_field "$LBFO_TMP/f4.json" .error)" = 0 ]; then
		pass "path fail (operator): the path stays out, I/O goes on"
	else
		fail "path fail (operator): $(lbfo_status '.lus[0].paths[1]')"
	fi
else
	fail "path fail: p1 not failed"
fi
"$CTL" path restore p1 >/dev/null
lbfo_wait_status '.lus[0].paths[1].state == "active"' 10 &&
	pass "path restore (operator): logged in and active again" || fail "path restore: $(lbfo_status '.lus[0].paths[1]')"
"$CTL" events | grep -q "failed: operator" && pass "events: operator action with its reason" ||
	fail "events: no operator event"
"$CTL" events --json | jq -e '.events | length > 0' >/dev/null && pass "events --json parses" || fail "events json"

# Malformed requests during I/O: error replies, I/O unaffected.
( lbfo_fio "$LBFO_TMP/f5.json" --rw=randwrite --bs=64k --iodepth=16 --size=48M --verify=crc32c ) &
fpid=$!
bad=0
for req in "frobnicate" "" "status xml" "path explode p0" "shares set p0=abc" \
	   "$(head -c 6000 /dev/zero | tr '\0' 'x')" "policy set"; do
	reply=$(timeout 5 python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall((sys.argv[2]+"\n").encode()); print(s.recv(4096).decode())' "$SOCK" "$req")
	grep -q "^error: " <<<"$reply" || { bad=1; note "request '${req:0:20}' got: ${reply:0:80}"; }
done
printf '\x00\x01binary\n' | python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); print(s.recv(4096).decode())' "$SOCK" | grep -q "^error: " || bad=1
wait $fpid
if [ $bad = 0 ] && [ "$(fio_field "$LBFO_TMP/f5.json" .error)" = 0 ] && kill -0 "$LBFO_PID"; then
	pass "malformed control requests get an error reply; I/O goes on (0 errors)"
else
	fail "malformed control requests (bad=$bad fio err=$(fio_field "$LBFO_TMP/f5.json" .error))"
fi

# Metrics: scraped over HTTP, counters rise.
scrape() { python3 -c 'import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$MPORT/metrics"; }
m1=$(scrape | awk '/^lbfo_lu_ios_total/ {print $2}')
lbfo_fio "$LBFO_TMP/f6.json" --rw=read --bs=64k --iodepth=8 --size=8M
m2=$(scrape | awk '/^lbfo_lu_ios_total/ {print $2}')
if [ -n "$m1" ] && [ -n "$m2" ] && [ "$m2" -gt "$m1" ] &&
   scrape | grep -q '^lbfo_path_bytes_total{.*path="p0",dir="read"}'; then
	pass "metrics: scraped over HTTP, lbfo_lu_ios_total rose $m1 -> $m2"
else
	fail "metrics over HTTP: $m1 -> $m2"
fi
"$CTL" metrics | grep -q '^lbfo_path_state{.*state="active"} 1' && pass "lbfoctl metrics" || fail "lbfoctl metrics"
# Valid exposition text: HELP and TYPE on every family, labels escaped.
if out=$(scrape | promtool check metrics 2>&1); then
	pass "metrics: promtool check metrics finds nothing to complain about"
else
	fail "metrics: promtool check metrics: $(head -c 400 <<<"$out")"
fi

# No instance: a clear error and exit 3.
"$CTL" --socket "$LBFO_TMP/nothing.sock" status 2>"$LBFO_TMP/err.txt"
rc=$?
[ $rc = 3 ] && grep -q "no lbfo instance at $LBFO_TMP/nothing.sock" "$LBFO_TMP/err.txt" &&
	pass "lbfoctl without an instance: names the socket, exit 3" || fail "lbfoctl no instance: rc=$rc"

exit "$LBFO_FAILED"

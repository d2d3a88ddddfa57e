#!/bin/bash
# Failover with real faults while fio writes with verify=crc32c through lbfo:
#  (b) link down on a path, (c) silent blackhole, (d) restore and failback
#  (immediate, after N s stable, manual), (e) all paths down shorter and
#  longer than no_path_timeout, (g) the target killed and restarted.
# Every case asserts 0 client errors (or EIO exactly where due) and that
# the data verifies; the stall (fio's longest completion) is reported.
set -u
cd "$(dirname "$0")/../.."
export TB_ID=${TB_ID:-f$$}
TB_ID=${TB_ID:0:7}
source tests/integration/lib/testbed.sh
source tests/integration/lib/lbfo.sh
trap 'lbfo_cleanup' EXIT

tb_up 2 200 200 || { fail "failover: test bed up"; exit 1; }
P1=$(tb_portal 1) P2=$(tb_portal 2)
BASE=(portal="$P1" portal="$P2" target="$TB_IQN" lun=1)

# fio_verify NAME SIZE_MB FAULT-COMMANDS: writes SIZE MB with verify while
# FAULT-COMMANDS run in the background; sets FIO_RC FIO_ERR FIO_STALL_MS
fio_verify() {
	local name=$1 size=$2 faults=$3 out=$LBFO_TMP/fio-$1.json
	# a subshell: it has the bed's variables and functions, not its traps
	( eval "$faults" ) &
	local fpid=$!
	lbfo_fio "$out" --rw=randwrite --bs=64k --iodepth=16 --size="${size}M" \
		--verify=crc32c --verify_fatal=1
	FIO_RC=$?
	wait "$fpid"
	FIO_ERR=$(fio_field "$out" .error 2>/dev/null)
	FIO_STALL_MS=$(fio_field "$out" '.write.clat_ns.max / 1e6 | floor' 2>/dev/null)
	note "$name: fio rc=$FIO_RC err=$FIO_ERR longest write $FIO_STALL_MS ms"
}

# (b) link down on the primary while writing; back 3 s later.
lbfo_start "${BASE[@]}" || fail "nbdkit start: $(tail -3 "$LBFO_LOG")"
fio_verify linkdown 160 "sleep 1.5; tb_link_down 1; sleep 3; tb_link_up 1"
errs=$(lbfo_status '.lus[0].io_errors')
fails=$(lbfo_status '.lus[0].paths[0].failures')
if [ "$FIO_RC" = 0 ] && [ "$FIO_ERR" = 0 ] && [ "$errs" = 0 ] && [ "${fails:-0}" -ge 1 ]; then
	pass "link down during writes: 0 errors, data verifies, stall ${FIO_STALL_MS} ms"
else
	fail "link down during writes (fio rc=$FIO_RC err=$FIO_ERR io_errors=$errs path failures=$fails)"
fi
# The link watch saw the interface go down: the reason names it, and the
# path failed on the kernel's word, not on the liveness timeout.
HOSTDEV1=$(tb_hostdev 1)
if grep -q "path p0 .* failed: link $HOSTDEV1 down (rtnetlink)" "$LBFO_LOG"; then
	pass "link down: failed at once by the link watch ($(grep -o "path p0 .* failed: link $HOSTDEV1 down (rtnetlink)[^;]*" "$LBFO_LOG" | head -1))"
else
	fail "link down: no 'link $HOSTDEV1 down (rtnetlink)' failure in the log: $(grep 'path p0 .* failed' "$LBFO_LOG" | head -2)"
fi

# (d) restore, failback immediate: p0 is active again and carries I/O.
if lbfo_wait_status '.lus[0].paths[0].state == "active"' 15; then
	before=$(lbfo_status '.lus[0].paths[0].bytes_written')
	lbfo_fio "$LBFO_TMP/fio-after.json" --rw=write --bs=64k --iodepth=16 --size=16M
	sleep 0.5
	after=$(lbfo_status '.lus[0].paths[0].bytes_written')
	if [ "$after" -gt "$before" ]; then
		pass "restore: failback immediate -> restored path carries I/O again"
	else
		fail "restore: restored path carried nothing ($before -> $after)"
	fi
else
	fail "restore: p0 not active again within 15 s: $(lbfo_status '.lus[0].paths[0]')"
fi
lbfo_stop

# (c) silent blackhole on the secondary: detected by the NOP/liveness timeout.
lbfo_start "${BASE[@]}" || fail "nbdkit start: $(tail -3 "$LBFO_LOG")"
fio_verify blackhole 160 "sleep 1.5; tb_blackhole 2; sleep 4; tb_unblackhole 2"
errs=$(lbfo_status '.lus[0].io_errors')
if [ "$FIO_RC" = 0 ] && [ "$FIO_ERR" = 0 ] && [ "$errs" = 0 ] &&
   grep -q "path p1 .* failed: no response" "$LBFO_LOG"; then
	pass "blackhole: detected by timeout and rerouted, 0 errors, stall ${FIO_STALL_MS} ms"
else
	fail "blackhole (fio rc=$FIO_RC err=$FIO_ERR io_errors=$errs): $(grep lbfo: "$LBFO_LOG" | tail -3)"
fi
if grep -q "path p1 fenced" "$LBFO_LOG"; then
	pass "blackhole: writes of the failed path re-sent only after the fence"
else
	note "blackhole: no write was in flight on p1 when it failed (nothing to fence)"
fi
lbfo_stop

# (d) failback after N seconds stable, and manual.
lbfo_start "${BASE[@]}" failback=3 || fail "nbdkit start"
tb_link_down 1
lbfo_wait_status '.lus[0].paths[0].state == "failed"' 10 || fail "failback=3: p0 not failed"
tb_link_up 1
if lbfo_wait_status '.lus[0].paths[0].state == "probing"' 15; then
	t0=$(date +%s.%N)
	if lbfo_wait_status '.lus[0].paths[0].state == "active"' 10; then
		waited=$(echo "$(date +%s.%N) - $t0" | bc)
		if [ "$(echo "$waited >= 2.5" | bc)" = 1 ]; then
			pass "failback after 3 s stable: probing for ${waited} s, then active"
		else
			fail "failback after 3 s stable: active after only ${waited} s"
		fi
	else
		fail "failback after 3 s stable: never active"
	fi
else
	fail "failback after 3 s: p0 never probing: $(lbfo_status '.lus[0].paths[0].state')"
fi
lbfo_stop
lbfo_start "${BASE[@]}" failback=manual || fail "nbdkit start"
tb_link_down 1
lbfo_wait_status '.lus[0].paths[0].state == "failed"' 10
tb_link_up 1
if lbfo_wait_status '.lus[0].paths[0].session == "up"' 15; then
	before=$(lbfo_status '.lus[0].paths[0].bytes_written')
	lbfo_fio "$LBFO_TMP/fio-manual.json" --rw=write --bs=64k --iodepth=16 --size=16M
	sleep 0.5
	st=$(lbfo_status '.lus[0].paths[0].state')
	after=$(lbfo_status '.lus[0].paths[0].bytes_written')
	if [ "$st" = probing ] && [ "$after" = "$before" ]; then
		pass "failback manual: restored path logged in but carries no I/O until reinstated"
	else
		fail "failback manual: state=$st bytes $before -> $after"
	fi
else
	fail "failback manual: p0 never logged in again"
fi
lbfo_stop

# (e) all paths down for less than no_path_timeout: no error.
lbfo_start "${BASE[@]}" no_path_timeout=10000 || fail "nbdkit start"
fio_verify allpaths-short 128 "sleep 1.5; tb_link_down 1; tb_link_down 2; sleep 3; tb_link_up 1; tb_link_up 2"
errs=$(lbfo_status '.lus[0].io_errors')
if [ "$FIO_RC" = 0 ] && [ "$FIO_ERR" = 0 ] && [ "$errs" = 0 ]; then
	pass "all paths down 3 s < no_path_timeout 10 s: 0 errors, stall ${FIO_STALL_MS} ms"
else
	fail "all paths down briefly (fio rc=$FIO_RC err=$FIO_ERR io_errors=$errs)"
fi
lbfo_stop

# (e) ... and for longer: EIO after no_path_timeout, then serves again.
lbfo_start "${BASE[@]}" no_path_timeout=2000 || fail "nbdkit start"
tb_link_down 1
tb_link_down 2
lbfo_wait_status '.lus[0].paths[0].state == "failed" and .lus[0].paths[1].state == "failed"' 10
t0=$(date +%s.%N)
timeout 30 nbdcopy "$(lbfo_uri)" - 2>"$LBFO_TMP/eio.err" | head -c 1M >/dev/null
took=$(echo "$(date +%s.%N) - $t0" | bc)
if grep -qi "input/output error" "$LBFO_TMP/eio.err" && kill -0 "$LBFO_PID" 2>/dev/null; then
	pass "all paths down > no_path_timeout: EIO after ${took} s, nbdkit still running"
else
	fail "all paths down > no_path_timeout: $(head -c 300 "$LBFO_TMP/eio.err")"
fi
tb_link_up 1
tb_link_up 2
head -c 4M /dev/urandom >"$LBFO_TMP/again.img"
if lbfo_wait_status '.lus[0].paths[0].state == "active"' 20 &&
   nbdcopy "$LBFO_TMP/again.img" "$(lbfo_uri)" &&
   nbdcopy "$(lbfo_uri)" - | head -c 4M | cmp - "$LBFO_TMP/again.img"; then
	pass "after EIO: paths return and the same export serves again"
else
	fail "after EIO: did not serve again: $(grep lbfo: "$LBFO_LOG" | tail -3)"
fi
lbfo_stop

# (g) the target dies (SIGKILL) and comes back 2 s later.
lbfo_start "${BASE[@]}" || fail "nbdkit start"
fio_verify target-restart 128 "sleep 1.5; tb_target_stop; sleep 2; tb_target_start"
errs=$(lbfo_status '.lus[0].io_errors')
if [ "$FIO_RC" = 0 ] && [ "$FIO_ERR" = 0 ] && [ "$errs" = 0 ]; then
	pass "target restart: recovers without client errors, stall ${FIO_STALL_MS} ms"
else
	fail "target restart (fio rc=$FIO_RC err=$FIO_ERR io_errors=$errs): $(grep lbfo: "$LBFO_LOG" | tail -4)"
fi
lbfo_stop

exit "$LBFO_FAILED"

#!/bin/bash
# Data correctness through lbfo with real clients over real paths:
#  (a) every policy moves data correctly over 2 and 4 paths (fio verify=crc32c),
#      and the bytes the status reports per path add up to what fio moved;
#  nbdcopy and qemu-img round trips; bad configuration and unreachable
#  portals give clear errors; (f) paths to different LUs are refused;
#  (h) CHAP right, wrong, and mutual.
set -u
cd "$(dirname "$0")/../.."
export TB_ID=${TB_ID:-d$$}
TB_ID=${TB_ID:0:7}
source tests/integration/lib/testbed.sh
source tests/integration/lib/lbfo.sh
trap 'lbfo_cleanup' EXIT

tb_up 4 || { fail "data: test bed up"; exit 1; }
P1=$(tb_portal 1) P2=$(tb_portal 2) P3=$(tb_portal 3) P4=$(tb_portal 4)

policies="failover round-robin weighted static-share dynamic-share quota-rr speed-share queue-depth service-time"
for n in 2 4; do
	portals=("portal=$P1" "portal=$P2")
	[ "$n" = 4 ] && portals+=("portal=$P3" "portal=$P4")
	for pol in $policies; do
		name="data: $pol over $n paths"
		if ! lbfo_start "${portals[@]}" target="$TB_IQN" lun=1 policy="$pol"; then
			fail "$name: nbdkit did not start: $(tail -3 "$LBFO_LOG")"
			continue
		fi
		out=$LBFO_TMP/fio-$pol-$n.json
		lbfo_fio "$out" --rw=randwrite --bs=64k --iodepth=16 --size=16M \
			--verify=crc32c --verify_fatal=1 --offset=$((n * 32))M
		rc=$?
		err=$(fio_field "$out" .error 2>/dev/null)
		wbytes=$(fio_field "$out" .write.io_bytes 2>/dev/null)
		sleep 0.5 # one status refresh
		sbytes=$(lbfo_status '[.lus[0].paths[].bytes_written] | add')
		used=$(lbfo_status '[.lus[0].paths[] | select(.bytes_written > 0)] | length')
		errs=$(lbfo_status '.lus[0].io_errors')
		lbfo_stop
		want_used=$n
		[ "$pol" = failover ] && want_used=1
		if [ "$rc" = 0 ] && [ "$err" = 0 ] && [ "$wbytes" = $((16 << 20)) ] &&
		   [ "$sbytes" = "$wbytes" ] && [ "$used" = "$want_used" ] && [ "$errs" = 0 ]; then
			pass "$name"
		else
			fail "$name (fio rc=$rc err=$err bytes=$wbytes status bytes=$sbytes paths used=$used/$want_used io_errors=$errs)"
		fi
	done
done

# Real clients: nbdcopy and qemu-img, whole-image round trips over 4 paths.
lbfo_start portal="$P1" portal="$P2" portal="$P3" portal="$P4" target="$TB_IQN" lun=1
head -c 32M /dev/urandom >"$LBFO_TMP/src.img"
if nbdcopy "$LBFO_TMP/src.img" "$(lbfo_uri)" &&
   nbdcopy "$(lbfo_uri)" - | head -c 32M | cmp - "$LBFO_TMP/src.img"; then
	pass "data: nbdcopy round trip over 4 paths"
else
	fail "data: nbdcopy round trip over 4 paths"
fi
head -c 8M /dev/urandom >"$LBFO_TMP/q.img"
if qemu-img convert -n -f raw -O raw "$LBFO_TMP/q.img" "$(lbfo_uri)" 2>"$LBFO_TMP/q.err" &&
   qemu-img compare -f raw -F raw "$LBFO_TMP/q.img" "$(lbfo_uri)" >/dev/null 2>>"$LBFO_TMP/q.err"; then
	:
fi
# qemu-img compare fails on the size difference (8M file vs 256M LU): compare the prefix
if qemu-img dd -f raw -O raw if="$(lbfo_uri)" of="$LBFO_TMP/q.back" bs=1M count=8 2>>"$LBFO_TMP/q.err" &&
   cmp "$LBFO_TMP/q.img" "$LBFO_TMP/q.back"; then
	pass "data: qemu-img convert + dd round trip"
else
	fail "data: qemu-img round trip: $(tail -2 "$LBFO_TMP/q.err")"
fi
lbfo_stop

# Bad configuration: clear errors naming the key.
msg=$(lbfo_run_fail portal="$P1" target="$TB_IQN" lun=1 nop_timeout=abc)
check "config: bad value names the key" grep -q "nop_timeout: invalid value 'abc'" <<<"$msg"
msg=$(lbfo_run_fail portal="$P1" target="$TB_IQN" lun=1 bogus=1)
check "config: unknown key is refused by name" grep -q "unknown parameter 'bogus'" <<<"$msg"
msg=$(lbfo_run_fail portal="$P1" target="$TB_IQN" lun=1 policy=fastest)
check "config: unknown policy" grep -q "unknown policy 'fastest'" <<<"$msg"

# Start-up with an unreachable portal: comes up on the others, names it.
DEAD="$TB_NET.250:3260" # inside the bed's unreachable /24: answers EHOSTUNREACH
LBFO_WANT_UP=1 lbfo_start portal="$P1" portal="$DEAD" target="$TB_IQN" lun=1 login_timeout=1000
if [ -n "$LBFO_PID" ] && grep -q "path p1 ($DEAD) unreachable at start-up" "$LBFO_LOG" &&
   head -c 1M /dev/urandom >"$LBFO_TMP/u.img" && nbdcopy "$LBFO_TMP/u.img" "$(lbfo_uri)"; then
	pass "start-up: one portal unreachable -> serves on the other, names the dead one"
else
	fail "start-up: one portal unreachable: $(tail -3 "$LBFO_LOG")"
fi
lbfo_stop
msg=$(lbfo_run_fail portal="$DEAD" portal="$TB_NET.251" target="$TB_IQN" lun=1 login_timeout=1000)
if grep -q "no portal answered" <<<"$msg" && grep -q "$DEAD" <<<"$msg" &&
   grep -q "$TB_NET.251" <<<"$msg"; then
	pass "start-up: no portal answers -> error names every portal"
else
	fail "start-up: no portal answers: $msg"
fi

# No target given: SendTargets discovery finds the one target; with two
# targets on offer, both are served, each LU as an export of its own
# (named by its WWID) and no default export.
if lbfo_start portal="$P1" portal="$P2" lun=1 && grep -q "target $TB_IQN found by SendTargets" "$LBFO_LOG" &&
   nbdcopy "$(lbfo_uri)" - | head -c 1M | cmp - "$LBFO_TMP/u.img"; then
	pass "discovery: no target given -> found by SendTargets, data reads back"
else
	fail "discovery: $(tail -3 "$LBFO_LOG")"
fi
lbfo_stop
tb_add_target >/dev/null || fail "discovery: second target"
if lbfo_start portal="$P1" portal="$P2" lun=1; then
	list=$(nbdinfo --list --json "$(lbfo_uri)" 2>&1)
	n=$(jq '.exports | length' <<<"$list" 2>/dev/null)
	w1=$(lbfo_status '.lus[] | select(.target == "'"$TB_IQN"'") | .export')
	if [ "$n" = 2 ] && grep -q "found by SendTargets" "$LBFO_LOG" &&
	   [ "$(grep -c "found by SendTargets" "$LBFO_LOG")" = 2 ] && [ -n "$w1" ] &&
	   nbdcopy "nbd+unix:///$w1?socket=$LBFO_SOCK" - | head -c 1M | cmp - "$LBFO_TMP/u.img" &&
	   ! nbdinfo --size "$(lbfo_uri)" >/dev/null 2>&1; then
		pass "discovery: two targets on offer -> both served, each LU its own export, no default"
	else
		fail "discovery with two targets: exports $n, export of $TB_IQN '$w1': $(tail -3 "$LBFO_LOG")"
	fi
else
	fail "discovery with two targets: nbdkit start: $(tail -3 "$LBFO_LOG")"
fi
lbfo_stop

# (f) Paths that lead to different LUs: a second bed whose target has the
# same name as ours but is another LU.
hold=$LBFO_TMP/bedB.hold
touch "$hold"
TB_ID=${TB_ID:0:6}b TB_IQN_A=$TB_IQN HOLD=$hold OUT=$LBFO_TMP/bedB.portal bash -c '
	source tests/integration/lib/testbed.sh
	tb_up 1 >/dev/null || exit 1
	tb_add_target "$TB_IQN_A" >/dev/null || exit 1
	tb_portal 1 >"$OUT"
	for ((i = 0; i < 600; i++)); do [ -e "$HOLD" ] || break; sleep 0.1; done
' &
bpid=$!
for ((i = 0; i < 150; i++)); do [ -s "$LBFO_TMP/bedB.portal" ] && break; sleep 0.1; done
PB=$(cat "$LBFO_TMP/bedB.portal" 2>/dev/null)
if [ -n "$PB" ]; then
	msg=$(lbfo_run_fail portal="$P1" portal="$PB" target="$TB_IQN" lun=1)
	rc=$?
	if [ $rc -ne 0 ] && grep -q "paths lead to different LUs" <<<"$msg" &&
	   grep -q "$P1" <<<"$msg" && grep -q "$PB" <<<"$msg"; then
		pass "identity: paths to different LUs refused, naming both portals"
	else
		fail "identity: paths to different LUs (rc=$rc): $msg"
	fi
else
	fail "identity: second bed did not come up"
fi
rm -f "$hold"
wait "$bpid"

# (h) CHAP.
# One-way and mutual accounts at once (an initiator that does not ask the
# target to authenticate itself simply does not use the outgoing one).
tb_chap lbfouser lbfosecret12 lbfotarget lbfotgtsecret1 || fail "chap: set up"
msg=$(lbfo_run_fail portal="$P1" target="$TB_IQN" lun=1 login_timeout=2000)
check "chap: no credentials -> refused, names the portal" grep -q "$P1" <<<"$msg"
msg=$(lbfo_run_fail portal="$P1" target="$TB_IQN" lun=1 chap_user=lbfouser chap_password=wrongsecret1 login_timeout=2000)
check "chap: wrong password -> refused" grep -q "login failed" <<<"$msg"
if lbfo_start portal="$P1" portal="$P2" target="$TB_IQN" lun=1 chap_user=lbfouser chap_password=lbfosecret12 &&
   nbdcopy "$LBFO_TMP/u.img" "$(lbfo_uri)" &&
   nbdcopy "$(lbfo_uri)" - | head -c 1M | cmp - "$LBFO_TMP/u.img"; then
	pass "chap: right password -> data moves over both paths"
else
	fail "chap: right password: $(tail -3 "$LBFO_LOG")"
fi
lbfo_stop
if lbfo_start portal="$P1" target="$TB_IQN" lun=1 chap_user=lbfouser chap_password=lbfosecret12 \
	mutual_user=lbfotarget mutual_password=lbfotgtsecret1 &&
   nbdcopy "$(lbfo_uri)" - | head -c 1M | cmp - "$LBFO_TMP/u.img"; then
	pass "chap: mutual CHAP"
else
	fail "chap: mutual CHAP: $(tail -3 "$LBFO_LOG")"
fi
lbfo_stop
msg=$(lbfo_run_fail portal="$P1" target="$TB_IQN" lun=1 chap_user=lbfouser chap_password=lbfosecret12 \
	mutual_user=lbfotarget mutual_password=notthesecret login_timeout=2000)
check "chap: mutual CHAP with a wrong target secret -> refused" grep -q "$P1" <<<"$msg"

exit "$LBFO_FAILED"

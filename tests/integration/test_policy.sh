#!/bin/bash
# Policies on the real data plane where their point shows:
#  - dynamic-share (001 FIG 5) cuts the share of a path whose interface
#    carries foreign traffic (iperf3 on the same veth), read from the
#    interface's own counters (interface=IF), and gives it back after;
#  - a path key on the command line applies to the portal before it, and
#    an interface without counters is refused by name.
set -u
cd "$(dirname "$0")/../.."
export TB_ID=${TB_ID:-p$$}
TB_ID=${TB_ID:0:7}
source tests/integration/lib/testbed.sh
source tests/integration/lib/lbfo.sh
trap 'lbfo_cleanup' EXIT

tb_up 2 300 300 || { fail "policy: test bed up"; exit 1; }
P1=$(tb_portal 1) P2=$(tb_portal 2)

msg=$(lbfo_run_fail portal="$P1" interface=nosuch0 target="$TB_IQN" lun=1)
check "interface without counters is refused by name" grep -q "interface 'nosuch0' has no byte counters" <<<"$msg"
msg=$(lbfo_run_fail interface=lo portal="$P1" target="$TB_IQN" lun=1)
check "a path key before any portal is refused" grep -q "'interface' is a path key" <<<"$msg"

lbfo_start portal="$P1" interface="$(tb_hostdev 1)" portal="$P2" interface="$(tb_hostdev 2)" \
	target="$TB_IQN" lun=1 policy=dynamic-share interval_ms=500 lb_change=10 relax=5 ||
	{ fail "dynamic-share: nbdkit start: $(tail -3 "$LBFO_LOG")"; exit 1; }
( lbfo_fio "$LBFO_TMP/dyn.json" --rw=write --bs=256k --iodepth=16 --size=4G --time_based --runtime=16 ) &
fpid=$!
sleep 2
before=$(lbfo_status '.lus[0].paths[0].write_share')
tb_iperf 1 7 >"$LBFO_TMP/iperf.txt" &
ipid=$!
low=100
for ((i = 0; i < 70; i++)); do
	sleep 0.1
	s=$(lbfo_status '.lus[0].paths[0].write_share')
	[ -n "$s" ] && low=$(echo "if ($s < $low) $s else $low" | bc)
done
wait "$ipid"
sleep 5
after=$(lbfo_status '.lus[0].paths[0].write_share')
wait "$fpid"
note "p0 write share: $before before, lowest $low under foreign traffic ($(cat "$LBFO_TMP/iperf.txt") Mbit/s iperf3), $after after"
if [ "$(echo "$low <= 30" | bc)" = 1 ] && [ "$(echo "$after > $low" | bc)" = 1 ] &&
   [ "$(fio_field "$LBFO_TMP/dyn.json" .error)" = 0 ]; then
	pass "dynamic-share: foreign traffic on p0's interface cuts its share ($before -> $low %), relaxed back to $after % after, 0 errors"
else
	fail "dynamic-share with foreign traffic: share $before -> low $low -> $after; fio error $(fio_field "$LBFO_TMP/dyn.json" .error)"
fi
lbfo_stop
exit "$LBFO_FAILED"

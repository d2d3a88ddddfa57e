#!/bin/bash
# A host's whole SAN in one lbfo process, on a real bed: 2 targets x 3 LUNs
# over 2 paths, plus one LU behind LUN 1 of a target seen only on path 1
# and LUN 3 of another seen only on path 2. Every LU is found, grouped by
# its identity and served once (export = its WWID); the shared LU is one
# LU with two paths; data written to each LU reads back from it alone; a
# link goes down while fio verifies on several LUs at once (0 errors); a
# LUN added and one removed while running appear and go; the default
# export is refused with several LUs. Prints PASS/FAIL lines.
set -u
cd "$(dirname "$0")/../.."
export TB_ID=${TB_ID:-s$$}
TB_ID=${TB_ID:0:7}
source tests/integration/lib/testbed.sh
source tests/integration/lib/testbed_san.sh
source tests/integration/lib/lbfo.sh
trap 'lbfo_cleanup' EXIT
CTL=build/src/ctl/lbfoctl
SOCK=$LBFO_TMP/ctl.sock
export LBFO_SOCKET=$SOCK
TB_SAN_LUN_SIZE=32M

tb_san_up 2 2 3 || { fail "san: test bed up"; exit 1; }
tb_shared_lu 1 3 || { fail "san: shared LU"; exit 1; }
P1=$(tb_portal 1) P2=$(tb_portal 2)

# export name of LU T:L (the WWID; naa hex in lower case, as lbfo names it)
exp_of() { tb_lu_wwid "$1" "$2" | tr 'A-F' 'a-f'; }
uri_of() { echo "nbd+unix:///$1?socket=$LBFO_SOCK"; }
# exports listed by the server, one per line
exports() { nbdinfo --list --json "$(lbfo_uri)" 2>/dev/null | jq -r '.exports[]."export-name"' | sort; }

lbfo_start portal="$P1" portal="$P2" control="$SOCK" nop_interval=100ms ||
	{ fail "san: nbdkit start: $(tail -5 "$LBFO_LOG")"; exit 1; }

# (1) every LU once, named by its WWID; 7 LUs: 6 + the shared one
want=$( { for t in 1 2; do for l in 1 2 3; do exp_of "$t" "$l"; done; done
	  exp_of "${TB_SHARED_TIDS[0]}" 1; } | sort -u)
got=$(exports)
if [ "$got" = "$want" ] && [ "$(wc -l <<<"$got")" = 7 ] &&
   [ "$(lbfo_status '.lus | length')" = 7 ] &&
   [ "$(lbfo_status '[.lus[] | select(.paths_total == 2)] | length')" = 7 ]; then
	pass "san: 2 targets x 3 LUNs + a shared LU: 7 LUs found, each served once, named by its WWID, 2 paths each"
else
	fail "san: exports '$(tr '\n' ' ' <<<"$got")' want '$(tr '\n' ' ' <<<"$want")'"
fi

# (2) the shared LU: one LU, a path over each target, LUN 1 and LUN 3
sh=$(exp_of "${TB_SHARED_TIDS[0]}" 1)
sp=$(lbfo_status ".lus[] | select(.export == \"$sh\") | [.paths[] | \"\\(.name) \\(.target) \\(.lun)\"] | join(\";\")")
if [ "$sp" = "p0 ${TB_SHARED_IQNS[0]} 1;p1 ${TB_SHARED_IQNS[1]} 3" ]; then
	pass "san: the same LU behind LUN 1 (path 1) and LUN 3 (path 2) of two targets is one LU with both paths"
else
	fail "san: shared LU's paths: '$sp'"
fi

# one session per path per target, not per LU: 4 targets, 2 + 2 + 1 + 1 sessions
nsess=$(lbfo_status '[.lus[].paths[] | "\(.target) \(.name)"] | unique | length')
[ "$nsess" = 6 ] && pass "san: 6 path sessions carry the 14 paths of the 7 LUs (one per path per target)" ||
	fail "san: sessions $nsess"

# (3) data: each LU its own pattern, read back from it alone; the shared LU's
# bytes also on the backing file both targets serve
ok=1
for t in 1 2; do for l in 1 2 3; do
	head -c 1M /dev/urandom >"$LBFO_TMP/d$t$l"
	nbdcopy "$LBFO_TMP/d$t$l" "$(uri_of "$(exp_of "$t" "$l")")" || ok=0
done; done
for t in 1 2; do for l in 1 2 3; do
	nbdcopy "$(uri_of "$(exp_of "$t" "$l")")" - | head -c 1M | cmp -s - "$LBFO_TMP/d$t$l" || ok=0
done; done
head -c 1M /dev/urandom >"$LBFO_TMP/ds"
nbdcopy "$LBFO_TMP/ds" "$(uri_of "$sh")" || ok=0
head -c 1M "$(tb_lu_file "${TB_SHARED_TIDS[0]}" 1)" | cmp -s - "$LBFO_TMP/ds" || ok=0
[ $ok = 1 ] && pass "san: 7 LUs written with their own data and read back, each from its own export" ||
	fail "san: data round trip"

# (4) no default export with several LUs: a clear refusal
# (nbdkit keeps the plugin's reason in its log; the client hears "no export named ''")
if ! nbdinfo --size "$(lbfo_uri)" >/dev/null 2>&1 && grep -q "several exports and no default" "$LBFO_LOG"; then
	pass "san: the default export is refused with 7 LUs, saying why"
else
	fail "san: default export: $(grep -i default "$LBFO_LOG" | tail -2)"
fi

# (5) path 1's link goes down while fio verifies on 4 LUs at once
jobs=""
for e in "$(exp_of 1 1)" "$(exp_of 1 2)" "$(exp_of 2 3)" "$sh"; do
	jobs="$jobs --name=$e --uri=$(uri_of "$e")"
done
# shellcheck disable=SC2086
timeout 120 fio --output-format=json --output="$LBFO_TMP/fio.json" --ioengine=nbd \
	--rw=randwrite --bs=64k --iodepth=8 --size=16M --time_based=0 --verify=crc32c \
	--verify_fatal=1 --do_verify=1 $jobs >/dev/null 2>"$LBFO_TMP/fio.err" &
fpid=$!
sleep 1.5
tb_link_down 1
sleep 3
tb_link_up 1
wait $fpid
frc=$?
errs=$(jq '[.jobs[].error] | add' "$LBFO_TMP/fio.json" 2>/dev/null)
fails=$(lbfo_status '[.lus[].paths[] | select(.name == "p0") | .failures] | add')
if [ $frc = 0 ] && [ "$errs" = 0 ] && [ "${fails:-0}" -ge 4 ]; then
	pass "san: link down under fio on 4 LUs: 0 errors, all verify, p0 failed on every LU ($fails)"
else
	fail "san: link down (fio rc=$frc errors=$errs p0 failures=$fails): $(tail -2 "$LBFO_TMP/fio.err")"
fi
lbfo_wait_status '[.lus[].paths[] | select(.state != "active")] | length == 0' 20 &&
	pass "san: every path of every LU active again after the link is back" ||
	fail "san: paths after link up: $(lbfo_status '[.lus[].paths[] | select(.state != "active") | .name] | join(",")')"

# (6) a LUN added while running: the target's unit attention, a rescan, an export
tb_lun_add 1 4 || fail "san: LUN add"
new=$(exp_of 1 4)
for ((i = 0; i < 100; i++)); do exports | grep -qx "$new" && break; sleep 0.1; done
# the UA arrives with the next command on target 1's sessions (a NOP does not carry it)
nbdcopy "$(uri_of "$(exp_of 1 1)")" - | head -c 4k >/dev/null
for ((i = 0; i < 150; i++)); do exports | grep -qx "$new" && break; sleep 0.1; done
if exports | grep -qx "$new" && "$CTL" events | grep -q "LU .* found: export $new"; then
	head -c 1M /dev/urandom >"$LBFO_TMP/dn"
	if nbdcopy "$LBFO_TMP/dn" "$(uri_of "$new")" &&
	   nbdcopy "$(uri_of "$new")" - | head -c 1M | cmp -s - "$LBFO_TMP/dn"; then
		pass "san: a LUN added while running gets its export without a restart (unit attention, rescan), data round trip"
	else
		fail "san: new LU's data"
	fi
else
	fail "san: LUN added: not served: $("$CTL" events | tail -4)"
fi

# (7) a LUN removed: the export goes (nobody has it open)
gone=$(exp_of 2 3)
tb_lun_remove 2 3 || fail "san: LUN remove"
nbdcopy "$(uri_of "$(exp_of 2 1)")" - | head -c 4k >/dev/null # a command on target 2: the UA
for ((i = 0; i < 150; i++)); do exports | grep -qx "$gone" || break; sleep 0.1; done
if ! exports | grep -qx "$gone" && "$CTL" events | grep -q "$gone) is gone from the SAN" &&
   [ "$(exports | wc -l)" = 7 ]; then
	pass "san: a LUN removed while running loses its export (7 left)"
else
	fail "san: LUN removed: exports $(exports | wc -l): $("$CTL" events | tail -3)"
fi

# (8) lbfoctl rescan, by hand: nothing new, nothing lost
out=$("$CTL" rescan)
for ((i = 0; i < 100; i++)); do [ "$("$CTL" events | grep -c "rescan done")" -ge 3 ] && break; sleep 0.1; done
if grep -q "rescan started" <<<"$out" && "$CTL" events | tail -3 | grep -q "rescan done: 0 LU(s) found, 0 removed; 7 served"; then
	pass "san: lbfoctl rescan: discovery again, nothing new, nothing lost"
else
	fail "san: rescan: '$out' $("$CTL" events | tail -3)"
fi

# (9a) a second process on the same SAN under the same initiator name: it
# would log in with the same ISIDs and end the first one's sessions; refused
before=$(lbfo_status '[.lus[].paths[].failures] | add')
msg=$(lbfo_run_fail portal="$P1" portal="$P2" control="$LBFO_TMP/ctl2.sock"); rc=$?
if [ $rc != 0 ] && grep -q "is already served by another lbfo process (pid $LBFO_PID)" <<<"$msg" &&
   [ "$(lbfo_status '[.lus[].paths[].failures] | add')" = "$before" ]; then
	pass "san: a second lbfo on the same SAN is refused (the first one's sessions untouched)"
else
	fail "san: second process (rc=$rc): $(tail -2 <<<"$msg")"
fi

# (9) status of one LU by name
"$CTL" status "$sh" --json | jq -e '.lus | length == 1' >/dev/null &&
	"$CTL" status "$sh" | grep -q "^$sh " && pass "san: lbfoctl status LU shows that LU alone" ||
	fail "san: status LU"

# (9c) one LU identity behind a new pair of targets, with 512-byte blocks through path 1 and
# 4096 through path 2: found by a rescan, one of the two paths is refused with a warning that
# names both, and the LU is served over the other alone
tb_shared_lu 2 4 "" 4096 || fail "san: a shared LU with two block sizes"
mm=$(exp_of "${TB_SHARED_TIDS[0]}" 2)
n0=$("$CTL" events | grep -c "rescan done")
"$CTL" rescan >/dev/null
for ((i = 0; i < 150; i++)); do [ "$("$CTL" events | grep -c "rescan done")" -gt "$n0" ] && break; sleep 0.1; done
refused=$(grep "LU $mm: path .* refused: different block size" "$LBFO_LOG" | tail -1)
if exports | grep -qx "$mm" && grep -q "(512 vs 4096 bytes)\|(4096 vs 512 bytes)" <<<"$refused" &&
   grep -q "path p0 (" <<<"$refused" && grep -q "path p1 (" <<<"$refused" &&
   [ "$("$CTL" status "$mm" --json | jq -r '.lus[0].paths_total')" = 1 ]; then
	pass "san: the same LU with another block size through the other path: that path refused, naming both ($(sed 's/.*refused: //' <<<"$refused")); served over one path"
else
	fail "san: block sizes differ: export $(exports | grep -cx "$mm"), paths $("$CTL" status "$mm" --json 2>/dev/null | jq -r '.lus[0].paths_total'), log: '${refused:-nothing}' $(grep -i "rescan" "$LBFO_LOG" | tail -2)"
fi

lbfo_stop

# (10) a configuration file: an alias and a policy of one LU, a blacklist;
# then reloaded with I/O idle: lbfoctl reload, a file with a mistake
# (refused, the running one kept), SIGHUP
conf=$LBFO_TMP/lbfo.conf
db=$(exp_of 1 1) bl=$(exp_of 2 2) bl2=$(exp_of 2 1)
write_conf() {   # policy alias blacklisted [extra line in [lu db]]
	cat >"$conf" <<EOC
[lu]
control = $SOCK
[path p0]
portal = $P1
[path p1]
portal = $P2
[lu $db]
alias = $2
policy = $1
${4:-}
[blacklist]
wwid = $3
EOC
}
write_conf round-robin db "$bl"
lbfo_start config="$conf" || { fail "san config: nbdkit start: $(tail -5 "$LBFO_LOG")"; exit 1; }
if exports | grep -qx db && ! exports | grep -qx "$bl" &&
   [ "$(lbfo_status ".lus[] | select(.export == \"$db\") | .policy")" = round-robin ] &&
   [ "$(lbfo_status ".lus[] | select(.export == \"$db\") | .alias")" = db ] &&
   grep -q "LU .* blacklisted (wwid $bl): not served" "$LBFO_LOG" &&
   head -c 1M /dev/urandom >"$LBFO_TMP/da" && nbdcopy "$LBFO_TMP/da" "$(uri_of db)" &&
   nbdcopy "$(uri_of "$db")" - | head -c 1M | cmp -s - "$LBFO_TMP/da"; then
	pass "san config: [lu WWID] gives an alias (an export of its own, same data) and a policy; the blacklisted LU is not served"
else
	fail "san config: exports $(exports | tr '\n' ' '); $(grep -i blacklist "$LBFO_LOG" | tail -1)"
fi
write_conf queue-depth db2 "$bl2"
out=$("$CTL" reload 2>&1)
for ((i = 0; i < 100; i++)); do exports | grep -qx "$bl" && break; sleep 0.1; done
if grep -q "^reloaded:" <<<"$out" &&
   [ "$("$CTL" status "$db" --json | jq -r '.lus[0].policy')" = queue-depth ] &&
   exports | grep -qx db2 && ! exports | grep -qx db && exports | grep -qx "$bl" &&
   ! exports | grep -qx "$bl2"; then
	pass "san config: lbfoctl reload: the new policy and alias apply at once, an LU out of the blacklist is served, a newly blacklisted one goes"
else
	fail "san config: reload: '$out' policy $("$CTL" status "$db" --json | jq -r '.lus[0].policy') exports $(exports | tr '\n' ' ')"
fi
write_conf service-time db2 "$bl2" "bogus = 1"
out=$("$CTL" reload 2>&1); rc=$?
if [ $rc != 0 ] && grep -q "$conf:[0-9]*: \[lu $db\]: bogus" <<<"$out" &&
   [ "$("$CTL" status "$db" --json | jq -r '.lus[0].policy')" = queue-depth ]; then
	pass "san config: a reload of a file with a mistake is refused, naming file, line, section and key; the running configuration stays"
else
	fail "san config: bad reload: rc=$rc '$out'"
fi
write_conf service-time db2 "$bl2"
kill -HUP "$LBFO_PID"
for ((i = 0; i < 50; i++)); do
	[ "$("$CTL" status "$db" --json 2>/dev/null | jq -r '.lus[0].policy')" = service-time ] && break
	sleep 0.1
done
if kill -0 "$LBFO_PID" 2>/dev/null &&
   [ "$("$CTL" status "$db" --json | jq -r '.lus[0].policy')" = service-time ]; then
	pass "san config: SIGHUP reloads the configuration (nbdkit keeps serving)"
else
	fail "san config: SIGHUP: nbdkit $(kill -0 "$LBFO_PID" 2>/dev/null && echo alive || echo gone)"
fi
lbfo_stop
exit "$LBFO_FAILED"

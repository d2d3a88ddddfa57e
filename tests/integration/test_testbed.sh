#!/usr/bin/env bash
# Integration test of the real iSCSI test bed (tests/integration/lib/testbed.sh).
# Needs root, tgt, libiscsi-bin, qemu-utils (+qemu-block-extra), iperf3, cc + libiscsi-dev
# (tb_inq). Runs in < 60 s.
# Prints "PASS name" / "FAIL name [why]" / "SKIP name why"; exits 0 only if nothing failed.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/testbed.sh
. "$HERE/lib/testbed.sh"
# shellcheck source=lib/testbed_san.sh
. "$HERE/lib/testbed_san.sh"

fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+ ($2)}"; fails=$((fails + 1)); }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

for tool in tgtd tgtadm iscsi-inq iscsi-readcapacity16 iscsi-ls qemu-img iperf3 tc iptables cc; do
    command -v "$tool" >/dev/null || { echo "SKIP testbed missing $tool"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP testbed needs root"; exit 77; }

T0=$(date +%s)

# ------------------------------------------------------------ 0. teardown on SIGINT
# a child shell brings a bed up and is interrupted (like Ctrl-C: the whole process
# group gets SIGINT) while it waits; its trap must leave nothing behind.
sigint_test() {
    local id="s$$" pid i st out
    # env --default-signal: a background job of a non-interactive shell starts with SIGINT
    # ignored, and bash cannot trap a signal that was ignored on entry
    env --default-signal=INT setsid bash -c "TB_ID=$id; . '$HERE/lib/testbed.sh'; tb_up 2 100 0 || exit 3; echo up; echo \"net \$TB_NET\"; sleep 30; exit 4" \
        >"/tmp/lbfo-tbtest-$id.out" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do grep -q '^up$' "/tmp/lbfo-tbtest-$id.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^up$' "/tmp/lbfo-tbtest-$id.out" || { kill -KILL -- "-$pid" 2>/dev/null; cat "/tmp/lbfo-tbtest-$id.out"; return 1; }
    [ -n "$(TB_ID=$id; ip netns list | grep -w "lbfo-t$id")" ] || { echo "bed not visible"; return 1; }
    SIGINT_NET=$(sed -n 's/^net //p' "/tmp/lbfo-tbtest-$id.out")
    kill -INT -- "-$pid"
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid"; st=$?
    out=$(TB_ID=$id; TB_SLOT=""; TB_CTL=""; TB_DIR=""; tb_leftovers)
    # the slot is not known here any more: also look for any route/address left in 198.18/15
    rm -f "/tmp/lbfo-tbtest-$id.out"
    [ "$st" = 130 ] || echo "exit status $st (want 130)"
    [ -z "$out" ] || echo "left: $out"
    [ "$st" = 130 ] && [ -z "$out" ] && ! pgrep -f "lbfo-tb$id" >/dev/null
}
# Other beds (other tests, benchmarks) may come and go meanwhile: look only
# at the routes of this bed's own /24.
SIGINT_NET=
check teardown_on_sigint sigint_test
check sigint_no_route_left test -n "$SIGINT_NET" -a -z "$(ip -4 route show table all | grep "$SIGINT_NET\.")"

# ------------------------------------------------------------ 1. a 2-path bed
if ! tb_up 2; then fail bed_up; exit 1; fi
pass bed_up
echo "# bed $TB_ID: ns $TB_NS, portals ${TB_PORTALS[*]}, $TB_IQN, tgtd -C $TB_CTL, dir $TB_DIR"

inq() { timeout 10 iscsi-inq "$@" 2>&1; }
for n in 1 2; do
    url=$(tb_url "$n")
    if timeout 10 iscsi-ls -s "iscsi://$(tb_portal "$n")" | grep -q "Target:$TB_IQN Portal:$(tb_portal "$n")" &&
        timeout 10 iscsi-readcapacity16 "$url" | grep -q '^Total size:268435456$' &&
        inq "$url" | grep -q DIRECT_ACCESS; then
        pass "portal_$n"
    else
        fail "portal_$n" "$url"
    fi
done

# LU identity: VPD 0x83 (device identification) and 0x80 (serial). NB: iscsi-inq parses
# -c as decimal: 0x83 = 131, 0x80 = 128 ("-c 0x83" silently gives page 0).
ident() { inq -e 1 -c 131 "$1"; inq -e 1 -c 128 "$1"; }
id1=$(ident "$(tb_url 1)"); id2=$(ident "$(tb_url 2)")
if [ -n "$id1" ] && [ "$id1" = "$id2" ] && grep -q "lbfo-$TB_ID-t1l1" <<<"$id1"; then
    pass same_lu_identity
else
    fail same_lu_identity "$(diff <(echo "$id1") <(echo "$id2") | head -5)"
fi
# a second target: a different LU, same bed (the "paths to different LUs" case)
tb_add_target; iqn2=$TB_IQN2
id3=$(ident "$(tb_url 2 "$iqn2")")
check second_target_other_identity test -n "$id3" -a "$id3" != "$id1"

# ------------------------------------------------------------ 2. data over path 1, back over path 2
head -c 4M /dev/urandom >"$TB_DIR/pattern"
rm -f "$TB_DIR/back"
if timeout 20 qemu-img convert -n -f raw -O raw "$TB_DIR/pattern" "$(tb_url 1)" &&
    timeout 20 qemu-img dd -f raw -O raw bs=1M count=4 if="$(tb_url 2)" of="$TB_DIR/back" &&
    cmp -s "$TB_DIR/pattern" "$TB_DIR/back"; then
    pass data_path1_to_path2
else
    fail data_path1_to_path2
fi

# ------------------------------------------------------------ 3. shaping: 200 Mbit/s -> 0.956 x rate of TCP
tb_set_rate 1 200
mbit=$(tb_iperf 1 3)
want=$(awk 'BEGIN{print 0.956 * 200}')
if awk -v m="${mbit:-0}" -v w="$want" 'BEGIN{exit !(m >= 0.85 * w && m <= 1.15 * w)}'; then
    pass "shaped_200mbit (${mbit} Mbit/s, want ${want} +-15%)"
else
    fail shaped_200mbit "${mbit:-none} Mbit/s, want ${want} +-15%"
fi

# ------------------------------------------------------------ 4. hard link fault
p1=$(tb_portal 1); p2=$(tb_portal 2)
tb_link_down 1
check link_down_portal_dead tb_wait_portal_dead "$p1" 3
check link_down_no_route_off_box bash -c "ip route get $(tb_addr 1) 2>&1 | grep -q 'unreachable\|No route'"
check link_down_other_path_alive tb_wait_portal "$p2" 2
tb_link_up 1
check link_up_portal_back tb_wait_portal "$p1" 5
check link_up_shaping_kept bash -c "tc qdisc show dev $(tb_hostdev 1) | grep -q 'tbf.*rate 200Mbit'"
check link_up_iscsi bash -c "timeout 10 iscsi-inq '$(tb_url 1)' >/dev/null 2>&1"

# ------------------------------------------------------------ 5. silent blackhole
tb_blackhole 2
check blackhole_portal_silent tb_wait_portal_dead "$p2" 3
check blackhole_other_path_alive tb_wait_portal "$p1" 2
tb_unblackhole 2
check unblackhole_portal_back tb_wait_portal "$p2" 5
check unblackhole_no_rule bash -c "! ip netns exec $TB_NS iptables-save | grep -q lbfo-tb"

# ------------------------------------------------------------ 6. target restart (crash), same config + data
tb_target_stop
check target_stop_portals_dead bash -c "! timeout 1 bash -c 'exec 3<>/dev/tcp/${p1%:*}/3260' 2>/dev/null && ! timeout 1 bash -c 'exec 3<>/dev/tcp/${p2%:*}/3260' 2>/dev/null"
tb_target_start
both_up() { tb_wait_portal "$p1" 5 && tb_wait_portal "$p2" 5; }
check target_start_portals_back both_up
rm -f "$TB_DIR/back"
if timeout 20 qemu-img dd -f raw -O raw bs=1M count=4 if="$(tb_url 1)" of="$TB_DIR/back" &&
    cmp -s "$TB_DIR/pattern" "$TB_DIR/back" && [ "$(ident "$(tb_url 2)")" = "$id1" ] &&
    [ "$(ident "$(tb_url 1 "$iqn2")")" = "$id3" ]; then
    pass target_restart_same_lu_and_data
else
    fail target_restart_same_lu_and_data
fi

# ------------------------------------------------------------ 7. CHAP (one-way and mutual)
tb_chap lbfouser secret-12chars lbfotarget tsecret-12chars
u="iscsi://lbfouser%secret-12chars@$p1/$TB_IQN/1"
check chap_no_creds_refused bash -c "! timeout 10 iscsi-inq '$(tb_url 1)' >/dev/null 2>&1"
check chap_wrong_refused bash -c "! timeout 10 iscsi-inq 'iscsi://lbfouser%wrong-secret1@$p1/$TB_IQN/1' >/dev/null 2>&1"
check chap_right_ok bash -c "timeout 10 iscsi-inq '$u' >/dev/null 2>&1"
check chap_mutual_ok bash -c "timeout 10 iscsi-inq '$u?target_user=lbfotarget&target_password=tsecret-12chars' >/dev/null 2>&1"
check chap_mutual_wrong_refused bash -c "! timeout 10 iscsi-inq '$u?target_user=lbfotarget&target_password=wrong-secret1' >/dev/null 2>&1"

# ------------------------------------------------------------ 8. teardown
slot=$TB_SLOT ctl=$TB_CTL dir=$TB_DIR
tb_down
left=$(TB_SLOT=$slot TB_CTL=$ctl TB_DIR=$dir tb_leftovers)
check teardown_clean test -z "$left"
[ -z "$left" ] || echo "# left: $left"
tb_down   # idempotent
check teardown_idempotent test -z "$(TB_SLOT=$slot TB_CTL=$ctl TB_DIR=$dir tb_leftovers)"

# ------------------------------------------------------------ 9. a SAN: 2 targets x 3 LUNs over 2 paths
# (lib/testbed_san.sh) every LU its own identity, the same on both paths
export TB_SAN_LUN_SIZE=16M
if ! tb_san_up 2 2 3; then fail san_up; echo "# $(( $(date +%s) - T0 )) s, $fails failure(s)"; exit 1; fi
pass san_up
echo "# SAN bed $TB_ID: $(tb_lus | wc -l) LUs, targets ${TB_IQNS[*]}"
# lus_listed N -> "TARGET:LUN ..." of the DIRECT_ACCESS LUs iscsi-ls (SendTargets + REPORT LUNS) shows on path N
lus_listed() {
    timeout 10 iscsi-ls -s "iscsi://$(tb_portal "$1")" 2>/dev/null |
        awk '/^Target:/ {t = substr($1, 8)} /^Lun:.*DIRECT_ACCESS/ {sub("Lun:", "", $1); print t ":" $1}' | sort | tr '\n' ' '
}
want_lus=$(tb_lus | while read -r t l; do echo "${TB_IQNS[$t]}:$l"; done | sort | tr '\n' ' ')
# san_ids_ok N: every LU that path N may see (its target's ACL) read through path N and checked
# against the table; its wwids appended to $TB_DIR/wwids.N
san_ids_ok() {
    local n=$1 t l o
    while read -r t l; do
        [[ " ${TB_TGT_ACL[t]:-ALL} " == *" ALL "* || " ${TB_TGT_ACL[t]} " == *" $(tb_hostaddr "$n") "* ]] || continue
        o=$(tb_inq id "$(tb_url "$n" "${TB_IQNS[$t]}" "$l")") || { echo "# $t:$l on path $n: no answer"; return 1; }
        if ! grep -qx "wwid $(tb_lu_wwid "$t" "$l")" <<<"$o" || ! grep -qx "t10.$(tb_lu_scsi_id "$t" "$l")" <<<"$o" ||
            ! grep -qx "serial.$(tb_lu_scsi_sn "$t" "$l")" <<<"$o"; then
            echo "# $t:$l on path $n: $(tr '\n' ' ' <<<"$o")"; return 1
        fi
        sed -n 's/^wwid //p' <<<"$o" >>"$TB_DIR/wwids.$n"
    done < <(tb_lus)
}
for n in 1 2; do
    got=$(lus_listed "$n")
    if [ "$got" = "$want_lus" ]; then pass "san_report_luns_path_$n (6 LUs)"; else fail "san_report_luns_path_$n" "$got"; fi
    rm -f "$TB_DIR/wwids.$n"
    if san_ids_ok "$n" && [ "$(sort -u "$TB_DIR/wwids.$n" | wc -l)" = 6 ]; then
        pass "san_distinct_designators_path_$n ($(head -1 "$TB_DIR/wwids.$n") ...)"
    else
        fail "san_distinct_designators_path_$n"
    fi
done
check san_same_designators_both_paths cmp -s "$TB_DIR/wwids.1" "$TB_DIR/wwids.2"

# ------------------------------------------------------------ 10. one LU behind two LUN numbers, each on its own path
tb_shared_lu 1 3
ta=${TB_SHARED_TIDS[0]} ia=${TB_SHARED_IQNS[0]} ib=${TB_SHARED_IQNS[1]}
wa=$(tb_inq id "$(tb_url 1 "$ia" 1)" | sed -n 's/^wwid //p')
wb=$(tb_inq id "$(tb_url 2 "$ib" 3)" | sed -n 's/^wwid //p')
if [ -n "$wa" ] && [ "$wa" = "$wb" ] && [ "$wa" = "$(tb_lu_wwid "$ta" 1)" ] && ! grep -qx "$wa" "$TB_DIR/wwids.1"; then
    pass "shared_lu_same_designator (LUN 1 on path 1, LUN 3 on path 2: $wa)"
else
    fail shared_lu_same_designator "'$wa' '$wb'"
fi
p1l=$(lus_listed 1) p2l=$(lus_listed 2)
if [[ " $p1l " == *" $ia:1 "* && " $p1l " != *" $ib:"* && " $p2l " == *" $ib:3 "* && " $p2l " != *" $ia:"* ]] &&
    ! tb_inq id "$(tb_url 2 "$ia" 1)" >/dev/null 2>&1 && ! tb_inq id "$(tb_url 1 "$ib" 3)" >/dev/null 2>&1; then
    pass shared_lu_each_target_only_on_its_path
else
    fail shared_lu_each_target_only_on_its_path "path 1: $p1l; path 2: $p2l"
fi
head -c 1M /dev/urandom >"$TB_DIR/pattern"
rm -f "$TB_DIR/back"
if timeout 20 qemu-img convert -n -f raw -O raw "$TB_DIR/pattern" "$(tb_url 1 "$ia" 1)" &&
    timeout 20 qemu-img dd -f raw -O raw bs=1M count=1 if="$(tb_url 2 "$ib" 3)" of="$TB_DIR/back" &&
    cmp -s "$TB_DIR/pattern" "$TB_DIR/back"; then
    pass shared_lu_same_data
else
    fail shared_lu_same_data
fi

# ------------------------------------------------------------ 11. LUNs added and removed under a logged-in session
# ua_after ACTION...: a session on target 2's LUN 1 (path 1) logs in, ACTION runs, then the
# session's next commands; UA_OUT = tb_inq's "tur ..." and "luns ..." lines. Not in $(...):
# ACTION changes the bed's LU table.
ua_after() {
    local f=$TB_DIR/ua.out pid i
    rm -f "$TB_DIR/go" "$f"
    tb_inq ua "$(tb_url 1 "$TB_IQN2" 1)" "$TB_DIR/go" 10 >"$f" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do grep -q '^ready$' "$f" 2>/dev/null && break; sleep 0.05; done
    "$@"
    touch "$TB_DIR/go"
    wait "$pid"
    UA_OUT=$(grep -v '^ready$' "$f" | tr '\n' ' ')
}
ua_after tb_lun_add 2 5
if [[ "$UA_OUT" == "tur check 6 3f 0e tur good luns 0 1 2 3 5 " ]] && [[ " $(lus_listed 2) " == *" $TB_IQN2:5 "* ]] &&
    tb_inq id "$(tb_url 2 "$TB_IQN2" 5)" | grep -qx "wwid $(tb_lu_wwid 2 5)"; then
    pass "lun_add_seen (UNIT ATTENTION 3f/0e, then REPORT LUNS: ${UA_OUT#*luns })"
else
    fail lun_add_seen "$UA_OUT"
fi
f5=$(tb_lu_file 2 5)
ua_after tb_lun_remove 2 5
if [[ "$UA_OUT" == "tur check 6 3f 0e tur good luns 0 1 2 3 " ]] && [[ " $(lus_listed 2) " != *" $TB_IQN2:5 "* ]] &&
    [ -n "$f5" ] && [ ! -e "$f5" ] && ! tb_lu_file 2 5 >/dev/null 2>&1; then
    pass "lun_remove_seen (UNIT ATTENTION 3f/0e, then REPORT LUNS: ${UA_OUT#*luns })"
else
    fail lun_remove_seen "$UA_OUT"
fi

# ------------------------------------------------------------ 12. a target restart keeps every LU's identity
tb_target_stop
tb_target_start
rm -f "$TB_DIR/wwids.1" "$TB_DIR/wwids.2"
if tb_wait_portal "$p1" 5 && san_ids_ok 1 && san_ids_ok 2 && [ "$(lus_listed 1)" = "$p1l" ] &&
    [ "$(lus_listed 2)" = "$p2l" ]; then
    pass san_restart_same_lus
else
    fail san_restart_same_lus "$(lus_listed 1)"
fi

# ------------------------------------------------------------ 13. teardown of the SAN
slot=$TB_SLOT ctl=$TB_CTL dir=$TB_DIR
tb_down
left=$(TB_SLOT=$slot TB_CTL=$ctl TB_DIR=$dir tb_leftovers)
check san_teardown_clean test -z "$left"
[ -z "$left" ] || echo "# left: $left"

echo "# $(( $(date +%s) - T0 )) s, $fails failure(s)"
[ "$fails" = 0 ]

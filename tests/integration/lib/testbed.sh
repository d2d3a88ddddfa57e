# shellcheck shell=bash
# shellcheck disable=SC2034  # TB_* variables are for the scripts that source this
# lbfo real iSCSI test bed: tgtd in a network namespace, one veth pair per path,
# addresses from 198.18.0.0/15 only, tbf shaping, faults. Source this file, then
#
#   tb_up 2 800 200         # 2 paths, 800 and 200 Mbit/s (0 or absent = unshaped)
#   iscsi-inq "$(tb_url 1)"
#   tb_link_down 1; tb_link_up 1; tb_blackhole 2; tb_unblackhole 2
#   tb_target_stop; tb_target_start; tb_set_rate 1 500
#   tb_down                 # also run by the EXIT/INT/TERM trap tb_up installs
#
# See docs/testbed.md for the address plan and what each fault does.
# Needs root, iproute2, tc (tbf), iptables, tgt (tgtd/tgtadm), flock.

# ---------------------------------------------------------------- settings
: "${TB_ID:=$$}"                      # bed id: names (netns, veths, IQN) derive from it
: "${TB_LUN_SIZE:=256M}"              # size of each sparse LUN file
: "${TB_TMPDIR:=${TMPDIR:-/tmp}}"     # where the bed's temp dir (LUN files, logs) goes
: "${TB_TBF_LATENCY:=50ms}"           # tbf queue (as latency); deep enough that TCP is not dropped
: "${TB_TBF_MIN_BURST:=131072}"       # bytes; veth hands tbf 64 KiB GSO packets: keep > 64 KiB
: "${TB_VERBOSE:=0}"
: "${TB_TGT_PARAMS:=}"                # iSCSI target params, e.g. MaxRecvDataSegmentLength=262144,FirstBurstLength=262144
: "${TB_TGTD_ARGS:=}"                 # extra tgtd arguments, e.g. --iscsi portal=ADDR:3260 (one portal only)
TB_RUNDIR=/run/lbfo-testbed           # lock + one state file per live bed (for tb_down from elsewhere)
TB_PORT=3260
TB_LUN=1

# ---------------------------------------------------------------- helpers
_tb_log() { [ "$TB_VERBOSE" = 1 ] && echo "testbed[$TB_ID]: $*" >&2; return 0; }
_tb_err() { echo "testbed[$TB_ID]: error: $*" >&2; }
_tb_ms() { awk -v t="$1" 'BEGIN{printf "%d", t * 1000}'; }   # seconds (may be fractional) -> ms
_tb_now_ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }

# slot S (0..511) -> "198.A.B" ; path n (1..63) -> 198.A.B.(4n-3)/30 host, .(4n-2) target
_tb_net24() { local s=$1; echo "198.$((18 + s / 256)).$((s % 256))"; }

_tb_names() {   # (re)derive every name from TB_ID (+ TB_SLOT once known)
    TB_NS="lbfo-t$TB_ID"
    TB_STATE="$TB_RUNDIR/$TB_ID.env"
    if [ -n "${TB_SLOT:-}" ]; then
        TB_NET="$(_tb_net24 "$TB_SLOT")"
        TB_CTL=$((7000 + TB_SLOT))       # tgtd control port: /var/run/tgtd/socket.$TB_CTL
    fi
    TB_IQN="iqn.2026-11.io.lbfo:testbed.$TB_ID"
}

tb_hostdev()  { echo "lbh${TB_ID}p$1"; }
tb_tgtdev()   { echo "lbt${TB_ID}p$1"; }
tb_hostaddr() { echo "$TB_NET.$((4 * $1 - 3))"; }
tb_addr()     { echo "$TB_NET.$((4 * $1 - 2))"; }
tb_portal()   { echo "$(tb_addr "$1"):$TB_PORT"; }
# tb_url N [IQN] [LUN] -> iscsi://198.x.y.z:3260/IQN/LUN  (libiscsi / qemu URL form)
tb_url()      { echo "iscsi://$(tb_portal "$1")/${2:-$TB_IQN}/${3:-$TB_LUN}"; }
tb_nsexec()   { ip netns exec "$TB_NS" "$@"; }
tb_tgtadm()   { timeout 10 tgtadm -C "$TB_CTL" "$@"; }

# tb_wait_portal ADDR:PORT TIMEOUT_S -> 0 as soon as a TCP connect succeeds, 1 at the deadline
tb_wait_portal() {
    local hp=$1 to=${2:-5} host port end i
    host=${hp%:*}; port=${hp##*:}; [ "$port" = "$hp" ] && port=$TB_PORT
    end=$(( $(_tb_now_ms) + $(_tb_ms "$to") ))
    for ((i = 0; i < 1000; i++)); do
        if timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then return 0; fi
        [ "$(_tb_now_ms)" -ge "$end" ] && return 1
        sleep 0.1
    done
    return 1
}
# tb_wait_portal_dead ADDR:PORT TIMEOUT_S -> 0 as soon as a 1 s TCP connect fails
tb_wait_portal_dead() {
    local hp=$1 to=${2:-5} host port end i
    host=${hp%:*}; port=${hp##*:}
    end=$(( $(_tb_now_ms) + $(_tb_ms "$to") ))
    for ((i = 0; i < 1000; i++)); do
        timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null || return 0
        [ "$(_tb_now_ms)" -ge "$end" ] && return 1
        sleep 0.1
    done
    return 1
}

# chain our handler in front of any existing trap on SIG: "tb_down; OLD; TAIL"
_tb_chain_trap() {
    local sig=$1 tail=${2:-} old="" cur
    cur=$(trap -p "$sig")
    if [ -n "$cur" ]; then eval "set -- $cur"; old=$3; fi
    case "$old" in *tb_down*) return 0 ;; esac   # already installed
    # shellcheck disable=SC2064
    trap "tb_down${old:+; $old}${tail:+; $tail}" "$sig"
}

# ---------------------------------------------------------------- shaping
# tbf on both egress sides. burst = max(TB_TBF_MIN_BURST, 2 ms of rate): a burst
# smaller than the 64 KiB GSO packets veth hands over makes tbf segment or drop them.
_tb_shape() {   # n rate_mbit
    local n=$1 r=${2:-0} h t burst
    h=$(tb_hostdev "$n"); t=$(tb_tgtdev "$n")
    if [ -z "$r" ] || [ "$r" = 0 ]; then
        tc qdisc del dev "$h" root 2>/dev/null
        tb_nsexec tc qdisc del dev "$t" root 2>/dev/null
        return 0
    fi
    burst=$(( r * 1000000 / 8 / 500 ))
    [ "$burst" -lt "$TB_TBF_MIN_BURST" ] && burst=$TB_TBF_MIN_BURST
    tc qdisc replace dev "$h" root tbf rate "${r}mbit" burst "$burst" latency "$TB_TBF_LATENCY" &&
    tb_nsexec tc qdisc replace dev "$t" root tbf rate "${r}mbit" burst "$burst" latency "$TB_TBF_LATENCY"
}
tb_set_rate() { _tb_shape "$1" "$2" || return 1; TB_RATES[$1]=${2:-0}; _tb_save_state; }

# ---------------------------------------------------------------- target
_tb_tgtd_pid() { [ -n "${TB_TGTD_PID:-}" ] && kill -0 "$TB_TGTD_PID" 2>/dev/null && echo "$TB_TGTD_PID"; }

_tb_tgtd_launch() {
    mkdir -p /var/run/tgtd
    # shellcheck disable=SC2086  # TB_TGTD_ARGS: extra tgtd arguments, a list of words
    ip netns exec "$TB_NS" tgtd -f -C "$TB_CTL" $TB_TGTD_ARGS >>"$TB_DIR/tgtd.log" 2>&1 </dev/null &
    TB_TGTD_PID=$!
    disown "$TB_TGTD_PID" 2>/dev/null    # no "Killed" job notice when a fault kills it
    local i
    for ((i = 0; i < 50; i++)); do          # <= 5 s
        if timeout 2 tgtadm -C "$TB_CTL" --op show --mode target >/dev/null 2>&1; then
            _tb_save_state; return 0
        fi
        kill -0 "$TB_TGTD_PID" 2>/dev/null || break
        sleep 0.1
    done
    _tb_err "tgtd -C $TB_CTL did not answer within 5 s (log: $TB_DIR/tgtd.log)"
    return 1
}

# ---------------------------------------------------------------- LU table
# Every LU of the bed, replayed by tb_target_start; key "TID:LUN". A file name without a
# leading / lives in TB_DIR. TB_TGT_PLAN[tid] says the target's LUNs are in the table (a
# target without a plan gets LUN 1 on file lun$tid.img, as before). TB_TGT_ACL[tid]: the
# initiator addresses the target is bound to ("ALL" when unset).
declare -gA TB_LU_FILE=() TB_LU_SIZE=() TB_LU_SCSI_ID=() TB_LU_SCSI_SN=() TB_LU_BS=()
declare -ga TB_TGT_ACL=() TB_TGT_PLAN=()

_tb_lu_record() {   # tid lun file size scsi_id scsi_sn [block_size]
    local k="$1:$2"
    TB_LU_FILE[$k]=$3; TB_LU_SIZE[$k]=$4; TB_LU_SCSI_ID[$k]=$5; TB_LU_SCSI_SN[$k]=$6
    TB_LU_BS[$k]=${7:-}
    TB_TGT_PLAN[$1]=1
}
_tb_lu_forget() { local k="$1:$2"; unset "TB_LU_FILE[$k]" "TB_LU_SIZE[$k]" "TB_LU_SCSI_ID[$k]" "TB_LU_SCSI_SN[$k]" "TB_LU_BS[$k]"; }
_tb_lu_table_reset() { TB_LU_FILE=(); TB_LU_SIZE=(); TB_LU_SCSI_ID=(); TB_LU_SCSI_SN=(); TB_LU_BS=(); TB_TGT_ACL=(); TB_TGT_PLAN=(); }
_tb_luns_of() {   # tid -> its LUNs from the table, ascending, one a line
    local k
    for k in "${!TB_LU_FILE[@]}"; do [ "${k%%:*}" = "$1" ] && echo "${k#*:}"; done | sort -n
}
# tb_lus -> "TID LUN" for every LU of the bed, sorted
tb_lus() { local k; for k in "${!TB_LU_FILE[@]}"; do echo "${k%%:*} ${k#*:}"; done | sort -n -k1,1 -k2,2; }
# tb_lu_file TID LUN -> the LU's backing file
tb_lu_file() {
    local f=${TB_LU_FILE[$1:$2]:-}
    [ -n "$f" ] || { _tb_err "no LU $1:$2"; return 1; }
    case $f in /*) echo "$f" ;; *) echo "$TB_DIR/$f" ;; esac
}
tb_lu_scsi_id() { [ -n "${TB_LU_SCSI_ID[$1:$2]:-}" ] && echo "${TB_LU_SCSI_ID[$1:$2]}"; }
tb_lu_scsi_sn() { [ -n "${TB_LU_SCSI_SN[$1:$2]:-}" ] && echo "${TB_LU_SCSI_SN[$1:$2]}"; }
# _tb_naa6 SCSI_ID -> the NAA 6 designator tgt builds from scsi_id (usr/spc.c update_vpd_83,
# tgt 1.0.85): every character is one nibble (its hex value; any other character is 0), the
# last 32 right-adjusted in 128 bits, the top nibble replaced by 6. Printed as lbfo names it.
_tb_naa6() {
    local s=$1 i c n=""
    for ((i = 0; i < ${#s} && i < 64; i++)); do
        c=${s:i:1}
        case $c in [0-9a-fA-F]) n+=${c,,} ;; *) n+=0 ;; esac
    done
    n="00000000000000000000000000000000$n"
    n=${n: -32}
    echo "naa.6${n:1}"
}
# tb_lu_wwid TID LUN -> the identity an initiator sees in VPD 0x83 and lbfo names the LU by:
# tgt's NAA 6 designator (derived from the LU's scsi_id), e.g. naa.6000000000000bf0...
tb_lu_wwid() {
    local id=${TB_LU_SCSI_ID[$1:$2]:-}
    [ -n "$id" ] || { _tb_err "no LU $1:$2"; return 1; }
    _tb_naa6 "$id"
}

# the LU TID:LUN from the table, in a target that exists
_tb_lu_create() {   # tid lun
    local tid=$1 lun=$2 f; f=$(tb_lu_file "$tid" "$lun") || return 1
    [ -e "$f" ] || truncate -s "${TB_LU_SIZE[$tid:$lun]}" "$f" || return 1
    tb_tgtadm --lld iscsi --op new --mode logicalunit --tid "$tid" --lun "$lun" -b "$f" \
        ${TB_LU_BS[$tid:$lun]:+--blocksize "${TB_LU_BS[$tid:$lun]}"} &&
    tb_tgtadm --op update --mode logicalunit --tid "$tid" --lun "$lun" \
        --params "scsi_id=${TB_LU_SCSI_ID[$tid:$lun]},scsi_sn=${TB_LU_SCSI_SN[$tid:$lun]}"
}

# create target TID and its LUs from the recorded config (used at start and on restart)
_tb_make_target() {   # tid
    local tid=$1 iqn=${TB_IQNS[$1]} lun a
    # unique per bed and target: tgt's default ("IET 000T000L", sn beafTL) repeats across beds
    [ -n "${TB_TGT_PLAN[$tid]:-}" ] ||
        _tb_lu_record "$tid" 1 "lun$tid.img" "$TB_LUN_SIZE" "lbfo-${TB_ID}-t${tid}l1" "lbfo${TB_ID}t${tid}l1"
    tb_tgtadm --lld iscsi --op new --mode target --tid "$tid" -T "$iqn" || return 1
    for lun in $(_tb_luns_of "$tid"); do _tb_lu_create "$tid" "$lun" || return 1; done
    for a in ${TB_TGT_ACL[$tid]:-ALL}; do
        tb_tgtadm --lld iscsi --op bind --mode target --tid "$tid" -I "$a" || return 1
    done
    local kv
    for kv in ${TB_TGT_PARAMS//,/ }; do
        tb_tgtadm --lld iscsi --op update --mode target --tid "$tid" -n "${kv%%=*}" -v "${kv#*=}" ||
            { _tb_err "target param $kv refused"; return 1; }
    done
    if [ -n "${TB_CHAP_USER:-}" ]; then _tb_apply_chap "$tid" || return 1; fi
}

_tb_apply_chap() {   # tid
    local tid=$1
    tb_tgtadm --lld iscsi --op show --mode account 2>/dev/null | grep -qx "[[:space:]]*$TB_CHAP_USER" ||
        tb_tgtadm --lld iscsi --op new --mode account --user "$TB_CHAP_USER" --password "$TB_CHAP_PASS" || return 1
    tb_tgtadm --lld iscsi --op bind --mode account --tid "$tid" --user "$TB_CHAP_USER" || return 1
    if [ -n "${TB_CHAP_MUSER:-}" ]; then
        tb_tgtadm --lld iscsi --op show --mode account 2>/dev/null | grep -qx "[[:space:]]*$TB_CHAP_MUSER" ||
            tb_tgtadm --lld iscsi --op new --mode account --user "$TB_CHAP_MUSER" --password "$TB_CHAP_MPASS" || return 1
        tb_tgtadm --lld iscsi --op bind --mode account --tid "$tid" --user "$TB_CHAP_MUSER" --outgoing || return 1
    fi
}

_tb_configure_all() { local tid; for tid in "${!TB_IQNS[@]}"; do _tb_make_target "$tid" || return 1; done; }

# tb_add_target [IQN] -> creates target tid 2, 3, ... with its own LUN 1 (a different LU);
# records it in TB_IQNS[tid] and TB_IQN_LAST (TB_IQN2 for the first extra one) so that
# tb_target_start replays it. Call it directly, NOT as $(tb_add_target): a command
# substitution is a subshell and the record would be lost.
tb_add_target() {
    local tid=$(( ${#TB_IQNS[@]} + 1 )) iqn=${1:-}
    [ -n "$iqn" ] || iqn="$TB_IQN.t$tid"
    TB_IQNS[$tid]=$iqn
    _tb_make_target "$tid" || { unset "TB_IQNS[$tid]"; return 1; }
    [ "$tid" = 2 ] && TB_IQN2=$iqn
    TB_IQN_LAST=$iqn
    _tb_save_state
}

# tb_chap USER PASS [MUTUAL_USER MUTUAL_PASS]: CHAP on every target (also after restarts).
# libiscsi URL: iscsi://USER%PASS@host/iqn/lun ; mutual: see docs/testbed.md
tb_chap() {
    TB_CHAP_USER=$1 TB_CHAP_PASS=$2 TB_CHAP_MUSER=${3:-} TB_CHAP_MPASS=${4:-}
    local tid; for tid in "${!TB_IQNS[@]}"; do _tb_apply_chap "$tid" || return 1; done
    _tb_save_state
}

# tb_target_stop [--graceful]: default SIGKILL (a crash: the kernel closes tgtd's sockets);
# --graceful: tgtadm --op delete --mode system --force. Either way waits (<= 5 s) for exit.
tb_target_stop() {
    local pid i; pid=$(_tb_tgtd_pid) || return 0
    if [ "${1:-}" = --graceful ]; then
        timeout 5 tgtadm -C "$TB_CTL" --op delete --mode system --force >/dev/null 2>&1
    else
        kill -KILL "$pid" 2>/dev/null
    fi
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    TB_TGTD_PID=""
    _tb_save_state
    return 0
}
# tb_target_start: tgtd again with the same control port, targets, LUN files, ids, CHAP
tb_target_start() {
    _tb_tgtd_pid >/dev/null && return 0
    _tb_tgtd_launch && _tb_configure_all || return 1
    local i; for ((i = 0; i < 50; i++)); do
        tb_nsexec timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$TB_PORT" 2>/dev/null && return 0
        sleep 0.1
    done
    _tb_err "tgtd is not listening on $TB_PORT"; return 1
}

# ---------------------------------------------------------------- faults
# hard link fault: host end admin-down. Its connected /30 route goes with it; the bed's
# "unreachable 198.A.B.0/24" route then answers at once with EHOSTUNREACH (without it the
# default route would carry 198.18/15 traffic off the machine).
tb_link_down() { ip link set "$(tb_hostdev "$1")" down; }
tb_link_up() {
    local n=$1 h i; h=$(tb_hostdev "$n")
    ip link set "$h" up || return 1
    for ((i = 0; i < 50; i++)); do      # carrier on both ends (<= 5 s)
        ip link show "$h" | grep -q LOWER_UP &&
            tb_nsexec ip link show "$(tb_tgtdev "$n")" | grep -q LOWER_UP && break
        sleep 0.1
    done
    # the kernel re-adds the connected route on up; make sure of it (and of the address)
    ip -4 addr show dev "$h" | grep -q "inet $(tb_hostaddr "$n")/" ||
        ip addr add "$(tb_hostaddr "$n")/30" dev "$h"
    ip route replace "$TB_NET.$((4 * n - 4))/30" dev "$h" proto kernel scope link src "$(tb_hostaddr "$n")"
}
# silent blackhole: DROP everything on the path's target end (target namespace only, the
# host's firewall is untouched). TCP sees no RST/ICMP: only timeouts notice it.
_tb_bh_rules() {   # op n
    local t; t=$(tb_tgtdev "$2")
    tb_nsexec iptables -w 5 "$1" INPUT  -i "$t" -m comment --comment "lbfo-tb$TB_ID-p$2" -j DROP &&
    tb_nsexec iptables -w 5 "$1" OUTPUT -o "$t" -m comment --comment "lbfo-tb$TB_ID-p$2" -j DROP
}
tb_blackhole()   { tb_unblackhole "$1"; _tb_bh_rules -I "$1"; }
tb_unblackhole() { local i; for ((i = 0; i < 20; i++)); do _tb_bh_rules -D "$1" 2>/dev/null || break; done; return 0; }

# ---------------------------------------------------------------- iperf3 helper
# tb_iperf N SECS [extra iperf3 client args, e.g. -R] -> prints goodput in Mbit/s (receiver side)
tb_iperf() {
    local n=$1 secs=${2:-5} port spid out i; shift 2
    port=$((5200 + n))
    tb_nsexec iperf3 -s -1 -B "$(tb_addr "$n")" -p "$port" >/dev/null 2>&1 &
    spid=$!
    for ((i = 0; i < 50; i++)); do     # listening? (no probe connect: iperf3 -1 would take it as the test)
        [ -n "$(tb_nsexec ss -Hltn "sport = :$port" 2>/dev/null)" ] && break
        sleep 0.1
    done
    out=$(timeout $((secs + 15)) iperf3 -c "$(tb_addr "$n")" -p "$port" -t "$secs" -O 1 -J "$@" 2>/dev/null)
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    printf '%s' "$out" | awk '/"sum_received"/ {f=1} f && /"bits_per_second"/ {gsub(/[^0-9.e+]/, "", $2); printf "%.1f\n", $2 / 1e6; exit}'
}

# ---------------------------------------------------------------- state
_tb_save_state() {
    [ -n "${TB_SLOT:-}" ] || return 0
    mkdir -p "$TB_RUNDIR"
    {
        echo "TB_ID=$TB_ID"; echo "TB_SLOT=$TB_SLOT"; echo "TB_DIR=$TB_DIR"
        echo "TB_NPATHS=${TB_NPATHS:-0}"; echo "TB_TGTD_PID=${TB_TGTD_PID:-}"
        echo "TB_OWNER=${TB_OWNER:-$$}"
    } >"$TB_STATE.tmp" && mv -f "$TB_STATE.tmp" "$TB_STATE"
}

_tb_slot_free() {   # slot
    local s=$1 net f
    net=$(_tb_net24 "$s")
    for f in "$TB_RUNDIR"/*.env; do
        [ -e "$f" ] && grep -qx "TB_SLOT=$s" "$f" && return 1
    done
    [ -z "$(ip -4 route show table all root "$net.0/24" 2>/dev/null)" ] || return 1
    ip -4 -o addr show | grep -qF " $net." && return 1
    [ -e "/var/run/tgtd/socket.$((7000 + s))" ] && pgrep -f "tgtd -f -C $((7000 + s))\$" >/dev/null && return 1
    return 0
}

# ---------------------------------------------------------------- up / down
# tb_up NPATHS [RATE_MBIT...]
tb_up() {
    local np=${1:-2} n i s fd h t
    shift || true
    if [ "$(id -u)" != 0 ]; then _tb_err "needs root"; return 1; fi
    if ! [[ "$TB_ID" =~ ^[a-z0-9]{1,7}$ ]]; then _tb_err "TB_ID must be 1-7 of [a-z0-9] (got '$TB_ID')"; return 1; fi
    if ! [[ "$np" =~ ^[0-9]+$ ]] || [ "$np" -lt 1 ] || [ "$np" -gt 63 ]; then _tb_err "NPATHS must be 1..63"; return 1; fi
    [ "${TB_UP:-0}" = 1 ] && { _tb_err "already up"; return 1; }
    TB_SLOT=""; _tb_names
    if ip netns list | grep -qw "^$TB_NS"; then _tb_err "netns $TB_NS exists (another bed with TB_ID=$TB_ID?)"; return 1; fi
    mkdir -p "$TB_RUNDIR"

    TB_OWNER=$$
    _tb_chain_trap EXIT
    _tb_chain_trap INT "exit 130"
    _tb_chain_trap TERM "exit 143"
    _tb_chain_trap HUP "exit 129"

    # claim a /24 (slot) under a lock: the unreachable route is the claim
    exec {fd}>"$TB_RUNDIR/lock"
    flock -w 10 "$fd" || { exec {fd}>&-; _tb_err "lock $TB_RUNDIR/lock busy"; return 1; }
    local base=$(( ${TB_SLOT_HINT:-$(( $(printf '%d' "$(echo "$TB_ID" | cksum | cut -d' ' -f1)") ))} % 512 ))
    for ((i = 0; i < 512; i++)); do
        s=$(( (base + i) % 512 ))
        _tb_slot_free "$s" && { TB_SLOT=$s; break; }
    done
    if [ -z "$TB_SLOT" ]; then exec {fd}>&-; _tb_err "no free /24 in 198.18.0.0/15"; return 1; fi
    _tb_names
    TB_DIR=$(mktemp -d "$TB_TMPDIR/lbfo-tb$TB_ID.XXXXXX") || { exec {fd}>&-; return 1; }
    TB_UP=1
    ip route add unreachable "$TB_NET.0/24" || { exec {fd}>&-; tb_down; return 1; }
    _tb_save_state
    exec {fd}>&-

    TB_NPATHS=$np
    TB_PORTALS=(); TB_RATES=(); TB_IQNS=(); TB_IQNS[1]=$TB_IQN; TB_IQN2=""
    _tb_log "slot $TB_SLOT net $TB_NET.0/24 ns $TB_NS ctl $TB_CTL dir $TB_DIR"
    {
        ip netns add "$TB_NS" &&
        ip -n "$TB_NS" link set lo up
    } || { _tb_err "netns"; tb_down; return 1; }
    for ((n = 1; n <= np; n++)); do
        h=$(tb_hostdev "$n"); t=$(tb_tgtdev "$n")
        {
            ip link add "$h" type veth peer name "$t" netns "$TB_NS" &&
            { sysctl -qw "net.ipv6.conf.$h.disable_ipv6=1" 2>/dev/null; true; } &&
            ip addr add "$(tb_hostaddr "$n")/30" dev "$h" &&
            ip -n "$TB_NS" addr add "$(tb_addr "$n")/30" dev "$t" &&
            ip link set "$h" up &&
            ip -n "$TB_NS" link set "$t" up &&
            _tb_shape "$n" "${1:-0}"
        } || { _tb_err "path $n setup failed"; tb_down; return 1; }
        TB_RATES[$n]=${1:-0}
        TB_PORTALS+=("$(tb_portal "$n")")
        shift || true
    done
    _tb_save_state
    { _tb_tgtd_launch && _tb_configure_all; } || { _tb_err "target setup failed"; tb_down; return 1; }
    for ((n = 1; n <= np; n++)); do
        tb_wait_portal "$(tb_portal "$n")" 5 || { _tb_err "portal $(tb_portal "$n") does not answer"; tb_down; return 1; }
    done
    _tb_log "up: ${TB_PORTALS[*]} $TB_IQN"
    return 0
}

# tb_down: idempotent; also usable from another shell with just TB_ID set (reads the state file)
tb_down() {
    local i n pid pids h
    [ -n "${TB_ID:-}" ] || return 0
    TB_NS="lbfo-t$TB_ID"; TB_STATE="$TB_RUNDIR/$TB_ID.env"
    if [ -z "${TB_SLOT:-}" ] && [ -r "$TB_STATE" ]; then
        # shellcheck disable=SC1090
        . "$TB_STATE"
    fi
    [ -n "${TB_SLOT:-}" ] && _tb_names
    # 1. tgtd: polite delete, then by PID; then anything else still inside our namespace
    if [ -n "${TB_CTL:-}" ]; then
        pid=${TB_TGTD_PID:-}
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            timeout 5 tgtadm -C "$TB_CTL" --op delete --mode system --force >/dev/null 2>&1
            for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    fi
    if [ -e "/run/netns/$TB_NS" ]; then
        for ((i = 0; i < 3; i++)); do
            pids=$(ip netns pids "$TB_NS" 2>/dev/null)
            [ -z "$pids" ] && break
            for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
            sleep 0.2
        done
        ip netns del "$TB_NS" 2>/dev/null
    fi
    # 2. host ends (gone with the netns normally; a pair whose peer was never moved is not)
    for h in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^lb[ht]${TB_ID}p[0-9]+\$"); do
        ip link del "$h" 2>/dev/null
    done
    # 3. the slot's unreachable route, tgtd control socket, temp dir, state
    if [ -n "${TB_SLOT:-}" ]; then
        ip route del unreachable "$(_tb_net24 "$TB_SLOT").0/24" 2>/dev/null
        rm -f "/var/run/tgtd/socket.$TB_CTL" "/var/run/tgtd/socket.$TB_CTL.lock"
    fi
    if [ -n "${TB_DIR:-}" ] && [ -d "$TB_DIR" ]; then
        case "$TB_DIR" in */lbfo-tb"$TB_ID".*) rm -rf "$TB_DIR" ;; esac
    fi
    rm -f "$TB_STATE" "$TB_STATE.tmp"
    TB_UP=0; TB_TGTD_PID=""
    # the bed's configuration goes with it: the next tb_up starts from one LU, no CHAP
    _tb_lu_table_reset
    TB_CHAP_USER="" TB_CHAP_PASS="" TB_CHAP_MUSER="" TB_CHAP_MPASS=""
    return 0
}

# tb_leftovers: prints whatever of bed TB_ID still exists (empty = clean)
tb_leftovers() {
    local net=""
    [ -n "${TB_SLOT:-}" ] && net=$(_tb_net24 "$TB_SLOT")
    ip netns list | grep -w "^lbfo-t$TB_ID" | sed 's/^/netns: /'
    ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^lb[ht]${TB_ID}p[0-9]+\$" | sed 's/^/link: /'
    [ -n "${TB_CTL:-}" ] && pgrep -af "tgtd -f -C $TB_CTL\$" | sed 's/^/tgtd: /'
    [ -n "${TB_CTL:-}" ] && ls /var/run/tgtd/socket."$TB_CTL"* 2>/dev/null | sed 's/^/socket: /'
    iptables-save 2>/dev/null | grep "lbfo-tb$TB_ID-" | sed 's/^/iptables: /'
    [ -n "$net" ] && ip -4 route show table all root "$net.0/24" | sed 's/^/route: /'
    [ -n "$net" ] && ip -4 -o addr show | grep -F " $net." | sed 's/^/addr: /'
    [ -n "${TB_DIR:-}" ] && [ -e "$TB_DIR" ] && echo "dir: $TB_DIR"
    [ -e "$TB_RUNDIR/$TB_ID.env" ] && echo "state: $TB_RUNDIR/$TB_ID.env"
    return 0
}

# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # TB_* variables: for the scripts that source this / from testbed.sh
# A SAN on the test bed: many targets x many LUNs, one LU behind two targets, LUNs added and
# removed while initiators are logged in. Source after lib/testbed.sh:
#
#   tb_san_up PATHS TARGETS LUNS [RATES...]   targets 1..TARGETS with LUNs 1..LUNS each
#   tb_lus                                    "TID LUN" of every LU (testbed.sh)
#   tb_lu_wwid T L / tb_lu_file T L           identity an initiator sees / backing file
#   tb_shared_lu [LUN_A [LUN_B [SIZE [BS_B]]]] one LU in two new targets: A only from path 1
#                                             (LUN_A, default 1), B only from path 2 (LUN_B, 3);
#                                             BS_B: B's block size (tgt's --blocksize)
#   tb_lun_add T L [SIZE] / tb_lun_remove T L while running; sessions of target T get the
#                                             UNIT ATTENTION "REPORTED LUNS DATA HAS CHANGED"
#   tb_inq id|luns URL                        VPD 0x83/0x80 designators in bytes, REPORT LUNS
#                                             (a small libiscsi program, compiled on first use)
#
# Every LU gets a scsi_id and scsi_sn of fixed shape, "lbfo-HHHHHHHH-tTTTlLLL" (H: cksum of
# TB_ID in hex, T and L: target and LUN, decimal) and "lbfoHHHHHHHHtTTTlLLL". tgt derives the
# NAA 6 designator from the hex digits of scsi_id (any other character counts as 0), so the
# fixed widths keep the designators of different LUs different. See docs/testbed.md.

: "${TB_SAN_LUN_SIZE:=64M}"     # size of each SAN LUN (sparse file in TB_DIR)

TB_HERE_SAN=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

_tb_san_hash() { printf '%08x' "$(echo "$TB_ID" | cksum | cut -d' ' -f1)"; }
# _tb_san_ids KIND TID LUN -> "SCSI_ID SCSI_SN"; KIND t (an LU) or s (a shared LU). A shared
# LU's id is 4 nibbles longer ("-share" gives 0 0 0 a 0 e where "-t" gives 0 0), and both start
# with the nonzero b of "lbfo": their NAA 6 values differ in magnitude, so they never meet.
_tb_san_ids() {
    local h; h=$(_tb_san_hash)
    if [ "$1" = s ]; then
        printf 'lbfo-%s-share%03dl%03d lbfo%ss%03dl%03d\n' "$h" "$2" "$3" "$h" "$2" "$3"
    else
        printf 'lbfo-%s-t%03dl%03d lbfo%st%03dl%03d\n' "$h" "$2" "$3" "$h" "$2" "$3"
    fi
}
_tb_san_plan() {   # tid lun size [file]: record an LU with the SAN's ids
    local ids; ids=$(_tb_san_ids t "$1" "$2")
    _tb_lu_record "$1" "$2" "${4:-t$1l$2.img}" "$3" "${ids% *}" "${ids#* }"
}

# tb_san_up PATHS TARGETS LUNS [RATE_MBIT...]: a bed (tb_up) whose tgtd serves TARGETS targets
# (tid 1 = TB_IQN, tid t = TB_IQNS[t] = $TB_IQN.t$t) with LUNs 1..LUNS each, every LU its own
# sparse file of TB_SAN_LUN_SIZE. Sets TB_SAN_TARGETS and TB_SAN_LUNS.
tb_san_up() {
    local np=${1:-} nt=${2:-} nl=${3:-} t l
    if ! [[ "$nt" =~ ^[0-9]+$ && "$nl" =~ ^[0-9]+$ ]] || [ "$nt" -lt 1 ] || [ "$nt" -gt 255 ] ||
        [ "$nl" -lt 1 ] || [ "$nl" -gt 255 ]; then
        _tb_err "tb_san_up PATHS TARGETS(1-255) LUNS(1-255) [RATES...]"; return 1
    fi
    [ "${TB_UP:-0}" = 1 ] && { _tb_err "already up"; return 1; }
    shift 3
    _tb_lu_table_reset
    for ((t = 1; t <= nt; t++)); do
        for ((l = 1; l <= nl; l++)); do _tb_san_plan "$t" "$l" "$TB_SAN_LUN_SIZE"; done
    done
    tb_up "$np" "$@" || return 1
    for ((t = 2; t <= nt; t++)); do tb_add_target || { _tb_err "target $t"; return 1; }; done
    TB_SAN_TARGETS=$nt TB_SAN_LUNS=$nl
    _tb_log "SAN: $nt targets x $nl LUNs of $TB_SAN_LUN_SIZE"
}

# tb_shared_lu [LUN_A [LUN_B [SIZE [BS_B]]]]: one LU (one backing file, the same scsi_id and
# scsi_sn) behind two new targets: A (LUN_A, default 1) bound to path 1's initiator address,
# B (LUN_B, default 3) bound to path 2's. tgtd shows a target only to the initiator addresses
# it is bound to: SendTargets on either portal lists A to path 1's address and B to path 2's;
# a login from the other address is refused ("Target not found"). Needs 2 paths. BS_B gives
# B another logical block size than A's 512 (the same identity, a different block size: what
# an initiator must refuse).
# Sets TB_SHARED_TIDS=(A B), TB_SHARED_LUNS=(LUN_A LUN_B), TB_SHARED_IQNS=(IQN_A IQN_B).
# Call it directly, not in $(...).
tb_shared_lu() {
    local la=${1:-1} lb=${2:-3} size=${3:-$TB_SAN_LUN_SIZE} bsb=${4:-} ta tb ids
    [ "${TB_NPATHS:-0}" -ge 2 ] || { _tb_err "tb_shared_lu needs 2 paths"; return 1; }
    ta=$(( ${#TB_IQNS[@]} + 1 )); tb=$((ta + 1))
    ids=$(_tb_san_ids s "$ta" "$la")
    _tb_lu_record "$ta" "$la" "shared-t${ta}.img" "$size" "${ids% *}" "${ids#* }"
    _tb_lu_record "$tb" "$lb" "shared-t${ta}.img" "$size" "${ids% *}" "${ids#* }" "$bsb"
    TB_TGT_ACL[ta]=$(tb_hostaddr 1); TB_TGT_ACL[tb]=$(tb_hostaddr 2)
    tb_add_target "$TB_IQN.shared$ta" && tb_add_target "$TB_IQN.shared$tb" || return 1
    TB_SHARED_TIDS=("$ta" "$tb"); TB_SHARED_LUNS=("$la" "$lb")
    TB_SHARED_IQNS=("${TB_IQNS[$ta]}" "${TB_IQNS[$tb]}")
}

# tb_lun_add TID LUN [SIZE]: a new LU (its own sparse file, SAN ids) in a running target
tb_lun_add() {
    local tid=$1 lun=$2 size=${3:-$TB_SAN_LUN_SIZE}
    [ -n "${TB_IQNS[$tid]:-}" ] || { _tb_err "no target $tid"; return 1; }
    [ -z "${TB_LU_FILE[$tid:$lun]:-}" ] || { _tb_err "LU $tid:$lun exists"; return 1; }
    _tb_san_plan "$tid" "$lun" "$size"
    _tb_lu_create "$tid" "$lun" || { _tb_lu_forget "$tid" "$lun"; return 1; }
}
# tb_lun_remove TID LUN: delete the LU from the running target (and from the replayed
# config); its file goes unless another LU uses it
tb_lun_remove() {
    local tid=$1 lun=$2 f k
    f=$(tb_lu_file "$tid" "$lun") || return 1
    tb_tgtadm --op delete --mode logicalunit --tid "$tid" --lun "$lun" || return 1
    _tb_lu_forget "$tid" "$lun"
    for k in "${!TB_LU_FILE[@]}"; do [ "$(tb_lu_file "${k%%:*}" "${k#*:}")" = "$f" ] && return 0; done
    rm -f "$f"
}

# tb_inq id|luns URL (or: tb_inq ua URL FILE SECS) -> see lib/tb_inq.c. Compiled once per bed
# into TB_DIR (cc + libiscsi-dev); TB_INQ names a binary built elsewhere.
tb_inq() {
    local bin=${TB_INQ:-$TB_DIR/tb_inq}
    if [ ! -x "$bin" ]; then
        cc -std=gnu11 -O2 -Wall -o "$bin" "$TB_HERE_SAN/tb_inq.c" -liscsi ||
            { _tb_err "cannot build tb_inq (cc, libiscsi-dev)"; return 1; }
    fi
    timeout 20 "$bin" "$@"
}

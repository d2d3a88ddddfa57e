# shellcheck shell=bash
# shellcheck disable=SC2034
# Additions to the test bed (source after lib/testbed.sh):
#
#   tb_grow_lun SIZE        grow LUN 1's backing file (target stopped):
#                           tb_target_stop; tb_grow_lun 512M; tb_target_start
#   TB_TGTD_ARGS="--iscsi portal=$(tb_addr 1):3260"   extra tgtd arguments (set before
#                           tb_target_stop/start, or before tb_up once TB_NET is known)
#   tb_two_controllers_up N [RATES...]
#                           a bed whose tgtd serves path 1's portal only, then tb_ctl2_up
#   tb_ctl2_up              a second tgtd ("controller 2") in the same namespace, bound to
#                           path 2's portal only, serving the same backing file under the same
#                           target name, tid, LUN, scsi_id and scsi_sn: the two controllers of
#                           one array. Its LUN (and controller 1's) is removable=1 so that
#                           online=0 answers NOT READY.
#   tb_ctl_tgtadm C ARGS... tgtadm on controller C (1 or 2)
#   tb_lu_offline C / tb_lu_online C    the LU offline / online on controller C only
#   tb_ctl2_down            stop controller 2 (tb_down's namespace sweep also ends it)


# tb_grow_lun SIZE: truncate LUN 1's backing file to SIZE (only growing; the target must be
# stopped so that the restarted tgtd reads the new size)
tb_grow_lun() {
	local size=$1 f="$TB_DIR/lun1.img" old new
	if _tb_tgtd_pid >/dev/null; then _tb_err "tb_grow_lun: stop the target first"; return 1; fi
	[ -e "$f" ] || { _tb_err "tb_grow_lun: no $f"; return 1; }
	old=$(stat -c %s "$f")
	truncate -s "$size" "$f" || return 1
	new=$(stat -c %s "$f")
	[ "$new" -ge "$old" ] || { truncate -s "$old" "$f"; _tb_err "tb_grow_lun: $size is smaller"; return 1; }
	_tb_log "LUN 1 grown $old -> $new bytes"
}

TB_CTL2=
TB_CTL2_PID=

tb_ctl_tgtadm() {
	local c=$1; shift
	if [ "$c" = 2 ]; then timeout 10 tgtadm -C "$TB_CTL2" "$@"; else tb_tgtadm "$@"; fi
}

# tb_two_controllers_up NPATHS [RATES...]: tb_up with tgtd on path 1's portal only, then the
# second controller on path 2's portal. Controller 1's LUN is made removable=1 as well.
tb_two_controllers_up() {
	local s
	# TB_NET is known only inside tb_up: bind after the fact by restarting tgtd once
	tb_up "$@" || return 1
	TB_TGTD_ARGS="--iscsi portal=$(tb_addr 1):$TB_PORT"
	tb_target_stop
	# not tb_target_start: it waits for 127.0.0.1:3260, which a portal-bound tgtd does not serve
	{ _tb_tgtd_launch && _tb_configure_all && tb_wait_portal "$(tb_portal 1)" 5; } ||
		{ _tb_err "controller 1 restart"; return 1; }
	tb_ctl_tgtadm 1 --op update --mode logicalunit --tid 1 --lun 1 --params removable=1 || return 1
	tb_ctl2_up || return 1
	# controller 1 must no longer answer on path 2's portal and vice versa
	s=$(tb_nsexec ss -Hltnp "sport = :$TB_PORT" 2>/dev/null)
	_tb_log "listeners: $s"
	return 0
}

tb_ctl2_up() {
	local i
	TB_CTL2=$((TB_CTL + 1000))
	mkdir -p /var/run/tgtd
	ip netns exec "$TB_NS" tgtd -f -C "$TB_CTL2" --iscsi portal="$(tb_addr 2):$TB_PORT" \
		>>"$TB_DIR/tgtd2.log" 2>&1 </dev/null &
	TB_CTL2_PID=$!
	disown "$TB_CTL2_PID" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		timeout 2 tgtadm -C "$TB_CTL2" --op show --mode target >/dev/null 2>&1 && break
		kill -0 "$TB_CTL2_PID" 2>/dev/null || { _tb_err "controller 2 died: $(tail -2 "$TB_DIR/tgtd2.log")"; return 1; }
		sleep 0.1
	done
	# the same LU: tid 1, same IQN, same file, same scsi_id/scsi_sn (and params, CHAP)
	TB_CTL=$TB_CTL2 _tb_make_target 1 || { _tb_err "controller 2: target"; return 1; }
	tb_ctl_tgtadm 2 --op update --mode logicalunit --tid 1 --lun 1 --params removable=1 || return 1
	tb_wait_portal "$(tb_portal 2)" 5 || { _tb_err "controller 2 does not listen on $(tb_portal 2)"; return 1; }
}

tb_ctl2_down() {
	local i
	[ -n "${TB_CTL2:-}" ] || return 0
	if [ -n "${TB_CTL2_PID:-}" ] && kill -0 "$TB_CTL2_PID" 2>/dev/null; then
		timeout 5 tgtadm -C "$TB_CTL2" --op delete --mode system --force >/dev/null 2>&1
		for ((i = 0; i < 30; i++)); do kill -0 "$TB_CTL2_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$TB_CTL2_PID" 2>/dev/null
	fi
	rm -f "/var/run/tgtd/socket.$TB_CTL2" "/var/run/tgtd/socket.$TB_CTL2.lock"
	TB_CTL2_PID=
	return 0
}

tb_lu_offline() { tb_ctl_tgtadm "$1" --op update --mode logicalunit --tid 1 --lun 1 --params online=0; }
tb_lu_online()  { tb_ctl_tgtadm "$1" --op update --mode logicalunit --tid 1 --lun 1 --params online=1; }

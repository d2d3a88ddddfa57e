#!/bin/bash
# shellcheck disable=SC2154,SC2317  # RELAY_* are set by relay_start (printf -v); clean-up runs from traps
# Data safety on real components (DESIGN "Failover and data safety"): a write
# that a path held back must never land after newer data; every state ends;
# identity and capacity changes are handled. tgtd in a namespace, real TCP
# paths, a holding relay on a path (lib/relay.py), qemu-io 4 KiB writes (they
# fit in iSCSI immediate data, so a held one can land late), fio, ext4 on
# nbdfuse + loop. One PASS/FAIL line per case, named as below; the evidence
# and timings are the indented notes printed before it.
#
#   SAFETY_ONLY="ghost held stale restart second sigterm ext4 grown offline"
#   runs a subset (default: all, in this order).
set -u
cd "$(dirname "$0")/../.." || exit 1
export TB_ID=${TB_ID:-s$$}
TB_ID=${TB_ID:0:7}
source tests/integration/lib/testbed.sh
source tests/integration/lib/testbed_extra.sh
source tests/integration/lib/lbfo.sh
source tests/integration/lib/relay.sh

ONLY=${SAFETY_ONLY:-ghost held stale restart second sigterm ext4 grown offline}
want() { [[ " $ONLY " == *" $1 "* ]]; }

INITIATOR=iqn.2026-12.io.lbfo:safety
CTL_SOCK=$LBFO_TMP/ctl.sock
BG_PIDS=()          # background clients and second instances started here
EXT4_DIR=           # set while the ext4 case has things mounted
EXT4_LOOP=
EXT4_FUSE_PID=

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
since() { echo $(( $(now_ms) - $1 )); }

ext4_teardown() {
	[ -n "$EXT4_DIR" ] || return 0
	if mountpoint -q "$EXT4_DIR/fs" 2>/dev/null; then
		timeout 60 umount "$EXT4_DIR/fs" 2>/dev/null || umount -l "$EXT4_DIR/fs" 2>/dev/null
	fi
	[ -n "$EXT4_LOOP" ] && { timeout 30 losetup -d "$EXT4_LOOP" 2>/dev/null; EXT4_LOOP=; }
	if mountpoint -q "$EXT4_DIR/mnt" 2>/dev/null; then
		timeout 30 fusermount3 -u "$EXT4_DIR/mnt" 2>/dev/null || fusermount3 -uz "$EXT4_DIR/mnt" 2>/dev/null
	fi
	if [ -n "$EXT4_FUSE_PID" ]; then
		kill "$EXT4_FUSE_PID" 2>/dev/null
		local i; for ((i = 0; i < 30; i++)); do kill -0 "$EXT4_FUSE_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$EXT4_FUSE_PID" 2>/dev/null
		EXT4_FUSE_PID=
	fi
	return 0
}

safety_cleanup() {
	ext4_teardown
	local p
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	BG_PIDS=()
	relay_stop_all
	lbfo_stop
	tb_ctl2_down
}
trap 'safety_cleanup; lbfo_cleanup' EXIT

# ---------------------------------------------------------------- helpers
# qio TIMEOUT_S qemu-io-args...: qemu-io on the export; QIO_OUT, QIO_RC, QIO_MS
qio() {
	local to=$1 t0; shift
	t0=$(now_ms)
	QIO_OUT=$(timeout "$to" qemu-io -f raw "$@" "$(lbfo_uri)" 2>&1)
	QIO_RC=$?
	QIO_MS=$(since "$t0")
}
# qwrite PATTERN [TIMEOUT_S]: 4 KiB of PATTERN at 0; 0 when qemu-io wrote it all
qwrite() {
	qio "${2:-60}" -c "write -P $1 0 4k"
	[ "$QIO_RC" = 0 ] && grep -q '^wrote 4096/4096 bytes at offset 0' <<<"$QIO_OUT"
}
# readback [TIMEOUT_S]: READ_BACK = 0xNN when the 4 KiB at 0 are all NN, else a summary
readback() {
	qio "${1:-60}" -c "read -v 0 4k"
	if [ "$QIO_RC" != 0 ] || ! grep -q '^read 4096/4096 bytes' <<<"$QIO_OUT"; then
		READ_BACK="read error (rc $QIO_RC): $(grep -v '^[0-9a-f]\{8\}:' <<<"$QIO_OUT" | head -2 | tr '\n' ' ')"
		return 1
	fi
	READ_BACK=$(awk '/^[0-9a-f]+: / { for (i = 2; i <= 17; i++) c[$i]++ }
		END { n = 0; for (b in c) { n++; s = s sprintf(" 0x%s x%d", b, c[b]) }
		      if (n == 1) { for (b in c) printf "0x%s", b } else printf "mixed:%s", s }' <<<"$QIO_OUT")
}
# case_begin NAME / verdict OK: the case's PASS/FAIL line, after a note of how long it took
case_begin() { name=$1; CASE_T0=$(now_ms); }
verdict() {
	note "case took $(( $(since "$CASE_T0") / 1000 )) s"
	if [ "$1" = 1 ]; then pass "$name"; else fail "$name"; fi
}
# read_expect WANT: reads back; clears ok unless all 4 KiB are WANT
read_expect() {
	readback 60
	note "read back $READ_BACK (want $1) in $QIO_MS ms"
	[ "$READ_BACK" = "$1" ] || ok=0
}
logtail() { grep 'lbfo:' "$LBFO_LOG" 2>/dev/null | tail -"${1:-4}" | sed 's/^/    log: /'; }

# wait_log REGEX TIMEOUT_S: until the nbdkit log has a matching line
wait_log() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -qE "$1" "$LBFO_LOG" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start lbfo with this test's fixed initiator name and a private control socket
safety_start() {
	lbfo_start initiator="$INITIATOR" control="$CTL_SOCK" "$@"
}

# relay_held NAME: the most initiator->target bytes the relay holds on one connection
# (>= 4096: a 4 KiB write is among them; NOPs are 48 bytes, a login about 460)
relay_held() { relay_cmd "$1" stats | grep -o 'held_c2t=[0-9]*' | awk -F= '$2 > m {m = $2} END {print m + 0}'; }

# put the bed back between cases: no lbfo, no relay, every link up, no blackhole
bed_reset() {
	local p n
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	BG_PIDS=()
	lbfo_stop
	relay_stop_all
	for ((n = 1; n <= TB_NPATHS; n++)); do
		tb_unblackhole "$n"
		ip link show "$(tb_hostdev "$n")" 2>/dev/null | grep -q '[<,]UP[,>]' || tb_link_up "$n"
	done
}

# ---------------------------------------------------------------- the bed
tb_up 2 || { fail "safety: test bed up"; exit 1; }
# our clean-up first (it may need the paths to flush), then the bed's
trap 'safety_cleanup; tb_down; lbfo_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
P1=$(tb_portal 1) P2=$(tb_portal 2)
FAST=(nop_interval=200 nop_timeout=600)
note "bed $TB_ID: $P1 $P2 $TB_IQN, initiator $INITIATOR"

# ---------------------------------------------------------------- ghost write
# A write caught on a path that goes silent is retried on the other path; a
# newer write follows; when the blackhole heals, the initiator's TCP stack must
# not deliver the old write (abortive close + a real fence). The kernel
# retransmits the write of a closed socket 0.2, 0.6, 1.4, 3.0 s after sending
# it, until the TCP user timeout (lbfo: 2 x nop_timeout) ends the socket: the
# ghost lands only if a retransmission falls between the heal (just after
# nop_timeout) and the user timeout. nop_timeout 800 and 1000 put the 1.4 s one
# there (600 does not: 1.4 s is past its 1.2 s user timeout); both rounds run.
if want ghost; then
	case_begin "safety: ghost write under a silent blackhole"
	ok=1
	for nt in 800 1000; do
		safety_start portal="$P1" portal="$P2" target="$TB_IQN" lun=1 policy=failover \
			nop_interval=200 nop_timeout=$nt || note "nbdkit start: $(tail -3 "$LBFO_LOG")"
		qwrite 0x11; note "nop_timeout=$nt: write 0x11 rc=$QIO_RC ${QIO_MS} ms"
		tb_blackhole 1
		qwrite 0xAA || ok=0; note "nop_timeout=$nt: write 0xAA (path 1 blackholed): rc=$QIO_RC in ${QIO_MS} ms"
		qwrite 0xBB || ok=0; note "nop_timeout=$nt: write 0xBB: rc=$QIO_RC in ${QIO_MS} ms"
		tb_unblackhole 1
		sleep 5
		logtail 3
		readback 60
		note "nop_timeout=$nt: read back $READ_BACK (want 0xbb) in $QIO_MS ms"
		[ "$READ_BACK" = 0xbb ] || ok=0
		bed_reset
	done
	verdict "$ok"
fi

# ---------------------------------------------------------------- held write
# Path 1's write is held in the network (relay), lbfo fails the path by its
# NOP timeout, fences, retries on path 2; a newer write follows; then the old
# write arrives at the target on its original connection.
if want held; then
	case_begin "safety: held write released after the fence"
	ok=1
	relay_start p1 "$P1" || { ok=0; note "the relay did not start"; }
	safety_start portal="127.0.0.1:$RELAY_PORT_p1" portal="$P2" target="$TB_IQN" lun=1 \
		policy=failover "${FAST[@]}" || note "nbdkit start: $(tail -3 "$LBFO_LOG")"
	qwrite 0x11; note "write 0x11 rc=$QIO_RC ${QIO_MS} ms"
	note "relay: $(relay_cmd p1 hold)"
	qwrite 0xAA || ok=0; note "write 0xAA (path 1 held): rc=$QIO_RC in ${QIO_MS} ms"
	qwrite 0xBB || ok=0; note "write 0xBB: rc=$QIO_RC in ${QIO_MS} ms"
	wait_log 'path p0 .* failed' 30 || note "no 'path p0 ... failed' in the log within 30 s"
	sleep 0.8
	held=$(relay_held p1)
	[ "$held" -ge 4096 ] || { ok=0; note "the relay held only $held bytes: the 0xAA write was not caught on path 1"; }
	note "relay held $held bytes; $(relay_cmd p1 release)"
	sleep 2
	logtail 5
	read_expect 0xbb
	verdict "$ok"
	bed_reset
fi

# ---------------------------------------------------------------- stale write after give-up
# The only path holds a write; no_path_timeout fails it to the client with EIO.
# The write still owes a fence: a newer write may go out only after it.
if want stale; then
	case_begin "safety: stale write after give-up"
	ok=1
	relay_start p1 "$P1" || { ok=0; note "the relay did not start"; }
	safety_start portal="127.0.0.1:$RELAY_PORT_p1" portal="$P2" target="$TB_IQN" lun=1 \
		policy=failover no_path_timeout=2000 "${FAST[@]}" || note "nbdkit start: $(tail -3 "$LBFO_LOG")"
	qwrite 0x11; note "write 0x11 rc=$QIO_RC ${QIO_MS} ms"
	tb_link_down 2
	lbfo_wait_status '.lus[0].paths[1].state != "active"' 10 || note "p1 still active after link down"
	note "relay: $(relay_cmd p1 hold)"
	if qwrite 0xAA 60; then
		ok=0; note "write 0xAA succeeded in ${QIO_MS} ms (want EIO)"
	elif grep -qi 'input/output error' <<<"$QIO_OUT" && [ "$QIO_MS" -le 20000 ]; then
		note "write 0xAA failed with EIO after ${QIO_MS} ms (no_path_timeout 2000)"
	else
		ok=0; note "write 0xAA: rc=$QIO_RC after ${QIO_MS} ms, want EIO within 20 s: $(head -2 <<<"$QIO_OUT" | tr '\n' ' ')"
	fi
	tb_link_up 2
	if lbfo_wait_status '.lus[0].paths[1].state == "active"' 30; then
		note "path p1 active again"
	else
		note "path p1 not active within 30 s: $(lbfo_status '.lus[0].paths[1] | {state, session, last_error}' | tr -d '\n ')"
	fi
	if qwrite 0xBB 45 && [ "$QIO_MS" -le 30000 ]; then
		note "write 0xBB: ok in ${QIO_MS} ms"
	else
		ok=0; note "write 0xBB: rc=$QIO_RC in ${QIO_MS} ms (want success within 30 s): $(head -2 <<<"$QIO_OUT" | tr '\n' ' ')"
	fi
	held=$(relay_held p1)
	[ "$held" -ge 4096 ] || { ok=0; note "the relay held only $held bytes: the 0xAA write was not caught on path 1"; }
	note "relay held $held bytes; $(relay_cmd p1 release)"
	sleep 2
	logtail 6
	read_expect 0xbb
	verdict "$ok"
	bed_reset
fi

# ---------------------------------------------------------------- restarted lbfo
# lbfo dies (kill -9) with a write held on path 1; a new lbfo under the same
# initiator name must fence what its predecessor left before writing.
if want restart; then
	case_begin "safety: restarted lbfo fences its predecessor"
	ok=1
	relay_start p1 "$P1" || { ok=0; note "the relay did not start"; }
	# a NOP timeout long enough that the held write stays on path 1 until the kill
	ARGS=(portal="127.0.0.1:$RELAY_PORT_p1" portal="$P2" target="$TB_IQN" lun=1 policy=failover
		nop_interval=1000 nop_timeout=5000)
	safety_start "${ARGS[@]}" || note "nbdkit start: $(tail -3 "$LBFO_LOG")"
	qwrite 0x11; note "write 0x11 rc=$QIO_RC ${QIO_MS} ms"
	note "relay: $(relay_cmd p1 hold)"
	timeout 120 qemu-io -f raw -c 'write -P 0xAA 0 4k' "$(lbfo_uri)" >"$LBFO_TMP/restart-aa.out" 2>&1 &
	BG_PIDS+=($!)
	held=0
	for ((i = 0; i < 50; i++)); do
		held=$(relay_held p1); [ "$held" -ge 4096 ] && break; sleep 0.1
	done
	note "relay holds $held bytes (the 0xAA write on path 1); kill -9 nbdkit"
	[ "$held" -ge 4096 ] || { ok=0; note "the 0xAA write was not caught on path 1"; }
	kill -9 "$LBFO_PID"; wait "$LBFO_PID" 2>/dev/null; LBFO_PID=
	cp "$LBFO_LOG" "$LBFO_TMP/restart-first.log"
	t0=$(now_ms)
	LBFO_WANT_UP=1 safety_start "${ARGS[@]}" || note "second nbdkit start: $(tail -3 "$LBFO_LOG")"
	note "new nbdkit up (1 path) after $(since "$t0") ms"
	if qwrite 0xBB 60; then note "write 0xBB on the new instance: ok in ${QIO_MS} ms"
	else ok=0; note "write 0xBB: rc=$QIO_RC in ${QIO_MS} ms: $(head -2 <<<"$QIO_OUT" | tr '\n' ' ')"; fi
	note "relay: $(relay_cmd p1 release)"
	sleep 2
	logtail 5
	read_expect 0xbb
	verdict "$ok"
	bed_reset
fi

# ---------------------------------------------------------------- second instance
if want second; then
	case_begin "safety: second live instance on the same LU refused"
	safety_start portal="$P1" portal="$P2" target="$TB_IQN" lun=1 || note "nbdkit A start: $(tail -3 "$LBFO_LOG")"
	qwrite 0x5C; note "A: write 0x5c rc=$QIO_RC"
	afail0=$(lbfo_status '[.lus[0].paths[].failures] | add')
	t0=$(now_ms)
	timeout 30 nbdkit -f -U "$LBFO_TMP/b.sock" "$LBFO_PLUGIN" status_file="$LBFO_TMP/b.json" \
		initiator="$INITIATOR" control="$LBFO_TMP/ctl-b.sock" \
		portal="$P1" portal="$P2" target="$TB_IQN" lun=1 >"$LBFO_TMP/b.log" 2>&1 &
	bpid=$!
	BG_PIDS+=("$bpid")
	# A serves while B lives (or right after B was refused)
	sleep 5
	readback 20; a_during=$READ_BACK
	for ((i = 0; i < 400; i++)); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
	wait "$bpid"; brc=$?
	bms=$(since "$t0")
	readback 30; a_after=$READ_BACK
	note "B exited $brc after ${bms} ms (124 = still serving when timeout 30 ended it): $(grep -E 'lbfo|error' "$LBFO_TMP/b.log" | tail -2 | tr '\n' ' ')"
	note "A read back $a_during while B ran, $a_after after; A's path failures $afail0 -> $(lbfo_status '[.lus[0].paths[].failures] | add')"
	ok=0
	[ "$brc" != 0 ] && [ "$brc" != 124 ] && [ "$bms" -le 30000 ] && grep -q 'already served' "$LBFO_TMP/b.log" &&
		[ "$a_during" = 0x5c ] && [ "$a_after" = 0x5c ] && ok=1
	verdict "$ok"
	bed_reset
fi

# ---------------------------------------------------------------- SIGTERM
# every state ends: nbdkit exits within 5 s of SIGTERM with a write waiting for a path
sigterm_variant() {   # label fault-commands heal-commands lbfo-args...
	local label=$1 fault=$2 heal=$3 t0 ms i qpid
	shift 3
	safety_start portal="$P1" portal="$P2" target="$TB_IQN" lun=1 "$@" || note "$label: nbdkit start: $(tail -3 "$LBFO_LOG")"
	eval "$fault"
	timeout 120 qemu-io -f raw -c 'write -P 0x77 0 4k' "$(lbfo_uri)" >"$LBFO_TMP/sigterm.out" 2>&1 &
	qpid=$!
	BG_PIDS+=("$qpid")
	sleep 2
	t0=$(now_ms)
	kill -TERM "$LBFO_PID"
	for ((i = 0; i < 300; i++)); do kill -0 "$LBFO_PID" 2>/dev/null || break; sleep 0.1; done
	ms=$(since "$t0")
	if kill -0 "$LBFO_PID" 2>/dev/null; then
		note "$label: nbdkit still running 30 s after SIGTERM: killed"
		kill -9 "$LBFO_PID"; ms=">30000"
	fi
	wait "$LBFO_PID" 2>/dev/null; LBFO_PID=
	eval "$heal"
	note "$label: nbdkit exited ${ms} ms after SIGTERM (want <= 5000); the waiting write: $(grep -m1 -iE 'wrote|failed|error' "$LBFO_TMP/sigterm.out")"
	[ "$ms" != ">30000" ] && [ "$ms" -le 5000 ]
}
if want sigterm; then
	case_begin "safety: SIGTERM with all paths down exits within 5 s"
	ok=1
	sigterm_variant "blackholes" "tb_blackhole 1; tb_blackhole 2" "tb_unblackhole 1; tb_unblackhole 2" || ok=0
	bed_reset
	sigterm_variant "links down" "tb_link_down 1; tb_link_down 2" "tb_link_up 1; tb_link_up 2" || ok=0
	bed_reset
	sigterm_variant "blackholes, no_path_timeout=60000" "tb_blackhole 1; tb_blackhole 2" \
		"tb_unblackhole 1; tb_unblackhole 2" no_path_timeout=60000 || ok=0
	bed_reset
	verdict "$ok"
fi

# ---------------------------------------------------------------- ext4
if want ext4; then
	case_begin "safety: ext4 survives link flaps and a blackhole"
	EXT4_DIR=$LBFO_TMP/ext4
	mkdir -p "$EXT4_DIR/mnt" "$EXT4_DIR/fs" "$EXT4_DIR/src"
	ok=1
	safety_start portal="$P1" portal="$P2" target="$TB_IQN" lun=1 || { ok=0; note "nbdkit start: $(tail -3 "$LBFO_LOG")"; }
	ext4_attach() {   # nbdfuse + loop device: EXT4_LOOP
		nbdfuse "$EXT4_DIR/mnt" "$(lbfo_uri)" >>"$EXT4_DIR/nbdfuse.log" 2>&1 &
		EXT4_FUSE_PID=$!
		local i
		for ((i = 0; i < 100; i++)); do [ -e "$EXT4_DIR/mnt/nbd" ] && break; sleep 0.1; done
		[ -e "$EXT4_DIR/mnt/nbd" ] || { note "nbdfuse: no $EXT4_DIR/mnt/nbd: $(tail -2 "$EXT4_DIR/nbdfuse.log")"; return 1; }
		EXT4_LOOP=$(losetup -f --show "$EXT4_DIR/mnt/nbd") || { note "losetup failed"; return 1; }
	}
	ext4_detach() {
		if mountpoint -q "$EXT4_DIR/fs"; then timeout 120 umount "$EXT4_DIR/fs" || { note "umount failed"; return 1; }; fi
		timeout 30 losetup -d "$EXT4_LOOP"; EXT4_LOOP=
		timeout 30 fusermount3 -u "$EXT4_DIR/mnt"
		local i; for ((i = 0; i < 50; i++)); do kill -0 "$EXT4_FUSE_PID" 2>/dev/null || break; sleep 0.1; done
		kill "$EXT4_FUSE_PID" 2>/dev/null; wait "$EXT4_FUSE_PID" 2>/dev/null; EXT4_FUSE_PID=
	}
	if [ "$ok" = 1 ] && ext4_attach && timeout 120 mkfs.ext4 -q -F "$EXT4_LOOP" &&
	   timeout 30 mount "$EXT4_LOOP" "$EXT4_DIR/fs"; then
		note "ext4 on $EXT4_LOOP (nbdfuse $EXT4_DIR/mnt/nbd)"
		( sleep 1; tb_link_down 1; sleep 2; tb_link_up 1; sleep 2; tb_link_down 1; sleep 2; tb_link_up 1
		  sleep 2; tb_blackhole 2; sleep 3; tb_unblackhole 2 ) &
		fpid=$!
		BG_PIDS+=("$fpid")
		t0=$(now_ms)
		nfiles=0
		for ((i = 1; i <= 40; i++)); do
			sz=$(( (RANDOM * 32768 + RANDOM) % (4096 - 64 + 1) + 64 ))   # KiB, 64 KiB .. 4 MiB
			head -c "${sz}K" /dev/urandom >"$EXT4_DIR/src/f$i" || break
			timeout 120 cp "$EXT4_DIR/src/f$i" "$EXT4_DIR/fs/f$i" || { note "cp f$i failed"; ok=0; break; }
			(( i % 4 == 0 )) && { timeout 120 sync -f "$EXT4_DIR/fs/f$i" || { note "sync failed"; ok=0; break; }; }
			nfiles=$i
			[ "$(since "$t0")" -gt 240000 ] && break
		done
		wait "$fpid"
		( cd "$EXT4_DIR/src" && sha256sum f* ) >"$EXT4_DIR/sums"
		timeout 120 sync || { note "sync timed out"; ok=0; }
		wms=$(since "$t0")
		note "$nfiles files, $(du -sk "$EXT4_DIR/src" | cut -f1) KiB written in ${wms} ms while path 1 flapped twice and path 2 was blackholed 3 s"
		note "lbfo: io_errors=$(lbfo_status '.lus[0].io_errors') failovers=$(lbfo_status '.lus[0].failovers') fences=$(lbfo_status '.lus[0].fences')"
		dmesg_loop=$(dmesg 2>/dev/null | grep -c "I/O error, dev ${EXT4_LOOP#/dev/}" )
		# a fresh FUSE mount and loop device: nothing is read from a cache
		ext4_detach || ok=0
		if ext4_attach; then
			fsck_out=$(timeout 300 e2fsck -fn "$EXT4_LOOP" 2>&1); fsck_rc=$?
			note "e2fsck -fn: exit $fsck_rc $(tail -1 <<<"$fsck_out")"
			[ "$fsck_rc" = 0 ] || { ok=0; note "e2fsck: $(head -5 <<<"$fsck_out" | tr '\n' ' ')"; }
			if timeout 30 mount -o ro "$EXT4_LOOP" "$EXT4_DIR/fs"; then
				bad=$( (cd "$EXT4_DIR/fs" && timeout 300 sha256sum -c --quiet "$EXT4_DIR/sums" 2>&1) | grep -c 'FAILED')
				note "checksums: $bad of $nfiles differ"
				[ "$bad" = 0 ] || ok=0
			else
				ok=0; note "mount again failed"
			fi
		else
			ok=0
		fi
		[ "${dmesg_loop:-0}" = 0 ] || note "dmesg: $dmesg_loop I/O errors on ${EXT4_LOOP}"
	else
		ok=0; note "ext4 set-up failed"
	fi
	ext4_teardown
	EXT4_DIR=
	logtail 4
	verdict "$ok"
	bed_reset
fi

# ---------------------------------------------------------------- grown LU
if want grown; then
	case_begin "safety: grown LU keeps serving its exported size until lbfoctl resize"
	safety_start portal="$P1" portal="$P2" target="$TB_IQN" lun=1 || note "nbdkit start: $(tail -3 "$LBFO_LOG")"
	ok=1
	qwrite 0x3C; note "write 0x3c rc=$QIO_RC"
	size0=$(timeout 30 nbdinfo --size "$(lbfo_uri)")
	blocks0=$(lbfo_status '.lus[0].blocks')
	bs=$(lbfo_status '.lus[0].block_size')
	old=$(stat -c %s "$TB_DIR/lun1.img")
	tb_target_stop
	tb_grow_lun $((old * 2)) || ok=0
	tb_target_start || { ok=0; note "target restart failed"; }
	t0=$(now_ms)
	readback 45
	if [ "$READ_BACK" = 0x3c ] && [ "$QIO_MS" -le 30000 ]; then
		note "read back 0x3c ${QIO_MS} ms after the grown target came back"
	else
		ok=0; note "read after the resize: $READ_BACK after ${QIO_MS} ms (want 0x3c within 30 s)"
	fi
	size1=$(timeout 30 nbdinfo --size "$(lbfo_uri)")
	sleep 0.5
	blocks1=$(lbfo_status '.lus[0].blocks')
	tblocks=$(lbfo_status '.lus[0].target_blocks')
	want_t=$(( old * 2 / ${bs:-512} ))
	note "export size $size0 -> $size1; status blocks $blocks0 -> $blocks1, target_blocks $tblocks (want $want_t)"
	[ -n "$size0" ] && [ "$size0" = "$size1" ] || ok=0
	[ -n "$blocks0" ] && [ "$blocks0" = "$blocks1" ] || ok=0
	[ "$tblocks" = "$want_t" ] || ok=0
	if grep -q 'capacity changed' "$LBFO_LOG"; then note "log: $(grep -m1 'capacity changed' "$LBFO_LOG")"
	else ok=0; note "no 'capacity changed' in the log"; fi
	# the operator's step (multipathd resize map): the next connection sees the new size,
	# a write in the grown part lands, the old data stays
	said=$(timeout 10 build/src/ctl/lbfoctl -s "$CTL_SOCK" resize 2>&1)
	note "lbfoctl resize: $said"
	size2=$(timeout 30 nbdinfo --size "$(lbfo_uri)")
	note "export size after the resize: $size2 (want $((old * 2)))"
	[ "$size2" = $((old * 2)) ] || ok=0
	qio 30 -c "write -P 0x5d $old 4k" -c "read -P 0x5d $old 4k" -c "read -P 0x3c 0 4k"
	if [ "$QIO_RC" = 0 ] && ! grep -qi 'fail\|error\|mismatch' <<<"$QIO_OUT"; then
		note "wrote and read back 4 KiB at $old (the grown part); 0x3c still at 0"
	else
		ok=0; note "after the resize: $(head -3 <<<"$QIO_OUT" | tr '\n' ' ')"
	fi
	logtail 4
	verdict "$ok"
	bed_reset
fi

# ---------------------------------------------------------------- LU offline on one controller
if want offline; then
	case_begin "safety: LU offline on one controller fails over without a client error"
	lbfo_stop; relay_stop_all
	tb_down
	ok=1
	if tb_two_controllers_up 2 100 100; then
		# tb_up put the bed's trap back in front: ours first again
		trap 'safety_cleanup; tb_down; lbfo_cleanup' EXIT
		note "controller 1 on $(tb_portal 1) (-C $TB_CTL), controller 2 on $(tb_portal 2) (-C $TB_CTL2)"
		safety_start portal="$(tb_portal 1)" portal="$(tb_portal 2)" target="$TB_IQN" lun=1 \
			policy=round-robin || { ok=0; note "nbdkit start: $(tail -3 "$LBFO_LOG")"; }
		out=$LBFO_TMP/fio-offline.json
		( sleep 1; tb_lu_offline 1 ) &
		fpid=$!
		BG_PIDS+=("$fpid")
		t0=$(now_ms)
		lbfo_fio "$out" --rw=randwrite --bs=64k --iodepth=16 --size=64M --verify=crc32c --verify_fatal=1
		frc=$?
		wait "$fpid"
		fms=$(since "$t0")
		ferr=$(fio_field "$out" .error 2>/dev/null)
		note "fio rc=$frc error=$ferr in ${fms} ms; longest write $(fio_field "$out" '.write.clat_ns.max / 1e6 | floor' 2>/dev/null) ms; lbfo io_errors=$(lbfo_status '.lus[0].io_errors')"
		[ "$frc" = 0 ] && [ "$ferr" = 0 ] || ok=0
		lbfo_wait_status '.lus[0].paths[0].state != "active" and (.lus[0].paths[0].last_error | test("not ready"; "i"))' 10 || ok=0
		st=$(lbfo_status '.lus[0].paths[0].state'); le=$(lbfo_status '.lus[0].paths[0].last_error')
		note "while offline on controller 1 ($(tb_ctl_tgtadm 1 --op show --mode target | grep -m2 'Online:' | tail -1 | tr -s ' ')): p0 state=$st last_error='$le' retries=$(lbfo_status '.lus[0].paths[0].retries') errors=$(lbfo_status '.lus[0].paths[0].errors')"
		tb_lu_online 1
		t0=$(now_ms)
		if lbfo_wait_status '.lus[0].paths[0].state == "active"' 30; then
			note "p0 active again $(since "$t0") ms after online=1"
		else
			ok=0; note "p0 not active within 30 s of online=1: $(lbfo_status '.lus[0].paths[0].state')"
		fi
	else
		ok=0; note "two-controller bed did not come up"
	fi
	logtail 5
	verdict "$ok"
	bed_reset
	tb_ctl2_down
fi

exit "$LBFO_FAILED"

#!/bin/bash
# lbfo as a service: `meson install --destdir` into a temporary directory
# puts the plugin where nbdkit looks for plugins by name, lbfoctl, the man
# pages (rendered without a warning), a unit systemd-analyze accepts and
# only an example config. Then the staged unit's own command line runs
# against the test bed, with `lbfo` by name (nbdkit's plugin directory
# replaced by the staged one in a private mount namespace: nothing is
# installed on this machine) and NOTIFY_SOCKET on a datagram socket of
# this test: READY=1 comes from nbdkit's PID once both paths are up, the
# export answers at once, and STOPPING=1 comes at SIGTERM.
set -u
cd "$(dirname "$0")/../.."
export TB_ID=${TB_ID:-i$$}
TB_ID=${TB_ID:0:7}
source tests/integration/lib/testbed.sh
source tests/integration/lib/lbfo.sh
LISTENER=
cleanup() {
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null && wait "$LISTENER" 2>/dev/null
	lbfo_cleanup
}
trap 'cleanup' EXIT

STAGE=$LBFO_TMP/stage
opt() { meson introspect build --buildoptions | jq -r ".[] | select(.name == \"$1\") | .value"; }
PREFIX=$(opt prefix)
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PREFIX/$1" ;; esac; }
BINDIR=$(abs "$(opt bindir)") MANDIR=$(abs "$(opt mandir)") ETCDIR=$(abs "$(opt sysconfdir)")
PLUGINDIR=$(pkg-config --variable=plugindir nbdkit)

if ! out=$(meson install -C build --destdir "$STAGE" --quiet 2>&1); then
	fail "install: meson install --destdir: $(tail -3 <<<"$out")"
	exit 1
fi

# The plugin: in nbdkit.pc's plugindir, which is the directory nbdkit
# itself searches (its compiled-in one), and nowhere else.
SO=$STAGE$PLUGINDIR/nbdkit-lbfo-plugin.so
nbdkit_dir=$(nbdkit --dump-config | sed -n 's/^plugindir=//p')
found=$(find "$STAGE" -name 'nbdkit-lbfo-plugin.so' | sed "s|^$STAGE||")
if [ -f "$SO" ] && [ "$found" = "$PLUGINDIR/nbdkit-lbfo-plugin.so" ] && [ "$PLUGINDIR" = "$nbdkit_dir" ]; then
	pass "install: plugin at $found (nbdkit.pc's plugindir = nbdkit --dump-config's)"
else
	fail "install: plugin at '$found', nbdkit.pc plugindir $PLUGINDIR, nbdkit's $nbdkit_dir"
fi
out=$(timeout 20 nbdkit --dump-plugin "$SO" 2>&1)
check "install: nbdkit --dump-plugin loads the staged plugin by path" grep -qx 'name=lbfo' <<<"$out"
# By name: nbdkit resolves `lbfo` only in its own plugin directory. A
# private mount namespace puts the staged directory there for one command.
# "${BYNAME[@]}" COMMAND...: COMMAND in the same process (exec all the way).
BYNAME=(unshare --mount --propagation private -- sh -c
	'mount --bind "$0" "$1" && shift && exec "$@"' "$STAGE$PLUGINDIR" "$PLUGINDIR")
out=$(timeout 20 "${BYNAME[@]}" nbdkit --dump-plugin lbfo 2>&1)
if grep -qx 'name=lbfo' <<<"$out" && grep -qx "path=$PLUGINDIR/nbdkit-lbfo-plugin.so" <<<"$out"; then
	pass "install: 'nbdkit --dump-plugin lbfo' finds the installed plugin by name"
else
	fail "install: nbdkit lbfo by name: $(head -3 <<<"$out")"
fi

# lbfoctl.
if [ -x "$STAGE$BINDIR/lbfoctl" ] && "$STAGE$BINDIR/lbfoctl" --help | head -1 | grep -q '^usage: lbfoctl '; then
	pass "install: $BINDIR/lbfoctl runs"
else
	fail "install: no working lbfoctl in $BINDIR"
fi

# Man pages: both there, rendered by man without a warning; the plugin's
# lists every key of its --help.
for page in lbfoctl.1 nbdkit-lbfo-plugin.1 lbfo-nbd.1; do
	f=$STAGE$MANDIR/man1/$page
	if [ ! -f "$f" ]; then fail "install: no $MANDIR/man1/$page"; continue; fi
	MANWIDTH=80 man --warnings -l "$f" >"$LBFO_TMP/page.txt" 2>"$LBFO_TMP/warn.txt"
	rc=$?
	if [ $rc = 0 ] && [ ! -s "$LBFO_TMP/warn.txt" ] && grep -q '^NAME' "$LBFO_TMP/page.txt"; then
		pass "install: man1/$page renders without warnings ($(wc -l <"$LBFO_TMP/page.txt") lines)"
	else
		fail "install: man1/$page: rc=$rc $(head -3 "$LBFO_TMP/warn.txt")"
	fi
done
MANWIDTH=200 man -l "$STAGE$MANDIR/man1/nbdkit-lbfo-plugin.1" 2>/dev/null >"$LBFO_TMP/page.txt"
keys=$(nbdkit "$SO" --help 2>/dev/null | sed -n 's/^  \([a-z_]*\)=.*/\1/p' | sort -u)
missing=$(for k in $keys; do grep -qE "^ +$k=" "$LBFO_TMP/page.txt" || echo "$k"; done)
if [ -n "$keys" ] && [ -z "$missing" ]; then
	pass "install: nbdkit-lbfo-plugin(1) has all $(wc -w <<<"$keys") keys of the plugin's --help"
else
	fail "install: nbdkit-lbfo-plugin(1) lacks: $missing"
fi

# The unit: where systemd looks for units; systemd-analyze verify accepts
# it (it works here without systemd running as PID 1) and finds the man
# pages its Documentation= names; it is Type=notify and runs the plugin
# by name on the config path the example sits beside.
unit=$(find "$STAGE" -name lbfo.service)
unitdir=$(dirname "${unit#"$STAGE"}")
if [ -n "$unit" ] && systemd-analyze unit-paths | grep -qx "$unitdir"; then
	pass "install: lbfo.service in $unitdir, one of systemd's unit paths"
else
	fail "install: lbfo.service at '${unit#"$STAGE"}', not in systemd-analyze unit-paths"
fi
if [ -n "$unit" ]; then
	out=$(MANPATH=$STAGE$MANDIR timeout 60 systemd-analyze verify "$unit" 2>&1)
	rc=$?
	if [ $rc = 0 ] && [ -z "$out" ]; then
		pass "install: systemd-analyze verify lbfo.service: no complaint (man pages found)"
	else
		fail "install: systemd-analyze verify: rc=$rc $(head -3 <<<"$out")"
	fi
fi
# lbfo-nbd: installed, its unit verified, its page with every key.
# (verified as a copy that runs the staged binary: verify wants ExecStart's file there)
nunit=$(find "$STAGE" -name lbfo-nbd.service)
mkdir -p "$LBFO_TMP/unit" && [ -n "$nunit" ] &&
	sed "s|^ExecStart=$BINDIR/|ExecStart=$STAGE$BINDIR/|" "$nunit" >"$LBFO_TMP/unit/lbfo-nbd.service"
if [ -x "$STAGE$BINDIR/lbfo-nbd" ] && "$STAGE$BINDIR/lbfo-nbd" --version | grep -q '^lbfo-nbd ' &&
   [ -n "$nunit" ] &&
   out=$(MANPATH=$STAGE$MANDIR timeout 60 systemd-analyze verify "$LBFO_TMP/unit/lbfo-nbd.service" 2>&1) &&
   [ -z "$out" ] && grep -q "^ExecStart=$BINDIR/lbfo-nbd --unix /run/lbfo/nbd.sock config=" "$nunit"; then
	pass "install: $BINDIR/lbfo-nbd runs; lbfo-nbd.service verified, runs it on /run/lbfo/nbd.sock"
else
	fail "install: lbfo-nbd or its unit ('${nunit#"$STAGE"}'): $(head -3 <<<"${out:-}")"
fi
MANWIDTH=200 man -l "$STAGE$MANDIR/man1/lbfo-nbd.1" 2>/dev/null >"$LBFO_TMP/page.txt"
missing=$(for k in $keys; do grep -qE "^ +$k=" "$LBFO_TMP/page.txt" || echo "$k"; done)
if [ -n "$keys" ] && [ -z "$missing" ]; then
	pass "install: lbfo-nbd(1) has all $(wc -w <<<"$keys") keys"
else
	fail "install: lbfo-nbd(1) lacks: $missing"
fi
CONF=$ETCDIR/lbfo/lbfo.conf
key() { sed -n "s/^$1=//p" "$unit"; }
exec_start=$(key ExecStart)
read -r -a argv <<<"$exec_start"
if [ "$(key Type)" = notify ] && [ "$(key RuntimeDirectory)" = lbfo ] &&
   [ "$(key RuntimeDirectoryPreserve)" = yes ] && [ "${argv[0]}" = "$(command -v nbdkit)" ] &&
   [[ " $exec_start " == *" --foreground --unix /run/lbfo/nbd.sock lbfo config=$CONF "* ]]; then
	pass "install: unit is Type=notify and runs: $exec_start"
else
	fail "install: unit keys: Type=$(key Type) ExecStart=$exec_start"
fi

# The config: only the example, never a real one.
if [ -f "$STAGE$CONF.example" ] && [ ! -e "$STAGE$CONF" ]; then
	pass "install: $CONF.example installed, no $CONF"
else
	fail "install: example config: $(find "$STAGE" -path '*lbfo/lbfo.conf*' | sed "s|^$STAGE||")"
fi

# ---- READY=1 and STOPPING=1 from the unit's command line, on the test bed
tb_up 2 || { fail "install: test bed up"; exit 1; }
NOTIFY=$LBFO_TMP/notify.sock
MSGS=$LBFO_TMP/notify.jsonl
# systemd's side: every datagram with its sender's PID (SCM_CREDENTIALS,
# what NotifyAccess=main checks), one JSON line each; gone after 120 s.
python3 - "$NOTIFY" "$MSGS" <<'PY' &
import json, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.monotonic() + 120
with open(sys.argv[2], "a") as out:
    while time.monotonic() < end:
        try:
            msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            continue
        pid = 0
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        out.write(json.dumps({"pid": pid, "msg": msg.decode()}) + "\n")
        out.flush()
PY
LISTENER=$!
for ((i = 0; i < 50; i++)); do [ -S "$NOTIFY" ] && break; sleep 0.1; done

# The example config with the bed's target and portals.
sed -e "s|^target = .*|target = $TB_IQN|" -e "s|^portal = 198.18.1.2:3260|portal = $(tb_portal 1)|" \
	-e "s|^portal = 198.18.2.2:3260|portal = $(tb_portal 2)|" "$STAGE$CONF.example" >"$LBFO_TMP/lbfo.conf"
[ "$(grep -c "^portal = $TB_NET\." "$LBFO_TMP/lbfo.conf")" = 2 ] || fail "install: example config has no two portal lines to point at the bed"
# The unit's command line, its paths moved into this test's directory.
cmd=()
for a in "${argv[@]}"; do
	case "$a" in
	/run/lbfo/nbd.sock) cmd+=("$LBFO_SOCK") ;;
	config=*) cmd+=("config=$LBFO_TMP/lbfo.conf") ;;
	*) cmd+=("$a") ;;
	esac
done
cmd+=(control="$LBFO_TMP/ctl.sock" lock_dir="$LBFO_TMP" status_file="$LBFO_STATUS")
NOTIFY_SOCKET=$NOTIFY "${BYNAME[@]}" "${cmd[@]}" >"$LBFO_LOG" 2>&1 &
LBFO_PID=$!
# msg PREFIX: the first message that starts with PREFIX, newlines as \n
msg() { jq -r "select(.msg | startswith(\"$1\")) | .msg | gsub(\"\n\"; \"\\\\n\")" "$MSGS" 2>/dev/null | head -1; }
for ((i = 0; i < 300; i++)); do # 30 s
	[ -n "$(msg READY=1)" ] && break
	kill -0 "$LBFO_PID" 2>/dev/null || break
	sleep 0.1
done
ready=$(msg READY=1)
if [ -z "$ready" ]; then
	fail "install: no READY=1 within 30 s: $(tail -3 "$LBFO_LOG")"
	exit 1
fi
size=$(timeout 10 nbdinfo --size "$(lbfo_uri)" 2>&1)
up=$(timeout 10 "$STAGE$BINDIR/lbfoctl" --socket "$LBFO_TMP/ctl.sock" status --json |
	jq '[.lus[0].paths[] | select(.session == "up")] | length')
sender=$(jq -r 'select(.msg | startswith("READY=1")) | .pid' "$MSGS" | head -1)
if [ "$ready" = 'READY=1\nSTATUS=started with 1 of 1 LU ready, 2 of 2 paths up' ] && [ "$sender" = "$LBFO_PID" ] &&
   [ "$size" = "$(numfmt --from=iec "$TB_LUN_SIZE")" ] && [ "$up" = 2 ]; then
	pass "install: READY=1 from nbdkit's pid with 'STATUS=started with 1 of 1 LU ready, 2 of 2 paths up'; the export then answers at once (nbdinfo --size $size), 2 paths up"
else
	fail "install: READY: '$ready' from pid $sender (nbdkit $LBFO_PID); nbdinfo: $size; paths up: $up"
fi

kill -TERM "$LBFO_PID"
for ((i = 0; i < 150; i++)); do kill -0 "$LBFO_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$LBFO_PID" 2>/dev/null; then
	fail "install: nbdkit still running 15 s after SIGTERM"
else
	wait "$LBFO_PID"
	rc=$?
	LBFO_PID=
	for ((i = 0; i < 20; i++)); do [ -n "$(msg STOPPING=1)" ] && break; sleep 0.1; done
	seq=$(jq -r '.msg | split("\n")[0]' "$MSGS" | tr '\n' ' ')
	if [ "$seq" = "READY=1 STOPPING=1 " ] && [ $rc = 0 ]; then
		pass "install: SIGTERM: STOPPING=1 after READY=1 (nothing else sent), nbdkit exit 0"
	else
		fail "install: SIGTERM: messages '$seq', nbdkit exit $rc"
	fi
fi
exit "$LBFO_FAILED"

#!/bin/bash
# lbfoctl's messages and exit codes against an instance of today's storage
# LU protocol (src/mpio/control.c: its help and its "unknown request"
# reply, played by a small python server on a unix socket; the real plugin
# is in test_control.sh): a router command sent to it, an LU command newer
# than it (queueing), bad usage, --help. No network. Prints "PASS name" /
# "FAIL name: why"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
RT_TEST=lbfoctl-test
# shellcheck source=lib/router.sh
source tests/integration/lib/router.sh

[ -x "$CTL" ] || { fail lbfoctl_build "$CTL missing (build with ninja -C build)"; exit 1; }
SOCK=$T/lu.sock
cat >"$T/old_lu.py" <<'PY'
import os, socket, sys
# The storage LU's control protocol as src/mpio/control.c speaks it today.
HELP = ("status [json]                 paths, states, shares, MB/s, latency\n"
        "policy set NAME [KEY=VALUE...] switch the policy (shares recomputed)\n"
        "shares set PATH=R[/W] ...     configured read[/write] shares, percent\n"
        "path fail PATH                take a path out (no reconnect until restore)\n"
        "path restore PATH             put it back (also: reinstate after manual failback)\n"
        "path drain PATH               no new commands; in-flight ones finish\n"
        "events [json]                 the last events\n"
        "metrics                       Prometheus text exposition\n")
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
open(sys.argv[1] + ".ready", "w").close()
while True:
    c, _ = s.accept()
    req = b""
    while b"\n" not in req:
        d = c.recv(4096)
        if not d:
            break
        req += d
    w = req.decode(errors="replace").split()
    if w == ["help"]:
        c.sendall(("ok\n" + HELP).encode())
    elif w[:1] == ["status"]:
        c.sendall(b"ok\nLU naa.6001 (old protocol)\n")
    else:
        c.sendall(("error: unknown request '%.60s' (try 'help')\n" % (w[0] if w else "")).encode())
    c.close()
PY
"$PY" "$T/old_lu.py" "$SOCK" 2>"$T/old_lu.log" & PIDS+=($!)
wait_for 50 test -e "$SOCK.ready" || { fail lbfoctl_fake_lu "did not start: $(cat "$T/old_lu.log")"; exit 1; }
ctl() { "$CTL" --socket "$SOCK" "$@"; }

out=$(ctl status); rc=$?
[ "$rc" = 0 ] && [ "$out" = "LU naa.6001 (old protocol)" ] && pass "lbfoctl_old_lu_status" ||
	fail lbfoctl_old_lu_status "exit $rc: $out"

out=$(ctl nodes 2>&1); rc=$?
if [ "$rc" = 1 ] && [[ "$out" == *"$SOCK: unknown request 'nodes' (try 'help')"* ]] &&
   [[ "$out" == *"'nodes' is a command of the cluster router (lbfo-router); $SOCK seems to be a storage LU's control socket"* ]]; then
	pass "lbfoctl_router_verb_to_lu (exit 1, says whose command it is)"
else
	fail lbfoctl_router_verb_to_lu "exit $rc: $out"
fi

out=$(ctl queueing off 2>&1); rc=$?
if [ "$rc" = 1 ] && [[ "$out" == *"unknown request 'queueing'"* ]] &&
   [[ "$out" == *"'queueing' is a command of a storage LU, but the one at $SOCK does not know it"* ]]; then
	pass "lbfoctl_newer_verb (queueing to an LU that predates it: exit 1, says so)"
else
	fail lbfoctl_newer_verb "exit $rc: $out"
fi

out=$(ctl weight set web n1 2 2>&1); rc=$?
[ "$rc" = 1 ] && [[ "$out" == *"'weight' is a command of the cluster router"* ]] &&
	pass lbfoctl_weight_to_lu || fail lbfoctl_weight_to_lu "exit $rc: $out"

bad=""
for args in "frob" "queueing" "queueing on lu extra" "status lu json extra" "path explode p0" "node drain n1"; do
	# shellcheck disable=SC2086
	out=$(ctl $args 2>&1); rc=$?
	[ "$rc" = 2 ] || bad="$bad [$args: exit $rc: $out]"
done
out=$(ctl path explode p0 2>&1)
[[ "$out" == *"path: expected fail, restore or drain, not 'explode'"* ]] || bad="$bad [$out]"
out=$(ctl policy set "a b" 2>&1); rc=$?
[ "$rc" = 2 ] && [[ "$out" == *"bad argument 'a b'"* ]] || bad="$bad [policy set 'a b': exit $rc: $out]"
[ -z "$bad" ] && pass "lbfoctl_bad_usage (exit 2 each)" || fail lbfoctl_bad_usage "$bad"

out=$("$CTL" --help); rc=$?
if [ "$rc" = 0 ] && [[ "$out" == *"queueing on|off"* ]] && [[ "$out" == *"weight set SERVICE NODE N"* ]] &&
   ! "$CTL" >/dev/null 2>&1; then
	pass "lbfoctl_help (generated from the tables; no command: exit 2)"
else
	fail lbfoctl_help "exit $rc"
fi
[ "$FAILS" -eq 0 ]

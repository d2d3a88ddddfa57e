#!/bin/bash
# shellcheck disable=SC2154,SC2317  # RELAY_* are set by relay_start (printf -v); clean-up runs from traps
# Self-test of the holding relay (lib/relay.py) on loopback, against a small
# python echo server that records every byte it receives per connection:
#  - bytes pass through both ways unchanged;
#  - "hold" keeps them back while the sender's kernel sees them acknowledged;
#  - "release" delivers them on the same target connection after the initiator
#    side was reset, and reports the target's answer;
#  - "release" reports EPIPE/ECONNRESET when the target side had closed.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib/lbfo.sh
source tests/integration/lib/relay.sh

T=$(mktemp -d /tmp/lbfo-relaytest.XXXXXX)
ECHO_PID=
cleanup() {
	relay_stop_all
	if [ -n "$ECHO_PID" ]; then kill "$ECHO_PID" 2>/dev/null; wait "$ECHO_PID" 2>/dev/null; fi
	rm -rf "$T"
	lbfo_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# echo server: echoes; "QUIT\n" closes the connection (FIN); logs bytes to conn-N.bin
cat >"$T/echo.py" <<'EOF'
import selectors, socket, sys, os
d = sys.argv[1]
sel = selectors.DefaultSelector()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(8); ls.setblocking(False)
sel.register(ls, selectors.EVENT_READ, None)
print("PORT %d" % ls.getsockname()[1], flush=True)
n = 0
while True:
    for key, _ in sel.select(5):
        if key.data is None:
            c, _ = ls.accept(); n += 1
            sel.register(c, selectors.EVENT_READ, [n, open(os.path.join(d, "conn-%d.bin" % n), "ab", 0)])
            continue
        c = key.fileobj; cid, f = key.data
        try:
            b = c.recv(65536)
        except OSError:
            b = b""
        if not b:
            sel.unregister(c); c.close(); f.close(); continue
        f.write(b)
        if b.endswith(b"QUIT\n"):
            sel.unregister(c); c.close(); f.close(); continue
        c.setblocking(True); c.sendall(b); c.setblocking(False)
EOF
python3 "$T/echo.py" "$T" >"$T/echo.out" 2>&1 &
ECHO_PID=$!
for ((i = 0; i < 50; i++)); do grep -q '^PORT ' "$T/echo.out" && break; sleep 0.1; done
EPORT=$(awk '/^PORT /{print $2}' "$T/echo.out")
[ -n "$EPORT" ] || { fail "relay: echo server up"; exit 1; }
relay_start r1 "127.0.0.1:$EPORT" || { fail "relay: start"; exit 1; }
note "echo server :$EPORT, relay :$RELAY_PORT_r1"

# the initiator side, in python: prints KEY=VALUE lines
cat >"$T/client.py" <<'EOF'
import socket, sys, os, time, fcntl, termios, struct, subprocess, random
port, relay_py, ctl, step = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def cmd(c):
    return subprocess.run([sys.executable, relay_py, "--cmd", ctl, c], capture_output=True, text=True, timeout=30).stdout.strip()
def outq(s):
    return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
def recv_exact(s, n, to):
    s.settimeout(to); b = b""
    try:
        while len(b) < n:
            d = s.recv(n - len(b))
            if not d: break
            b += d
    except socket.timeout:
        pass
    return b
s = socket.create_connection(("127.0.0.1", port), timeout=5)
if step == "pass":
    data = random.randbytes(300000)
    s.settimeout(10)
    s.sendall(data)
    back = recv_exact(s, len(data), 10)
    print("echo_equal=%d" % (back == data))
elif step == "hold":
    s.sendall(b"ping\n"); print("ping_echo=%s" % (recv_exact(s, 5, 5) == b"ping\n"))
    print("hold=%s" % cmd("hold"))
    s.sendall(b"HELD-DATA-4711\n")
    acked = False
    for _ in range(100):                 # <= 5 s: the relay's kernel ACKs them
        if outq(s) == 0: acked = True; break
        time.sleep(0.05)
    print("acked=%d" % acked)
    print("echo_while_held=%d" % len(recv_exact(s, 15, 1.0)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()                            # RST to the relay
    time.sleep(0.5)
    print("stats=%s" % cmd("stats"))
    print("release=%s" % cmd("release"))
elif step == "closed":
    s.sendall(b"QUIT\n")                 # the target side closes
    s.settimeout(5)
    eof = s.recv(10) == b""
    print("target_closed_seen=%d" % eof)
    print("hold=%s" % cmd("hold"))
    s.sendall(b"LATE-DATA\n")
    time.sleep(0.3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    time.sleep(0.3)
    print("release=%s" % cmd("release"))
EOF
client() { timeout 60 python3 "$T/client.py" "$RELAY_PORT_r1" "$RELAY_PY" "$RELAY_CTL_r1" "$1"; }

# 1. pass-through
out=$(client pass)
check "relay: 300 kB pass through both ways unchanged" grep -qx 'echo_equal=1' <<<"$out"

# 2. hold: acknowledged but not delivered; release after the initiator's reset delivers
out=$(client hold)
note "$(grep -E '^(stats|release)=' <<<"$out")"
held_conn=$(grep -lF 'ping' "$T"/conn-*.bin 2>/dev/null | tail -1)
check "relay: hold: the initiator's kernel sees the held bytes acknowledged" grep -qx 'acked=1' <<<"$out"
check "relay: hold: nothing reaches the target or comes back while held" grep -qx 'echo_while_held=0' <<<"$out"
check "relay: hold: initiator reset, target side kept open" \
	grep -qE '^stats=.*held_c2t=15 held_t2c=0 initiator=reset target=open' <<<"$out"
check "relay: release: written on the same target connection after the reset" \
	grep -qE '^release=released .*initiator=reset target=open held=15 written=15 result=ok reply=15' <<<"$out"
if [ -n "$held_conn" ] && [ "$(cat "$held_conn")" = "$(printf 'ping\nHELD-DATA-4711')" ]; then
	pass "relay: release: the target received the held bytes, in order, on the first connection"
else
	fail "relay: release: target got: $(cat "$T"/conn-*.bin 2>/dev/null | od -c | head -5)"
fi

# 3. target side closed before the release: the write fails and says so
out=$(client closed)
note "$(grep -E '^release=' <<<"$out")"
check "relay: closed target: the initiator saw the target's FIN" grep -qx 'target_closed_seen=1' <<<"$out"
check "relay: closed target: release reports EPIPE/ECONNRESET" \
	grep -qE '^release=released .*target=eof held=10 .*result=(EPIPE|ECONNRESET)' <<<"$out"
if ! grep -q 'LATE-DATA' "$T"/conn-*.bin; then
	pass "relay: closed target: the late bytes did not land"
else
	fail "relay: closed target: the late bytes landed"
fi
out=$(relay_cmd r1 stats)
check "relay: back to pass after release" grep -q '^mode=pass' <<<"$out"

exit "$LBFO_FAILED"

#!/bin/bash
# lbfo-router under awkward load, on real sockets (127.0.76.x only):
#   - a backend slower than its client: the router waits, it does not spin;
#   - least connections after a node failed and came back counts the
#     connections that kept running on it;
#   - a draining node (priority 0) keeps its clients' sessions and takes
#     no new ones;
#   - 8 KiB pipes (a user over the pipe-pages limit) lose and mix no byte;
#   - a router bound to 0.0.0.0 answers agents from the address they used;
#   - SIGHUP is logged and ignored.
# Prints "PASS name" / "FAIL name: why"; exits non-zero on any failure.
# Every loop is bounded; everything started is killed on exit.
set -u
cd "$(dirname "$0")/../.."
RT_TEST=router-load
source tests/integration/lib/router.sh

for x in "$B/lbfo-router" "$B/lbfo-node" "$B/lbfo-testsrv" "$CTL"; do
	[ -x "$x" ] || { fail router_load_build "$x missing (ninja -C build)"; exit 1; }
done

RA=127.0.76.1; N1=127.0.76.11; N2=127.0.76.12; N3=127.0.76.13
DPORT=27699
SOCK=$T/router.sock

cat >"$T/router.ini" <<CFG
[router]
cluster_id = 3
; one worker: least connections counts the connections of its own worker
; (each has its own team), and this test counts them exactly
threads = 1
discovery = $RA:$DPORT
announce_interval_ms = 100
miss_limit = 5
control = $SOCK

; least connections over n1, n2
[service lc]
listen = $RA:27680
policy = queue-depth
allow = any
nodes = n1, n2
port = 27681
sticky = none

; clients stick to their node
[service web]
listen = $RA:27684
policy = round-robin
allow = any
nodes = n1, n2
port = 27681
sticky = address

; n3 is a backend that reads slowly
[service slow]
listen = $RA:27683
policy = round-robin
allow = any
nodes = n3
port = 27682
sticky = none

[node n1]
address = $N1
[node n2]
address = $N2
[node n3]
address = $N3
CFG

ctl() { "$CTL" --socket "$SOCK" "$@"; }
agent() { # name address [priority]
	"$B/lbfo-node" --address "$2" --router "$RA:$DPORT" --cluster 3 --interval 100 \
		--priority "${3:-100}" 2>>"$T/$1.agent.log" &
	eval "AGENT_$1=$!"; PIDS+=($!)
}
node_field() { ctl nodes --json | jq -r --arg n "$1" ".[] | select(.name == \$n) | $2"; }
lines_are() { [ "$(cat "$1" 2>/dev/null | wc -l)" = "$2" ]; }
active() { # service node: open connections on it, from the metrics
	ctl metrics | awk -v k="lbfo_router_node_active{service=\"$1\",node=\"$2\"}" '$1 == k {print $2}'
}

"$B/lbfo-testsrv" --listen "$N1:27681" --name n1 2>>"$T/n1.log" & PIDS+=($!)
"$B/lbfo-testsrv" --listen "$N2:27681" --name n2 2>>"$T/n2.log" & PIDS+=($!)
# The slow backend: reads 1 KiB every 10 ms through a 4 KiB receive buffer,
# checks each byte against the client's pattern (byte i of the stream is
# i % 251), and writes the count of good bytes to a file (-1: a bad byte).
"$PY" - "$N3" 27682 "$T/sink.count" <<'PY' &
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
s.settimeout(20)
c, _ = s.accept()
pat = bytes(i % 251 for i in range(251)) * 300
got, end = 0, time.time() + 20
while time.time() < end:
    d = c.recv(1024)
    if not d:
        break
    o = got % 251
    if d != pat[o:o + len(d)]:
        got = -1
    else:
        got += len(d)
    with open(sys.argv[3] + ".new", "w") as f:
        f.write(str(got))
    os.replace(sys.argv[3] + ".new", sys.argv[3])  # never read half-written
    if got < 0:
        break
    time.sleep(0.01)
PY
PIDS+=($!)
"$B/lbfo-router" -c "$T/router.ini" 2>"$T/router.log" &
ROUTER=$!; PIDS+=($ROUTER)
agent n1 $N1; agent n2 $N2; agent n3 $N3
all_up() { [ "$(ctl nodes --json 2>/dev/null | jq '[.[] | select(.state == "up")] | length')" = 3 ]; }
if ! wait_for 50 all_up; then
	fail router_load_start "nodes not up after 5 s: $(ctl nodes 2>&1); $(tail -3 "$T/router.log")"
	exit 1
fi

# --- a slow backend: the router waits for it instead of spinning -------------
# The sink accepts one connection: wait until it listens (python starts slowly).
sink_listens() { ss -Hltn "src $N3:27682" | grep -q LISTEN; }
wait_for 100 sink_listens || fail router_slow_backend_no_spin "the slow backend never listened"
# A client pushes as fast as it can for 4 s; the backend takes ~100 KB/s.
"$PY" - "$RA" 27683 <<'PY' &
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.setblocking(False)
pat = bytes(i % 251 for i in range(251)) * 300
sent, end = 0, time.time() + 4
while time.time() < end:
    o = sent % 251
    try:
        sent += c.send(pat[o:o + 65536])
    except BlockingIOError:
        time.sleep(0.001)
PY
SRC=$!; PIDS+=($SRC)
sleep 1
t0=$(awk '{print $14 + $15}' "/proc/$ROUTER/stat")
sleep 2
t1=$(awk '{print $14 + $15}' "/proc/$ROUTER/stat")
hz=$(getconf CLK_TCK)
cpu=$(( (t1 - t0) * 100 / (2 * hz) ))
got=$(cat "$T/sink.count" 2>/dev/null || echo 0)
# Spinning was 100 % of a CPU; waiting is ~0 %.
if [ "$cpu" -lt 20 ] && [ "$got" -gt 10000 ]; then
	pass "router_slow_backend_no_spin (router CPU ${cpu} % over 2 s while the backend took $got bytes, each as sent)"
else
	fail router_slow_backend_no_spin "router CPU ${cpu} % over 2 s; backend got '$got' bytes; $(ctl services | grep -A3 'service slow' | tr -s ' ' | tr '\n' ';')"
fi
kill "$SRC" 2>/dev/null

# --- least connections after a node failed and came back ----------------------
# Holders open N keep-alive connections each (one request each, then idle)
# and print the node of each; they hold them until killed.
hold() { # count file
	"$PY" - "$RA" 27680 "$1" "$2" <<'PY' &
import socket, sys, time
conns = []
with open(sys.argv[4], "w") as out:
    for _ in range(int(sys.argv[3])):
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
        c.sendall(b"GET /node HTTP/1.1\r\nHost: x\r\n\r\n")
        d = c.recv(4096)
        node = d.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in d else "ERR"
        out.write(node + "\n")
        out.flush()
        conns.append(c)
time.sleep(30)
PY
	PIDS+=($!)
}
hold 4 "$T/first.txt"
wait_for 30 lines_are "$T/first.txt" 4
a1=$(active lc n1); a2=$(active lc n2)
ctl node fail n1 >/dev/null
ctl node restore n1 >/dev/null
n1_up() { [ "$(node_field n1 .state)" = up ]; }
wait_for 20 n1_up
hold 4 "$T/second.txt"
wait_for 30 lines_are "$T/second.txt" 4
b1=$(active lc n1); b2=$(active lc n2)
if [ "$a1/$a2" = 2/2 ] && [ "$b1/$b2" = 4/4 ] && ! grep -q ERR "$T/first.txt" "$T/second.txt"; then
	pass "router_least_conn_after_flap (2/2 open; n1 failed and restored; 4 more -> 4/4)"
else
	fail router_least_conn_after_flap "before $a1/$a2, after $b1/$b2 (want 2/2 then 4/4); second: $(tr '\n' ' ' <"$T/second.txt")"
fi

# --- a draining node keeps its clients' sessions, takes no new ones ---------------
"$PY" - "$RA" 27684 "$T/drain.txt" <<'PY' &
import socket, sys, time
def get(src):
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3,
                                 source_address=(src, 0))
    c.sendall(b"GET /node HTTP/1.1\r\nHost: x\r\n\r\n")
    d = c.recv(4096)
    return c, d.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in d else "ERR"
with open(sys.argv[3], "w") as out:
    keep, first = get("127.0.76.50")   # held open, like an FTP control connection
    out.write("first " + first + "\n")
    out.flush()
    # wait for the test to drain that node (it touches drain.go)
    end = time.time() + 10
    while time.time() < end:
        try:
            open(sys.argv[3] + ".go").close()
            break
        except OSError:
            time.sleep(0.05)
    c, again = get("127.0.76.50")       # the same client's data connection
    out.write("again " + again + "\n")
    for i in range(10):
        c, n = get("127.0.76.%d" % (60 + i))
        out.write("new " + n + "\n")
    out.write("done\n")
time.sleep(30)
PY
PIDS+=($!)
wait_for 30 grep -qs "^first" "$T/drain.txt"
X=$(awk '$1 == "first" {print $2}' "$T/drain.txt")
if [ "$X" = n1 ] || [ "$X" = n2 ]; then
	# Its agent restarts announcing priority 0: drain.
	v=AGENT_$X; kill -9 "${!v}" 2>/dev/null; wait "${!v}" 2>/dev/null
	agent "$X" "$([ "$X" = n1 ] && echo $N1 || echo $N2)" 0
	drained() { [ "$(node_field "$X" .priority)" = 0 ]; }
	wait_for 30 drained
	touch "$T/drain.txt.go"
	wait_for 50 grep -qs "^done" "$T/drain.txt"
	again=$(awk '$1 == "again" {print $2}' "$T/drain.txt")
	onx=$(grep -c "^new $X\$" "$T/drain.txt")
	if [ "$again" = "$X" ] && [ "$onx" = 0 ] && [ "$(grep -c '^new n[12]$' "$T/drain.txt")" = 10 ]; then
		pass "router_drain_keeps_sessions ($X drained: its client's second connection stayed on $X; 10/10 new clients elsewhere)"
	else
		fail router_drain_keeps_sessions "$X drained: client's second connection on '$again'; new clients on $X: $onx; $(tr '\n' ' ' <"$T/drain.txt")"
	fi
else
	fail router_drain_keeps_sessions "first connection got '$X'"
fi

# --- 8 KiB pipes (what the kernel gives a user over pipe-user-pages-soft) -------
# A second router whose every pipe is made 8 KiB (LD_PRELOAD shim, built
# here). Connection A: the backend does not read while the client sends
# 12000-byte messages (the copy path overflows into the pipe); then the
# backend reads everything. Connection B, after A closed: the backend
# sends 900 kB the client reads late. Every byte must arrive, in order,
# and B must not see A's bytes (a pipe of A's handed on from the pool).
if command -v cc >/dev/null; then
	cat >"$T/smallpipe.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
int pipe2(int p[2], int flags)
{
	static int (*real)(int *, int);
	int rc;

	if (!real)
		real = (int (*)(int *, int))dlsym(RTLD_NEXT, "pipe2");
	rc = real(p, flags);
	if (rc == 0)
		fcntl(p[0], F_SETPIPE_SZ, 8192);
	return rc;
}
C
	cc -shared -fPIC -o "$T/smallpipe.so" "$T/smallpipe.c" -ldl
	cat >"$T/small.ini" <<CFG
[router]
control = $T/small.sock
[service s]
listen = $RA:27690
allow = any
nodes = n4
port = 27691
sticky = none
[node n4]
address = 127.0.76.14
CFG
	LD_PRELOAD=$T/smallpipe.so "$B/lbfo-router" -c "$T/small.ini" 2>"$T/small.log" &
	SMALL=$!; PIDS+=($SMALL)
	sleep 0.3
	out=$(timeout 60 "$PY" - "$RA" 27690 127.0.76.14 27691 <<'PY'
import socket, sys, time
ra, rp, na, np_ = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # partial sends early
ls.bind((na, np_)); ls.listen(4); ls.settimeout(5)
pat = bytes(i % 251 for i in range(251)) * 400
# A
def push(s, chunk):  # 300 non-blocking sends 5 ms apart, then EOF
    n = 0
    s.setblocking(False)
    for _ in range(300):
        try:
            n += s.send(chunk(n))
        except BlockingIOError:
            pass
        time.sleep(0.005)
    s.shutdown(socket.SHUT_WR)
    return n
def drain(s):  # everything up to EOF (or 3 s of silence)
    s.settimeout(3)
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        data += d
    return data
ca = socket.create_connection((ra, rp), timeout=5)
ba, _ = ls.accept()
sent = push(ca, lambda n: pat[n % 251:n % 251 + 12000])
got = drain(ba)
okA = got == (bytes(range(251)) * (sent // 251 + 1))[:sent]
ca.close(); ba.close()
time.sleep(0.2)
# B
cb = socket.socket()
cb.connect((ra, rp))
bb, _ = ls.accept()
tot = push(bb, lambda n: b"B" * 3000)
data = drain(cb)
okB = len(data) == tot and data == b"B" * tot
print("A sent %d got %d %s; B sent %d got %d %s" % (sent, len(got), "ok" if okA else "BAD",
      tot, len(data), "ok" if okB else "BAD"))
PY
)
	cpu=$(awk '{print $14 + $15}' "/proc/$SMALL/stat" 2>/dev/null || echo gone)
	if [[ "$out" == *"ok; B"*" ok" ]] && [ "$cpu" != gone ] && [ "$cpu" -lt 100 ]; then
		pass "router_small_pipes ($out; router CPU $cpu ticks)"
	else
		fail router_small_pipes "$out; router CPU ticks $cpu; $(tail -3 "$T/small.log")"
	fi
else
	fail router_small_pipes "no C compiler to build the pipe shim (scripts/setup)"
fi

# --- a router bound to 0.0.0.0 answers from the address it was sent to -----------
# An agent with only unicast targets trusts replies from those addresses
# alone; the router must answer from 127.0.76.3, the address announced to,
# not from whatever address its route would pick.
cat >"$T/wild.ini" <<CFG
[router]
cluster_id = 4
discovery = 0.0.0.0:27697
address = $RA
management = 127.0.76.9
announce_interval_ms = 100
control = $T/wild.sock
[service w]
listen = $RA:27696
allow = any
nodes = n5
port = 27695
[node n5]
address = 127.0.76.15
CFG
"$B/lbfo-router" -c "$T/wild.ini" 2>"$T/wild.log" & PIDS+=($!)
sleep 0.2
"$B/lbfo-node" --address 127.0.76.15 --router 127.0.76.3:27697 --cluster 4 --interval 100 \
	--state "$T/wild.state" 2>"$T/wild.agent.log" & PIDS+=($!)
told() { grep -qs "management 127.0.76.9" "$T/wild.state"; }
if wait_for 30 told && ! grep -q "ignoring reply" "$T/wild.agent.log"; then
	pass "router_wildcard_reply_source (agent announcing to 127.0.76.3 heard FIG 8/9: $(tr '\n' ' ' <"$T/wild.state"))"
else
	fail router_wildcard_reply_source "state: $(cat "$T/wild.state" 2>/dev/null); agent: $(tail -2 "$T/wild.agent.log")"
fi

# --- SIGHUP does not kill the router (no reload; it says so) ---------------------
kill -HUP "$ROUTER"
sleep 0.2
if kill -0 "$ROUTER" 2>/dev/null && ctl events | grep -q "SIGHUP ignored" &&
   [ "$(ctl nodes --json | jq length)" = 3 ]; then
	pass router_sighup_ignored
else
	fail router_sighup_ignored "router $(kill -0 "$ROUTER" 2>/dev/null && echo alive || echo gone); $(tail -2 "$T/router.log")"
fi

if [ "$FAILS" -ne 0 ]; then
	echo "--- router log"; tail -20 "$T/router.log"
	exit 1
fi
exit 0

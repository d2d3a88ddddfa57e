#!/bin/bash
# Session-table replication between two lbfo-routers ([sync], docs/sync.md),
# on loopback: real routers, real backends (lbfo-testsrv), real clients
# (curl from many 127.0.84.x addresses).
#   - router A's sessions reach router B (same client -> same node), with the
#     replication lag reported;
#   - through B each of those clients lands on the node A gave it;
#   - B restarted with an empty table gets the whole table back;
#   - a peer with another key: every message refused (auth), nothing applied;
#   - a connection from an address that is no peer: refused, counted;
#   - malformed bytes from a peer's address: counted, dropped, nothing applied;
#   - a split brain (the sync link cut, both routers running): each gives a
#     client another node; once the link heals both agree on the newer one.
# Only loopback; every loop bounded; everything started is killed on exit.
set -u
cd "$(dirname "$0")/../.."
RT_TEST=router-sync
source tests/integration/lib/router.sh

for x in lbfo-router lbfo-testsrv; do
	[ -x "$B/$x" ] || { fail sync_build "$B/$x missing (build with ninja -C build)"; exit 1; }
done

RA=127.0.78.1; RB=127.0.78.2; RC=127.0.78.3
N1=127.0.78.11; N2=127.0.78.12; N3=127.0.78.13
NCLIENT=30

head -c 48 /dev/urandom | base64 >"$T/key"; chmod 600 "$T/key"
head -c 48 /dev/urandom | base64 >"$T/other.key"; chmod 600 "$T/other.key"

cfg() { # name listen-addr peer-addr keyfile
	cat <<CFG
[router]
cluster_id = 9
control = $T/$1.sock
session_idle = 600s

[service web]
listen = $2:28180
allow = 127.0.0.0/8
nodes = n1, n2, n3
port = 28181
sticky = address

[node n1]
address = $N1
[node n2]
address = $N2
[node n3]
address = $N3

[sync]
listen = $2:27500
peers = $3:27500
key_file = $4
refresh = 100ms
CFG
}
cfg a $RA $RB "$T/key" >"$T/a.ini"
cfg b $RB $RA "$T/key" >"$T/b.ini"
cfg c $RC $RA "$T/other.key" >"$T/c.ini"

for n in 1 2 3; do
	a=N$n
	"$B/lbfo-testsrv" --listen "${!a}:28181" --name "n$n" 2>>"$T/srv$n.log" &
	PIDS+=($!)
done

start_router() { # name
	"$B/lbfo-router" -c "$T/$1.ini" 2>>"$T/$1.log" &
	eval "ROUTER_$1=$!"; PIDS+=($!)
	wait_for 50 test -S "$T/$1.sock"
}
ctl() { local w=$1; shift; "$CTL" --socket "$T/$w.sock" "$@"; }
sj() { ctl "$1" status --json | jq -r "$2"; }
# client -> node, sorted, as the router's session table says
table() { ctl "$1" sessions --json | jq -r '.entries[] | "\(.client) \(.node)"' | sort; }
# Which node answers client i through router R (the backend says its name).
via() { # router-addr client-index
	curl -s --max-time 3 --interface "127.0.84.$((10 + $2))" "http://$1:28180/node"
}

start_router a
start_router b

# --- config errors: a key file others may read; a missing one ----------------
chmod 644 "$T/other.key"
msg=$("$B/lbfo-router" -c "$T/c.ini" --check 2>&1)
chmod 600 "$T/other.key"
if [[ "$msg" == *"c.ini:"*"[sync]: key_file:"*"mode 0644"* ]]; then
	pass sync_key_file_mode
else
	fail sync_key_file_mode "got: $msg"
fi

# --- 1. A's sessions reach B --------------------------------------------------
peer_up() { [ "$(sj "$1" '.sync.peers[0].state' 2>/dev/null)" = up ]; }
# "wait_for N test $(...)" would run the $(...) once: wait on functions.
sessions_ge() { [ "$(sj "$1" .sessions 2>/dev/null)" -ge "$2" ]; }
table_is() { [ "$(table "$1")" = "$2" ]; }
auth_rejected() { [ "$(sj "$1" .sync.rejected.auth 2>/dev/null)" -ge 1 ]; }
wait_for 50 peer_up a ||
	fail sync_connect "A's peer B not up: $(sj a '.sync.peers[0]' 2>&1)"
declare -A NODE
for i in $(seq 1 $NCLIENT); do NODE[$i]=$(via $RA "$i"); done
wait_for 30 sessions_ge b $NCLIENT
ta=$(table a); tb=$(table b)
if [ "$(echo "$ta" | wc -l)" -eq $NCLIENT ] && [ "$ta" = "$tb" ]; then
	pass sync_replicated
else
	fail sync_replicated "A and B differ: $(diff <(echo "$ta") <(echo "$tb") | head -5)"
fi
echo "sync lag (last, max): $(sj b '"\(.sync.lag_ms) ms, \(.sync.lag_max_ms) ms"'); \
authenticated: $(sj b .sync.authenticated)"
[ "$(sj b .sync.authenticated)" = true ] || fail sync_authenticated "B says not authenticated"

# sync state in the metrics, valid for promtool
ctl a metrics >"$T/metrics.txt"
if grep -q '^lbfo_router_sync_peer_up{peer="127.0.78.2:27500"} 1$' "$T/metrics.txt" &&
   grep -q '^lbfo_router_sync_sent_entries_total' "$T/metrics.txt" &&
   promtool check metrics <"$T/metrics.txt" >"$T/promtool.txt" 2>&1; then
	pass sync_metrics
else
	fail sync_metrics "$(grep sync "$T/metrics.txt" | head -3; head -3 "$T/promtool.txt")"
fi

# --- 2. through B each client lands on the node A gave it ---------------------
moved=0
for i in $(seq 1 $NCLIENT); do
	[ "$(via $RB "$i")" = "${NODE[$i]}" ] || moved=$((moved + 1))
done
if [ $moved -eq 0 ]; then pass sync_affinity_via_peer
else fail sync_affinity_via_peer "$moved of $NCLIENT clients changed node through B"; fi

# --- 3. B restarted empty gets the whole table --------------------------------
kill "$ROUTER_b"; wait "$ROUTER_b" 2>/dev/null
start_router b
if wait_for 50 table_is b "$ta"; then
	pass sync_whole_table_on_join
else
	fail sync_whole_table_on_join "B has $(table b | wc -l) of $NCLIENT sessions: $(diff <(table b) <(echo "$ta") | head -4)"
fi

# --- 4. a peer with another key: refused -------------------------------------
# C claims to be A's peer? A lists only B, so point C at A from B's address is
# not possible on loopback; instead B gets C's key: restart B with other.key.
kill "$ROUTER_b"; wait "$ROUTER_b" 2>/dev/null
sed "s#key_file = .*#key_file = $T/other.key#" "$T/b.ini" >"$T/b2.ini"
"$B/lbfo-router" -c "$T/b2.ini" 2>>"$T/b2.log" &
ROUTER_b=$!; PIDS+=($!)
wait_for 50 test -S "$T/b.sock"
via $RA 40 >/dev/null
if wait_for 50 auth_rejected b &&
   [ "$(sj b .sessions)" -eq 0 ] && grep -q "bad MAC" "$T/b2.log"; then
	pass sync_wrong_key_refused
else
	fail sync_wrong_key_refused "auth $(sj b .sync.rejected.auth) sessions $(sj b .sessions)"
fi
kill "$ROUTER_b"; wait "$ROUTER_b" 2>/dev/null
start_router b
wait_for 50 sessions_ge b $NCLIENT

# --- 5. no peer's address: refused; malformed from a peer's address ----------
"$PY" - "$RB" <<'PY' 2>>"$T/py.log"
import socket, sys
s = socket.create_connection((sys.argv[1], 27500), timeout=2, source_address=("127.0.78.99", 0))
try:
    s.recv(100)
except OSError:
    pass
s.close()
PY
"$PY" - "$RB" <<'PY' 2>>"$T/py.log"
import socket, sys
s = socket.create_connection((sys.argv[1], 27500), timeout=2, source_address=("127.0.78.1", 0))
s.recv(48)                               # the challenge
s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 4) # not our protocol
try:
    s.recv(100)
except OSError:
    pass
s.close()
PY
sleep 0.2
if [ "$(sj b .sync.rejected.foreign)" -ge 1 ] && [ "$(sj b .sync.rejected.magic)" -ge 1 ] &&
   [ "$(table b)" = "$(table a)" ] && [ "$(table b | wc -l)" -eq $((NCLIENT + 1)) ]; then
	pass sync_foreign_and_malformed
else
	fail sync_foreign_and_malformed "$(sj b .sync.rejected)"
fi

# --- 6. split brain: both routers serve one client, on different nodes --------
# The routers' sync links go through relays (A -> .32 -> B from .31, B -> .31
# -> A from .32), so the link can be cut and healed with both routers running.
cat >"$T/relay.py" <<'PY'
import socket, sys, threading
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(listen, target, source):
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(listen); ls.listen(8)
    while True:
        c, _ = ls.accept()
        t = socket.socket(); t.bind((source, 0))
        try:
            t.connect(target)
        except OSError:
            c.close(); continue
        for x, y in ((c, t), (t, c)):
            threading.Thread(target=pipe, args=(x, y), daemon=True).start()
A, B = sys.argv[1], sys.argv[2]
threading.Thread(target=serve, args=(("127.0.78.32", 27501), (B, 27500), "127.0.78.31"),
                 daemon=True).start()
serve(("127.0.78.31", 27501), (A, 27500), "127.0.78.32")
PY
start_relay() { "$PY" "$T/relay.py" $RA $RB 2>>"$T/relay.log" & RELAY=$!; PIDS+=($RELAY); }
kill "$ROUTER_a" "$ROUTER_b"; wait "$ROUTER_a" "$ROUTER_b" 2>/dev/null
sed "s/^peers = .*/peers = 127.0.78.32:27501/" "$T/a.ini" >"$T/a3.ini"
sed "s/^peers = .*/peers = 127.0.78.31:27501/" "$T/b.ini" >"$T/b3.ini"
cp "$T/a3.ini" "$T/a.ini"; cp "$T/b3.ini" "$T/b.ini"
start_relay
start_router a
start_router b
both_up() { peer_up a && peer_up b; }
peer_down() { [ "$(sj "$1" '.sync.peers[0].state' 2>/dev/null)" != up ]; }
wait_for 80 both_up || fail sync_split_brain_merge "no sync through the relays: $(sj a .sync.peers[0].error)"
kill $RELAY; wait $RELAY 2>/dev/null
wait_for 30 peer_down a; wait_for 30 peer_down b
C=70; CA=127.0.84.$((10 + C))
first=$(via $RA $C)                          # A alone gives it a node
ctl b node fail "$first" >/dev/null          # B alone, later, another one
other=$(via $RB $C)
ctl b node restore "$first" >/dev/null
start_relay                                  # the link heals
node_of() { table "$1" | awk -v c="$CA" '$1 == c {print $2}'; }
agree() { [ "$(node_of a)" = "$other" ] && [ "$(node_of b)" = "$other" ]; }
if [ -n "$other" ] && [ "$other" != "$first" ] && wait_for 100 agree &&
   [ "$(sj a .sync.conflicts_taken)" -ge 1 ] &&
   [ "$(via $RA $C)" = "$other" ]; then
	pass "sync_split_brain_merge (A gave $first, B later $other: both now say $other)"
else
	fail sync_split_brain_merge "A gave $first, B $other; now A says $(node_of a), B says \
$(node_of b); A taken $(sj a .sync.conflicts_taken), B kept $(sj b .sync.conflicts_kept)"
fi

# --- 7. authenticated discovery ([router] discovery_key_file, --key-file) -----
RE=127.0.78.5
head -c 32 /dev/urandom | base64 >"$T/dkey"; chmod 600 "$T/dkey"
cat >"$T/e.ini" <<CFG
[router]
cluster_id = 9
discovery = $RE:27401
announce_interval = 100ms
miss_limit = 5
control = $T/e.sock
discovery_key_file = $T/dkey

[service web2]
listen = $RE:28190
allow = any
nodes = n1, n2
port = 28181

[node n1]
address = $N1
[node n2]
address = $N2
CFG
start_router e
"$B/lbfo-node" --address $N1 --router $RE:27401 --cluster 9 --interval 100 \
	--key-file "$T/dkey" --state "$T/n1.state" 2>>"$T/n1.agent.log" &
PIDS+=($!)
"$B/lbfo-node" --address $N2 --router $RE:27401 --cluster 9 --interval 100 \
	--key-file "$T/other.key" 2>>"$T/n2.agent.log" &
PIDS+=($!)
node_state() { sj e ".nodes[] | select(.name == \"$1\") | .state" 2>/dev/null; }
n1_up() { [ "$(node_state n1)" = up ]; }
state_has_router() { grep -q "^router $RE" "$T/n1.state" 2>/dev/null; }
auth_drops() { [ "$(sj e .discovery.dropped.auth 2>/dev/null)" -ge 3 ]; }
if wait_for 50 n1_up && wait_for 30 state_has_router && wait_for 30 auth_drops &&
   [ "$(node_state n2)" != up ]; then
	pass disc_auth_key_and_wrong_key
else
	fail disc_auth_key_and_wrong_key "n1 $(node_state n1), n2 $(node_state n2), \
dropped $(sj e ".discovery.dropped|tostring")"
fi
# A correctly signed announcement, sent twice: the copy is a replay.
"$PY" - "$T/dkey" $N2 $RE <<'PY' 2>>"$T/py.log"
import hmac, hashlib, socket, struct, sys, time
key = open(sys.argv[1], "rb").read().rstrip(b"\n")
src, dst = sys.argv[2], sys.argv[3]
ip = lambda a: struct.unpack(">I", socket.inet_aton(a))[0]
body = struct.pack(">IBBHIIHHHHIIHHQ", 0x4C42464F, 1, 1, 76, ip(src), ip(dst), 100, 9,
                   1, 1, 0, 0, 0, 0, int(time.time() * 1e6))
msg = body + hmac.new(key, body, hashlib.sha256).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.sendto(msg, (dst, 27401))
time.sleep(0.05)
s.sendto(msg, (dst, 27401))
PY
replayed() { [ "$(sj e .discovery.dropped.replay 2>/dev/null)" -ge 1 ]; }
if wait_for 20 replayed; then
	pass disc_auth_replay_dropped
else
	fail disc_auth_replay_dropped "dropped $(sj e ".discovery.dropped|tostring")"
fi

exit $((FAILS > 0))

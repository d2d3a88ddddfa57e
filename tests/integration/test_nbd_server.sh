#!/bin/bash
# lbfo-nbd, lbfo's own NBD server (build/src/nbd/lbfo-nbd: the NBD protocol on lbfo's event
# loop, no nbdkit), with real clients over 2 real paths (tgtd in a netns, 198.18.0.0/15):
#  (1) nbdinfo --list / --json: the LU's WWID, its description, block sizes, flags;
#  (2) fio 64 KiB random writes + crc32c verify, then a read-only verify pass; the status
#      counts the bytes fio moved; (3) fio 4 KiB randrw at depth 32 with verify;
#  (4) nbdcopy with 4 connections (multi-conn) both ways; (5) qemu-img convert + dd;
#  (6) nbdsh (libnbd) with structured replies on and off: FUA (also on a read and a flush,
#      which the spec says a server MUST accept), flush, zero (+/- NO_HOLE), trim (the LU
#      is thin-provisioned: a trim must free its blocks in the LU file), DF, block sizes,
#      multi-conn, the server's own EINVAL / ENOSPC, requests over the 32 MiB maximum,
#      option haggling; (7) raw protocol abuse (python3 sockets): STARTTLS and unknown
#      options refused, NBD_CMD_DISC after a write (the write completes first), a client
#      that closes in the middle of a write, clients killed with 32 requests in flight, a
#      bad request magic (connection closed, peer logged); (8) an unknown export name;
#      (9) bad configuration; (10) a path failing under verified writes; (11) SIGTERM with
#      a client connected, and with every path down and a write waiting for one; (12) nbd-client -l on the unix socket, and a read-only instance
#      on TCP 127.0.0.1 (-r -p -i, SIGINT); (13) lbfoctl on the control socket; (14) two
#      LUs: two exports named by WWID, no default export.
# LBFO_SERVER=nbdkit runs what applies of it against nbdkit + plugin (a development aid).
set -u
cd "$(dirname "$0")/../.." || exit 1
export TB_ID=${TB_ID:-n$$}
TB_ID=${TB_ID:0:7}
export LBFO_SERVER=${LBFO_SERVER:-lbfo-nbd}
source tests/integration/lib/testbed.sh
source tests/integration/lib/lbfo.sh
T=$LBFO_TMP
TCP_PID=
tcp_stop() {
	[ -n "$TCP_PID" ] || return 0
	kill -KILL "$TCP_PID" 2>/dev/null
	wait "$TCP_PID" 2>/dev/null
	TCP_PID=
}
IDLE_PID=
trap '[ -n "$IDLE_PID" ] && kill "$IDLE_PID" 2>/dev/null; tcp_stop; lbfo_cleanup' EXIT
NBD=$LBFO_SERVER   # the name in PASS/FAIL lines
MiB=$((1 << 20))
SIZE=$((256 * MiB))

if [ "$LBFO_SERVER" = lbfo-nbd ] && ! timeout 5 "$LBFO_NBD" --version >"$T/version" 2>&1; then
	fail "$NBD: $LBFO_NBD --version: $(head -3 "$T/version")"
	exit 1
fi
# nbdsh is python3 -m nbd: the distribution's python3 (python3-libnbd), not another one in PATH
nbdsh_() { PATH=/usr/bin:/bin:$PATH timeout 120 nbdsh "$@"; }

CTL=${LBFO_CTL:-$LBFO_TOP/build/src/ctl/lbfoctl}

tb_up 2 || { fail "$NBD: test bed up"; exit 1; }
P1=$(tb_portal 1) P2=$(tb_portal 2)
WWID=$(tb_lu_wwid 1 1)
KEYS=(portal="$P1" portal="$P2" target="$TB_IQN" lun=1)
# a thin-provisioned LU (tgt: Logical Block Provisioning VPD, UNMAP): the export can trim
tb_tgtadm --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 --params thin_provisioning=1 ||
	fail "$NBD: thin provisioning on the bed's LU"
LUFILE=$(tb_lu_file 1 1)

# ---------------------------------------------------------------- helper scripts
# nbdsh checks of case 6: "ok CHECK" / "bad CHECK: why" / "info ..." lines, "done" at the end
cat >"$T/nbdsh_checks.py" <<'EOF'
import errno, os
uri = os.environ["NBD_URI"]
sr = os.environ["NBD_SR"] == "1"
base = int(os.environ["NBD_BASE"])     # a free 40 MiB region of the export
wwid = os.environ["NBD_WWID"]
want_trim = os.environ.get("NBD_WANT_TRIM") == "1"
MiB = 1 << 20

def ok(name): print("ok", name, flush=True)
def bad(name, why): print("bad %s: %s" % (name, why), flush=True)
def check(name, cond, why=""):
    (ok(name) if cond else bad(name, why))
def errname(e):
    # libnbd's Python binding gives nbd.Error.errno as a name ("EINVAL")
    if isinstance(e, str): return e
    return errno.errorcode.get(e, str(e)) if e else "none"
def expect_err(name, fn, want):
    """fn() must fail with the server's error WANT"""
    try:
        fn()
    except nbd.Error as ex:
        check(name, errname(ex.errno) == errname(want),
              "got %s (%s), want %s" % (errname(ex.errno), ex.string, errname(want)))
        return
    bad(name, "succeeded, want %s" % errname(want))
def attempt(name, fn):
    try:
        r = fn()
        ok(name)
        return r
    except nbd.Error as ex:
        bad(name, "%s (%s)" % (ex.string, errname(ex.errno)))

def connect():
    g = nbd.NBD()
    g.set_request_structured_replies(sr)
    if sr:
        g.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    g.connect_uri(uri)
    # no client-side checks: alignment, bounds and flags go to the server as sent
    g.set_strict_mode(0)
    return g

g = connect()
check("structured replies negotiated as asked", g.get_structured_replies_negotiated() == sr,
      "negotiated %s" % g.get_structured_replies_negotiated())
if sr:
    check("SET_META_CONTEXT base:allocation answered with no context",
          not g.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), "server agreed to base:allocation")
size = g.get_size()
check("size 256 MiB", size == 256 * MiB, "size %d" % size)
bs = (g.get_block_size(nbd.SIZE_MINIMUM), g.get_block_size(nbd.SIZE_PREFERRED), g.get_block_size(nbd.SIZE_MAXIMUM))
check("block sizes 512/4096/32M", bs == (512, 4096, 32 * MiB), "min/pref/max %s" % (bs,))
flags = dict(multi_conn=g.can_multi_conn(), flush=g.can_flush(), fua=g.can_fua(), zero=g.can_zero(),
             read_only=g.is_read_only(), trim=g.can_trim(), fast_zero=g.can_fast_zero(), cache=g.can_cache(),
             df=g.can_df())
print("info flags %s" % flags, flush=True)
check("can_multi_conn", flags["multi_conn"])
check("can_flush, can_fua, can_zero, writable", flags["flush"] and flags["fua"] and flags["zero"] and not flags["read_only"],
      "%s" % flags)
if want_trim:
    check("can_trim (the LU is thin-provisioned)", flags["trim"])
check("can_df exactly with structured replies", flags["df"] == sr, "can_df %s" % flags["df"])

# pwrite / pread
d = os.urandom(MiB)
attempt("pwrite 1 MiB", lambda: g.pwrite(d, base))
check("pread 1 MiB == written", g.pread(MiB, base) == d)
s = os.urandom(512)
g.pwrite(bytes(4096), base + MiB)
attempt("pwrite one 512-byte block at an odd block", lambda: g.pwrite(s, base + MiB + 3 * 512))
check("pread 4 KiB around it", g.pread(4096, base + MiB) == bytes(3 * 512) + s + bytes(4096 - 4 * 512))
big = os.urandom(32 * MiB)
attempt("pwrite 32 MiB (the maximum block size)", lambda: g.pwrite(big, base + 8 * MiB))
check("pread 32 MiB == written", g.pread(32 * MiB, base + 8 * MiB) == big)
got = []
def chunk(buf, off, status, err):
    got.append((off, len(buf), status))
    return 0
if sr:
    attempt("pread_structured 1 MiB", lambda: g.pread_structured(MiB, base, chunk))
    n = sum(l for o, l, st in got if st in (nbd.READ_DATA, nbd.READ_HOLE))
    check("structured read chunks cover the request", n == MiB and not any(st == nbd.READ_ERROR for o, l, st in got),
          "chunks %s" % got[:8])

# FUA write, flush
f = os.urandom(64 * 1024)
attempt("pwrite with FUA", lambda: g.pwrite(f, base + 2 * MiB, nbd.CMD_FLAG_FUA))
check("FUA write reads back", g.pread(len(f), base + 2 * MiB) == f)
attempt("flush", lambda: g.flush())
# "NBD_CMD_FLAG_FUA: valid for all commands, provided NBD_FLAG_SEND_FUA has been negotiated,
# in which case the server MUST accept all commands with this bit set (even by ignoring
# the bit) ... existing clients are known to set this bit on other commands" (NBD spec)
r = attempt("pread with FUA (a server that offers FUA MUST accept it on every command)",
            lambda: g.pread(MiB, base, nbd.CMD_FLAG_FUA))
if r is not None:
    check("pread with FUA returns the data", r == d)
attempt("flush with FUA", lambda: g.flush(nbd.CMD_FLAG_FUA))
if sr:
    got = []
    attempt("pread 64 KiB with DF (don't fragment)", lambda: g.pread_structured(65536, base, chunk, nbd.CMD_FLAG_DF))
    check("DF read: exactly one content chunk", len([x for x in got if x[2] in (nbd.READ_DATA, nbd.READ_HOLE)]) == 1,
          "chunks %s" % got[:8])

# write zeroes, with and without NO_HOLE (without it the server may trim)
z = 64 * 1024
for name, fl in (("zero (may trim)", 0), ("zero with NO_HOLE", nbd.CMD_FLAG_NO_HOLE),
                 ("zero with FUA", nbd.CMD_FLAG_FUA)):
    off = base + 3 * MiB
    g.pwrite(os.urandom(z), off)
    attempt(name, lambda: g.zero(z, off, fl))
    check(name + " reads back zeroes", g.pread(z, off) == bytes(z))
if flags["fast_zero"]:
    off = base + 3 * MiB
    g.pwrite(os.urandom(z), off)
    try:
        g.zero(z, off, nbd.CMD_FLAG_FAST_ZERO)
        check("zero with FAST_ZERO reads back zeroes", g.pread(z, off) == bytes(z))
    except nbd.Error as ex:
        check("zero with FAST_ZERO: done or ENOTSUP", errname(ex.errno) == "ENOTSUP",
              "%s (%s)" % (ex.string, errname(ex.errno)))

# trim (contents after a trim are unspecified: it succeeds, the range stays usable)
if flags["trim"]:
    off = base + 4 * MiB
    g.pwrite(os.urandom(MiB), off)
    attempt("trim 1 MiB", lambda: g.trim(MiB, off))
    attempt("trim with FUA", lambda: g.trim(64 * 1024, off, nbd.CMD_FLAG_FUA))
    t = os.urandom(MiB)
    g.pwrite(t, off)
    check("write after trim reads back", g.pread(MiB, off) == t)
else:
    print("info trim not advertised (LU without UNMAP)", flush=True)

# requests the server must refuse itself, on this same connection
expect_err("unaligned pread (offset +1) -> EINVAL", lambda: g.pread(512, base + 1), errno.EINVAL)
expect_err("unaligned pread (length 100) -> EINVAL", lambda: g.pread(100, base), errno.EINVAL)
expect_err("unaligned pwrite -> EINVAL", lambda: g.pwrite(b"x" * 100, base + 7), errno.EINVAL)
check("unaligned pwrite left the data alone", g.pread(MiB, base) == d)
expect_err("pread past the end -> EINVAL", lambda: g.pread(4096, size), errno.EINVAL)
expect_err("pread across the end -> EINVAL", lambda: g.pread(1024, size - 512), errno.EINVAL)
expect_err("pwrite past the end -> ENOSPC", lambda: g.pwrite(bytes(4096), size), errno.ENOSPC)
expect_err("zero past the end -> ENOSPC", lambda: g.zero(4096, size), errno.ENOSPC)
check("same connection still serves after the errors", g.pread(MiB, base) == d)

# multi-conn: a second connection sees what the first wrote and flushed
g2 = connect()
m = os.urandom(256 * 1024)
g.pwrite(m, base + 5 * MiB)
g.flush()
check("second connection reads what the first wrote", g2.pread(len(m), base + 5 * MiB) == m)
g2.shutdown()
g.shutdown()

if sr:
    # option haggling: LIST, LIST_META_CONTEXT, INFO, then GO, on one connection
    o = nbd.NBD()
    o.set_opt_mode(True)
    o.connect_uri(uri)
    names = []
    o.opt_list(lambda n, desc: names.append((n, desc)) or 0)
    check("OPT_LIST: the WWID with a description", [n for n, _ in names] == [wwid] and names[0][1] != "",
          "listed %s" % names)
    ctx = []
    o.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    n = o.opt_list_meta_context(lambda c: ctx.append(c) or 0)
    check("OPT_LIST_META_CONTEXT: no contexts", n == 0 and ctx == [], "contexts %s" % ctx)
    o.set_export_name(wwid)
    attempt("OPT_INFO on the WWID", lambda: o.opt_info())
    check("OPT_INFO size", o.get_size() == size)
    attempt("OPT_GO on the WWID", lambda: o.opt_go())
    check("reads after OPT_GO by name", o.pread(MiB, base) == d)
    o.shutdown()
    a = nbd.NBD()
    a.set_opt_mode(True)
    a.connect_uri(uri)
    attempt("OPT_ABORT", lambda: a.opt_abort())

# Refused requests with a large payload, and requests over the advertised 32 MiB maximum,
# each on a connection of its own: refused with WANT, the connection stays usable. libnbd
# (1.14) drops a connection whose server answers a write before it has sent the whole
# payload ("no matching cookie found for server reply, this is probably a bug in the
# server"): a server must read (and discard) a refused write's payload before it replies.
# Whether libnbd reads the early reply while still sending depends on timing: several tries.
def refused(name, fn, tries, want=("EINVAL", "EOVERFLOW")):
    fails = []
    for i in range(tries):
        c = connect()
        try:
            fn(c)
            fails.append("succeeded")
            continue
        except nbd.Error as ex:
            e, msg = errname(ex.errno), ex.string
        try:
            alive = len(c.pread(4096, base)) == 4096
        except nbd.Error:
            alive = False
        if not (e in want and alive):
            fails.append("%s (%s), then the connection is %s" % (e, msg, "alive" if alive else "dead"))
    check(name, not fails, "%d of %d tries: %s" % (len(fails), tries, fails[0] if fails else ""))
refused("pwrite 8 MiB across the end -> ENOSPC, connection stays",
        lambda c: c.pwrite(bytes(8 * MiB), size - 4096), 3, ("ENOSPC",))
refused("pwrite 8 MiB + 100 bytes (unaligned) -> EINVAL, connection stays",
        lambda c: c.pwrite(bytes(8 * MiB + 100), base + 8 * MiB), 3, ("EINVAL",))
refused("pread 48 MiB (over the maximum) -> EINVAL/EOVERFLOW, connection stays",
        lambda c: c.pread(48 * MiB, base + 8 * MiB), 2)
refused("pwrite 33 MiB (over the maximum) -> EINVAL/EOVERFLOW, connection stays",
        lambda c: c.pwrite(bytes(33 * MiB), base + 8 * MiB), 3)
refused("pwrite 64 MiB (over the maximum) -> EINVAL/EOVERFLOW, connection stays",
        lambda c: c.pwrite(bytes(64 * MiB), base + 8 * MiB), 3)

# the server still serves: a brand new connection
g3 = connect()
check("a new connection after all that reads the data", g3.pread(MiB, base) == d)
g3.shutdown()
print("done", flush=True)
EOF

# nbdsh_io URI write|read OFFSET FILE: FILE's bytes to / from the export at OFFSET
cat >"$T/nbdsh_io.py" <<'EOF'
import os, sys
uri, op, off, path = os.environ["NBD_URI"], os.environ["NBD_OP"], int(os.environ["NBD_OFF"]), os.environ["NBD_FILE"]
h.connect_uri(uri)
if op == "write":
    h.pwrite(open(path, "rb").read(), off)
    h.flush()
else:
    open(path, "wb").write(h.pread(int(os.environ["NBD_LEN"]), off))
h.shutdown()
EOF
nbdsh_io() { NBD_URI=$1 NBD_OP=$2 NBD_OFF=$3 NBD_FILE=$4 NBD_LEN=${5:-0} nbdsh_ -c "exec(open('$T/nbdsh_io.py').read())"; }

# raw protocol client of case 7 (standard library only)
cat >"$T/nbd_raw.py" <<'EOF'
# nbd_raw.py ADDR opts              STARTTLS and an unknown option refused, then OPT_GO and a
#                                   read on the same connection
# nbd_raw.py ADDR halfwrite OFFSET  OPT_GO "", a WRITE header claiming 1 MiB at OFFSET, 4 KiB
#                                   of its payload, then close
# nbd_raw.py ADDR badmagic          OPT_GO "", a request with a bad magic: the server must close
# nbd_raw.py ADDR idle SECONDS      OPT_GO "", then nothing; prints "ready"
# nbd_raw.py ADDR disc OFFSET FILE  OPT_GO "", a WRITE of FILE at OFFSET and at once NBD_CMD_DISC:
#                                   the write's reply must come before the server closes
# ADDR: unix:PATH or tcp:HOST:PORT. Prints "ok WHAT" / "bad WHAT: why" lines, "peer ..." (this
# client as the server sees it) and "done" at the end.
import os, socket, struct, sys, time

NBDMAGIC, IHAVEOPT, REPMAGIC = 0x4E42444D41474943, 0x49484156454F5054, 0x3E889045565A9
REQMAGIC, SIMPLEMAGIC = 0x25609513, 0x67446698
OPT_STARTTLS, OPT_GO = 5, 7
REP_ACK, REP_INFO, REP_ERR_UNSUP = 1, 3, 0x80000001
CMD_READ, CMD_WRITE, CMD_DISC = 0, 1, 2

def out(*a): print(*a, flush=True)
def ok(w): out("ok", w)
def bad(w, why): out("bad %s: %s" % (w, why))

def connect(addr):
    kind, rest = addr.split(":", 1)
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(rest)
        out("peer pid %d" % os.getpid())
    else:
        host, port = rest.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=10)
        h, p = s.getsockname()[:2]
        out("peer %s %d pid %d" % (h, p, os.getpid()))
    return s

def recvall(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("server closed the connection after %d of %d bytes" % (len(b), n))
        b += c
    return b

def handshake(s):
    m, o, hf = struct.unpack(">QQH", recvall(s, 18))
    if m != NBDMAGIC or o != IHAVEOPT:
        raise ValueError("not newstyle: %#x %#x" % (m, o))
    if not hf & 1:
        raise ValueError("server without FIXED_NEWSTYLE (flags %#x)" % hf)
    s.sendall(struct.pack(">I", 1 | (hf & 2)))   # FIXED_NEWSTYLE, NO_ZEROES if offered

def option(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

def reply(s):
    m, o, t, n = struct.unpack(">QIII", recvall(s, 20))
    if m != REPMAGIC:
        raise ValueError("bad option reply magic %#x" % m)
    return o, t, recvall(s, n)

def go(s, name=b""):
    option(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    size = flags = None
    while True:
        o, t, d = reply(s)
        if t == REP_ACK:
            return size, flags
        if t == REP_INFO and len(d) >= 12 and struct.unpack(">H", d[:2])[0] == 0:
            size, flags = struct.unpack(">QH", d[2:12])
        elif t & 0x80000000:
            raise ValueError("OPT_GO refused: reply %#x %r" % (t, d))

def request(s, typ, off, length, cookie=1, magic=REQMAGIC, flags=0):
    s.sendall(struct.pack(">IHHQQI", magic, flags, typ, cookie, off, length))

def main():
    addr, what = sys.argv[1], sys.argv[2]
    s = connect(addr)
    handshake(s)
    if what == "opts":
        option(s, OPT_STARTTLS)
        o, t, d = reply(s)
        if o == OPT_STARTTLS and t == REP_ERR_UNSUP:
            ok("STARTTLS refused with NBD_REP_ERR_UNSUP")
        else:
            bad("STARTTLS refused with NBD_REP_ERR_UNSUP", "reply to option %d: type %#x %r" % (o, t, d))
        option(s, 0x4242, b"junk")
        o, t, d = reply(s)
        if o == 0x4242 and t == REP_ERR_UNSUP:
            ok("unknown option refused with NBD_REP_ERR_UNSUP")
        else:
            bad("unknown option refused with NBD_REP_ERR_UNSUP", "reply to option %d: type %#x %r" % (o, t, d))
        size, flags = go(s)
        if size and flags is not None and flags & 1:
            ok("OPT_GO after the refused options (size %d, transmission flags %#x)" % (size, flags))
        else:
            bad("OPT_GO after the refused options", "size %s flags %s" % (size, flags))
        request(s, CMD_READ, 0, 4096, cookie=0x1122334455667788)
        m, err, cookie = struct.unpack(">IIQ", recvall(s, 16))
        data = recvall(s, 4096) if m == SIMPLEMAGIC and err == 0 else b""
        if m == SIMPLEMAGIC and err == 0 and cookie == 0x1122334455667788 and len(data) == 4096:
            ok("simple reply to a read: no error, the cookie echoed, 4 KiB")
        else:
            bad("simple reply to a read", "magic %#x error %d cookie %#x" % (m, err, cookie))
        request(s, CMD_DISC, 0, 0)
    elif what == "halfwrite":
        go(s)
        request(s, CMD_WRITE, int(sys.argv[3]), 1 << 20)
        s.sendall(os.urandom(4096))
        ok("sent a WRITE of 1 MiB with 4 KiB of payload, closing")
    elif what == "badmagic":
        go(s)
        request(s, CMD_READ, 0, 4096, magic=0xDEADBEEF)
        try:
            s.settimeout(5)
            b = s.recv(4096)
            if b == b"":
                ok("connection closed by the server after a bad request magic")
            else:
                bad("connection closed after a bad request magic", "server sent %d bytes: %r" % (len(b), b[:32]))
        except ConnectionResetError:
            ok("connection reset by the server after a bad request magic")
        except socket.timeout:
            bad("connection closed after a bad request magic", "still open after 5 s")
    elif what == "disc":
        data = open(sys.argv[4], "rb").read()
        go(s)
        request(s, CMD_WRITE, int(sys.argv[3]), len(data), cookie=9)
        s.sendall(data)
        request(s, CMD_DISC, 0, 0, cookie=10)
        m, err, cookie = struct.unpack(">IIQ", recvall(s, 16))
        if m == SIMPLEMAGIC and err == 0 and cookie == 9:
            ok("NBD_CMD_DISC right after a write: the write's reply came first")
        else:
            bad("NBD_CMD_DISC right after a write", "reply magic %#x error %d cookie %d" % (m, err, cookie))
        s.settimeout(5)
        try:
            b = s.recv(4096)
            if b == b"":
                ok("then the server closed the connection")
            else:
                bad("closed after NBD_CMD_DISC", "server sent %d more bytes" % len(b))
        except ConnectionResetError:
            ok("then the server closed the connection")
        except socket.timeout:
            bad("closed after NBD_CMD_DISC", "still open 5 s later")
    elif what == "idle":
        go(s)
        out("ready")
        time.sleep(float(sys.argv[3]))
    s.close()
    out("done")

try:
    main()
except Exception as e:
    bad("protocol", "%s: %s" % (type(e).__name__, e))
EOF
# raw ADDR ARGS... -> the client's output in $T/raw.out; PASS/FAIL per "ok"/"bad" line with PREFIX
raw_checks() {
	local prefix=$1 l; shift
	timeout 30 python3 "$T/nbd_raw.py" "$@" >"$T/raw.out" 2>&1
	grep -q '^done$' "$T/raw.out" || fail "$prefix: the raw client did not finish: $(tail -3 "$T/raw.out")"
	while IFS= read -r l; do
		case $l in
		"ok "*) pass "$prefix: ${l#ok }" ;;
		"bad "*) fail "$prefix: ${l#bad }" ;;
		esac
	done <"$T/raw.out"
}
log_lines() { wc -l <"$1"; }
new_log() { tail -n +"$(($2 + 1))" "$1"; }   # FILE LINES_BEFORE -> what came since

# ---------------------------------------------------------------- start
if ! lbfo_start "${KEYS[@]}" control="$T/ctl.sock"; then
	fail "$NBD: start on 2 paths: $(tail -5 "$LBFO_LOG")"
	exit 1
fi
if [ "$LBFO_SERVER" = lbfo-nbd ]; then
	check "$NBD: ready notice 'serving 1 export(s) on SOCKET' once both paths are up" \
		grep -q "^lbfo-nbd: notice: serving 1 export(s) on $LBFO_SOCK\$" "$LBFO_LOG"
fi

# ---------------------------------------------------------------- (1) nbdinfo
list=$(timeout 20 nbdinfo --list "$(lbfo_uri)" 2>&1)
jlist=$(timeout 20 nbdinfo --list --json "$(lbfo_uri)" 2>&1)
jdef=$(timeout 20 nbdinfo --json "$(lbfo_uri)" 2>&1)
sexp=$(lbfo_status '.lus[0].export')
desc=$(jq -r '.exports[0].description // ""' <<<"$jlist" 2>/dev/null)
if grep -q "^export=\"$WWID\":" <<<"$list" && grep -q "description: .*paths up 2/2" <<<"$list" &&
   [ "$(jq -r '.exports | length' <<<"$jlist" 2>/dev/null)" = 1 ] &&
   [ "$(jq -r '.exports[0]."export-name"' <<<"$jlist" 2>/dev/null)" = "$WWID" ] &&
   [ "$(jq -r '.exports[0]."export-size"' <<<"$jlist" 2>/dev/null)" = "$SIZE" ] &&
   grep -q "$SIZE bytes, paths up 2/2" <<<"$desc" && [ "$sexp" = "$WWID" ]; then
	pass "$NBD (1): nbdinfo --list and --list --json: export $WWID, '$desc'"
else
	fail "$NBD (1): nbdinfo --list (want export $WWID, status export '$sexp'): $list // $jlist"
fi
want='{"export-name":"","export-size":268435456,"is_read_only":false,"can_flush":true,"can_fua":true,"can_multi_conn":true,"can_zero":true,"block_size_minimum":512,"block_size_preferred":4096,"block_size_maximum":33554432,"contexts":[]}'
got=$(jq -c '.exports[0] | {"export-name", "export-size", is_read_only, can_flush, can_fua, can_multi_conn, can_zero,
	block_size_minimum, block_size_preferred, block_size_maximum, contexts: (.contexts // [])}' <<<"$jdef" 2>/dev/null)
if [ "$got" = "$want" ] && [ "$(jq -r '.protocol' <<<"$jdef")" = newstyle-fixed ] && [ "$(jq -r '.TLS' <<<"$jdef")" = false ]; then
	pass "$NBD (1): nbdinfo --json on the default export: newstyle-fixed, no TLS, 256 MiB, block sizes 512/4096/32M, flush/FUA/zero/multi-conn, no meta contexts (trim $(jq -r '.exports[0].can_trim' <<<"$jdef"))"
else
	fail "$NBD (1): nbdinfo --json: got $got, want $want: $jdef"
fi

# ---------------------------------------------------------------- (2) fio 64 KiB verify, then read-only verify
sum_bytes() { lbfo_status "[.lus[0].paths[].bytes_$1] | add"; }
sleep 0.3
w0=$(sum_bytes written) r0=$(sum_bytes read)
lbfo_fio "$T/f2w.json" --rw=randwrite --bs=64k --iodepth=16 --size=16M --verify=crc32c --verify_fatal=1
rc1=$?
sleep 0.5 # a status refresh
w1=$(sum_bytes written) r1=$(sum_bytes read)
lbfo_fio "$T/f2r.json" --rw=read --bs=64k --iodepth=16 --size=16M --verify=crc32c --verify_fatal=1
rc2=$?
sleep 0.5
r2=$(sum_bytes read)
e1=$(fio_field "$T/f2w.json" .error 2>/dev/null) wb=$(fio_field "$T/f2w.json" .write.io_bytes 2>/dev/null)
vb=$(fio_field "$T/f2w.json" .read.io_bytes 2>/dev/null)
e2=$(fio_field "$T/f2r.json" .error 2>/dev/null) rb=$(fio_field "$T/f2r.json" .read.io_bytes 2>/dev/null)
ioe=$(lbfo_status '.lus[0].io_errors')
if [ "$rc1" = 0 ] && [ "$e1" = 0 ] && [ "$wb" = $((16 * MiB)) ] && [ "$vb" = $((16 * MiB)) ] &&
   [ "$rc2" = 0 ] && [ "$e2" = 0 ] && [ "$rb" = $((16 * MiB)) ] &&
   [ "$((w1 - w0))" = "$wb" ] && [ "$((r1 - r0))" = "$vb" ] && [ "$((r2 - r1))" = "$rb" ] && [ "$ioe" = 0 ]; then
	pass "$NBD (2): fio randwrite 64k depth 16 16M verify=crc32c, then a read-only verify pass: 0 errors; status bytes written/read = fio's"
else
	fail "$NBD (2): fio 64k verify: write pass rc=$rc1 err=$e1 written=$wb verified=$vb (status +$((w1 - w0)) written, +$((r1 - r0)) read); read pass rc=$rc2 err=$e2 read=$rb (status +$((r2 - r1))); io_errors=$ioe $(tail -2 "$LBFO_LOG")"
fi

# ---------------------------------------------------------------- (3) fio 4 KiB randrw depth 32 verify
lbfo_fio "$T/f3.json" --rw=randrw --bs=4k --iodepth=32 --size=8M --offset=16M \
	--verify=crc32c --verify_fatal=1 --verify_backlog=256
rc=$?
e=$(fio_field "$T/f3.json" .error 2>/dev/null) wb=$(fio_field "$T/f3.json" .write.io_bytes 2>/dev/null)
rb=$(fio_field "$T/f3.json" .read.io_bytes 2>/dev/null)
if [ "$rc" = 0 ] && [ "$e" = 0 ] && [ "${wb:-0}" -gt 0 ] && [ "${rb:-0}" -gt 0 ]; then
	pass "$NBD (3): fio randrw 4k depth 32 verify=crc32c (verify_backlog): 0 errors ($wb bytes written, $rb read)"
else
	fail "$NBD (3): fio randrw 4k: rc=$rc err=$e written=$wb read=$rb $(tail -2 "$LBFO_LOG")"
fi

# ---------------------------------------------------------------- (4) nbdcopy, 4 connections
head -c 32M /dev/urandom >"$T/src.img"
rm -f "$T/back.img"
if timeout 60 nbdcopy -v --threads=4 --connections=4 "$T/src.img" "$(lbfo_uri)" 2>"$T/nbdcopy.err" &&
   grep -q "^nbdcopy: connections=4 " "$T/nbdcopy.err" &&
   timeout 60 nbdcopy --threads=4 --connections=4 "$(lbfo_uri)" "$T/back.img" &&
   cmp -n $((32 * MiB)) "$T/src.img" "$T/back.img"; then
	pass "$NBD (4): nbdcopy --connections=4 (multi-conn: nbdcopy used 4) 32M in, the LU out, byte-equal"
else
	fail "$NBD (4): nbdcopy multi-conn round trip: $(grep -m1 '^nbdcopy: connections' "$T/nbdcopy.err") $(grep -v '^libnbd' "$T/nbdcopy.err" | tail -2)"
fi
rm -f "$T/back.img"

# ---------------------------------------------------------------- (5) qemu-img
head -c 8M /dev/urandom >"$T/q.img"
if timeout 60 qemu-img convert -n -f raw -O raw "$T/q.img" "$(lbfo_uri)" 2>"$T/q.err" &&
   timeout 60 qemu-img dd -f raw -O raw if="$(lbfo_uri)" of="$T/q.back" bs=1M count=8 2>>"$T/q.err" &&
   cmp "$T/q.img" "$T/q.back"; then
	pass "$NBD (5): qemu-img convert + dd round trip"
else
	fail "$NBD (5): qemu-img round trip: $(tail -2 "$T/q.err")"
fi

# ---------------------------------------------------------------- (6) nbdsh, structured replies on and off
for sr in 1 0; do
	mode=$([ $sr = 1 ] && echo on || echo off)
	NBD_URI=$(lbfo_uri) NBD_SR=$sr NBD_BASE=$((64 * MiB)) NBD_WWID=$WWID NBD_WANT_TRIM=1 \
		nbdsh_ -c "exec(open('$T/nbdsh_checks.py').read())" >"$T/nbdsh.$sr" 2>&1
	rc=$?
	nok=$(grep -c '^ok ' "$T/nbdsh.$sr")
	if [ "$rc" = 0 ] && grep -q '^done$' "$T/nbdsh.$sr" && ! grep -q '^bad ' "$T/nbdsh.$sr"; then
		pass "$NBD (6): nbdsh, structured replies $mode: $nok checks (pwrite/pread, 32 MiB, FUA also on read and flush, flush, zero +/- NO_HOLE, trim, block sizes, multi-conn, EINVAL unaligned/past end, ENOSPC, over-maximum requests, still serving$([ $sr = 1 ] && echo ", DF, no meta context, OPT_LIST/INFO/GO/ABORT"))"
	else
		while IFS= read -r l; do fail "$NBD (6): nbdsh, structured replies $mode: ${l#bad }"; done < <(grep '^bad ' "$T/nbdsh.$sr")
		grep -q '^done$' "$T/nbdsh.$sr" || fail "$NBD (6): nbdsh, structured replies $mode: stopped (rc=$rc) after $nok checks: $(tail -3 "$T/nbdsh.$sr")"
	fi
	grep '^info ' "$T/nbdsh.$sr" | sed "s/^info /  sr $mode: /"
done
kill -0 "$LBFO_PID" 2>/dev/null || fail "$NBD (6): the server died: $(tail -5 "$LBFO_LOG")"

# ---------------------------------------------------------------- (7) raw protocol abuse
raw_checks "$NBD (7) raw options" "unix:$LBFO_SOCK" opts
# a client that closes in the middle of a write's payload: 4 MiB of known data around the
# write (126..130 MiB), the write claims 128..129 MiB
head -c 4M /dev/urandom >"$T/around.img"
nbdsh_io "$(lbfo_uri)" write $((126 * MiB)) "$T/around.img" 2>"$T/io.err" || fail "$NBD (7): pattern write: $(tail -2 "$T/io.err")"
n0=$(log_lines "$LBFO_LOG")
raw_checks "$NBD (7) half a write" "unix:$LBFO_SOCK" halfwrite $((128 * MiB))
sleep 0.5
size=$(timeout 20 nbdinfo --size "$(lbfo_uri)" 2>&1)
nbdsh_io "$(lbfo_uri)" read $((126 * MiB)) "$T/around.back" $((4 * MiB)) 2>>"$T/io.err"
if kill -0 "$LBFO_PID" 2>/dev/null && [ "$size" = "$SIZE" ] &&
   cmp -n $((2 * MiB)) "$T/around.img" "$T/around.back" &&
   cmp -i $((3 * MiB)) -n $((1 * MiB)) "$T/around.img" "$T/around.back"; then
	pass "$NBD (7): a client closing in the middle of a write: server alive, the next nbdinfo answers, data outside the write intact"
else
	fail "$NBD (7): after half a write: alive=$(kill -0 "$LBFO_PID" 2>/dev/null && echo yes || echo no) nbdinfo --size '$size'; $(tail -2 "$T/io.err"); log: $(new_log "$LBFO_LOG" "$n0")"
fi
note "log after half a write: $(new_log "$LBFO_LOG" "$n0" | tr '\n' '|')"
head -c 256K /dev/urandom >"$T/disc.img"
raw_checks "$NBD (7) disconnect" "unix:$LBFO_SOCK" disc $((131 * MiB)) "$T/disc.img"
nbdsh_io "$(lbfo_uri)" read $((131 * MiB)) "$T/disc.back" $((256 * 1024)) 2>>"$T/io.err"
check "$NBD (7): the write before NBD_CMD_DISC landed" cmp -s "$T/disc.img" "$T/disc.back"
# clients killed (SIGKILL) with 32 requests of 1 MiB in flight, writing and reading: the
# server writes replies into dead sockets. (--thread: one fio process, no job child that
# would survive the kill and go on writing.)
for rw in randwrite randread; do
	fio --name=kill --thread --ioengine=nbd --uri="$(lbfo_uri)" --rw=$rw --bs=1M --iodepth=32 \
		--size=96M --offset=160M --time_based --runtime=20 >/dev/null 2>&1 &
	kpid=$!
	sleep 1.5
	kill -KILL "$kpid" 2>/dev/null
	wait "$kpid" 2>/dev/null
done
lbfo_wait_status '.lus[0].clients_open == 0 and ([.lus[0].paths[].outstanding] | add) == 0' 5
open=$(lbfo_status '.lus[0].clients_open') out=$(lbfo_status '[.lus[0].paths[].outstanding] | add')
size=$(timeout 20 nbdinfo --size "$(lbfo_uri)" 2>&1)
if kill -0 "$LBFO_PID" 2>/dev/null && [ "$size" = "$SIZE" ] && [ "$open" = 0 ] && [ "$out" = 0 ]; then
	pass "$NBD (7): clients killed with 32 x 1 MiB writes / reads in flight: connections closed, nothing outstanding, server serving"
else
	fail "$NBD (7): after clients killed mid-I/O: alive=$(kill -0 "$LBFO_PID" 2>/dev/null && echo yes || echo no) clients_open=$open outstanding=$out nbdinfo '$size': $(tail -5 "$LBFO_LOG")"
fi
n0=$(log_lines "$LBFO_LOG")
raw_checks "$NBD (7) bad magic" "unix:$LBFO_SOCK" badmagic
sleep 0.3
pid=$(sed -n 's/^peer pid //p' "$T/raw.out")
l=$(new_log "$LBFO_LOG" "$n0" | grep -iE "magic|pid $pid|client" | head -3)
if [ -n "$l" ] && kill -0 "$LBFO_PID" 2>/dev/null; then
	pass "$NBD (7): bad request magic logged: $l"
else
	fail "$NBD (7): bad request magic: no log line naming it or the peer (client pid $pid); the log: $(cat "$LBFO_LOG")"
fi
check "$NBD (7): serves after the abuse" test "$(timeout 20 nbdinfo --size "$(lbfo_uri)" 2>&1)" = "$SIZE"

# ---------------------------------------------------------------- (8) unknown export
msg=$(timeout 20 nbdinfo "nbd+unix:///nosuch-export?socket=$LBFO_SOCK" 2>&1)
rc=$?
if [ "$rc" != 0 ] && grep -q "nosuch-export" <<<"$msg" && ! grep -q "export-size" <<<"$msg"; then
	pass "$NBD (8): unknown export name refused, named: $(grep -m1 nosuch <<<"$msg")"
else
	fail "$NBD (8): unknown export (rc=$rc): $msg"
fi

# ---------------------------------------------------------------- (12a) nbd-client -l, unix socket
msg=$(timeout 20 nbd-client -l -u "$LBFO_SOCK" 2>&1)
# nbd-client -l prints "NAME: DESCRIPTION" (or just NAME) per export
if grep -qE "^$WWID(: .*paths up 2/2|\$)" <<<"$msg"; then
	pass "$NBD (12): nbd-client -l -u SOCKET lists $WWID: $(grep "^$WWID" <<<"$msg")"
else
	fail "$NBD (12): nbd-client -l -u: $msg"
fi

# ---------------------------------------------------------------- (10) failover under verified writes
ioe0=$(lbfo_status '.lus[0].io_errors')   # case 6's refused requests count too
lbfo_fio "$T/f10.json" --rw=randwrite --bs=64k --iodepth=16 --size=96M --offset=160M --rate=16m \
	--verify=crc32c --verify_fatal=1 &
fpid=$!
sleep 2
tb_link_down 1
wait "$fpid"
rc=$?
sleep 0.5
e=$(fio_field "$T/f10.json" .error 2>/dev/null) wb=$(fio_field "$T/f10.json" .write.io_bytes 2>/dev/null)
vb=$(fio_field "$T/f10.json" .read.io_bytes 2>/dev/null) rt=$(fio_field "$T/f10.json" '.job_runtime' 2>/dev/null)
ioe=$(lbfo_status '.lus[0].io_errors') fo=$(lbfo_status '.lus[0].failovers')
p1=$(lbfo_status '.lus[0].paths[0].session')
if [ "$rc" = 0 ] && [ "$e" = 0 ] && [ "$wb" = $((96 * MiB)) ] && [ "$vb" = $((96 * MiB)) ] &&
   [ "$ioe" = "$ioe0" ] && [ "$p1" != up ] && [ "${fo:-0}" -ge 1 ]; then
	pass "$NBD (10): path 1 down 2 s into ${rt} ms of verified 64k writes: 0 errors, 96M written and verified, failovers $fo"
else
	fail "$NBD (10): failover: fio rc=$rc err=$e written=$wb verified=$vb runtime=${rt}ms io_errors=$ioe0->$ioe failovers=$fo path1=$p1"
fi
tb_link_up 1

# ---------------------------------------------------------------- (6b) a trim frees the LU's blocks
# (10) wrote 160..256 MiB in full: trim 160..224 MiB and the LU file must shrink by ~64 MiB
k0=$(du -k "$LUFILE" | cut -f1)
NBD_URI=$(lbfo_uri) nbdsh_ -c '
import os
h.connect_uri(os.environ["NBD_URI"])
h.trim(64 << 20, 160 << 20)
h.flush()
h.shutdown()' >"$T/trim.out" 2>&1
rc=$?
k1=$(du -k "$LUFILE" | cut -f1)
if [ "$rc" = 0 ] && [ $((k0 - k1)) -ge $((60 * 1024)) ]; then
	pass "$NBD (6): trim of 64 MiB reached the LU as UNMAP: its file went from $((k0 / 1024)) to $((k1 / 1024)) MiB allocated"
else
	fail "$NBD (6): trim of 64 MiB (rc=$rc $(tail -2 "$T/trim.out")): LU file $k0 -> $k1 KiB allocated"
fi

# ---------------------------------------------------------------- (13) lbfoctl on the control socket
# path 1 is back: its session comes up again (probed with backoff)
lbfo_wait_status '[.lus[0].paths[] | select(.session == "up")] | length == 2' 20 ||
	fail "$NBD (10): path 1 not up again 20 s after its link came back: $(lbfo_status '[.lus[0].paths[].session] | join(" ")')"
if [ -x "$CTL" ]; then
	st=$("$CTL" --socket "$T/ctl.sock" status --json 2>&1)
	"$CTL" --socket "$T/ctl.sock" policy set round-robin >"$T/ctl.out" 2>&1
	prc=$?
	pol=$("$CTL" --socket "$T/ctl.sock" status --json 2>/dev/null | jq -r '.lus[0].policy')
	if [ "$(jq -r '.lus[0].export' <<<"$st" 2>/dev/null)" = "$WWID" ] &&
	   [ "$(jq -r '[.lus[0].paths[] | select(.session == "up")] | length' <<<"$st" 2>/dev/null)" = 2 ] &&
	   [ "$prc" = 0 ] && [ "$pol" = round-robin ]; then
		pass "$NBD (13): lbfoctl on control=SOCKET: status --json shows $WWID with 2 paths up; policy set round-robin takes"
	else
		fail "$NBD (13): lbfoctl: status '$(head -c 300 <<<"$st")', policy set rc=$prc ($(cat "$T/ctl.out")), policy now '$pol'"
	fi
else
	fail "$NBD (13): $CTL not built"
fi

# ---------------------------------------------------------------- (11) SIGTERM, a client connected
timeout 60 python3 "$T/nbd_raw.py" "unix:$LBFO_SOCK" idle 30 >"$T/idle.out" 2>&1 &
IDLE_PID=$!
for ((i = 0; i < 50; i++)); do grep -q '^ready$' "$T/idle.out" && break; sleep 0.1; done
grep -q '^ready$' "$T/idle.out" || fail "$NBD (11): the idle client did not connect: $(cat "$T/idle.out")"
pid=$LBFO_PID
t0=$(date +%s%N)
kill -TERM "$pid"
for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	fail "$NBD (11): still running 5 s after SIGTERM (a client connected): $(tail -3 "$LBFO_LOG")"
	lbfo_stop
else
	wait "$pid"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	LBFO_PID=
	if [ "$rc" = 0 ] && [ ! -e "$LBFO_SOCK" ]; then
		pass "$NBD (11): SIGTERM with a client connected -> exit 0 in $ms ms, socket removed"
	else
		fail "$NBD (11): SIGTERM: exit $rc in $ms ms, socket $([ -e "$LBFO_SOCK" ] && echo "left behind" || echo gone): $(tail -3 "$LBFO_LOG")"
	fi
fi
kill "$IDLE_PID" 2>/dev/null; wait "$IDLE_PID" 2>/dev/null; IDLE_PID=
cp "$LBFO_LOG" "$T/main.log"   # lbfo_start reuses LBFO_LOG

# ---------------------------------------------------------------- (9) bad configuration
for kv in "nop_timeout=abc|nop_timeout: invalid value 'abc'" "bogus=1|unknown parameter 'bogus'" \
	"policy=fastest|unknown policy 'fastest'"; do
	rm -f "$T/never.sock"
	msg=$(lbfo_run_fail "${KEYS[@]}" "${kv%%|*}")
	rc=$?
	want_rc=1
	[ "$LBFO_SERVER" = nbdkit ] && [ "$rc" != 0 ] && want_rc=$rc
	if [ "$rc" = "$want_rc" ] && grep -qF "${kv#*|}" <<<"$msg" && [ ! -e "$T/never.sock" ]; then
		pass "$NBD (9): ${kv%%|*} refused: exit $rc, \"${kv#*|}\", no socket"
	else
		fail "$NBD (9): ${kv%%|*}: exit $rc (want 1), socket $([ -e "$T/never.sock" ] && echo created || echo none): $msg"
	fi
done

# ---------------------------------------------------------------- (12b) TCP, read-only, SIGINT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
TCP_PORT=$(free_port)
TCP_LOG=$T/tcp.log
# SIGINT at its default: a background job of a script would inherit it ignored
if [ "$LBFO_SERVER" = lbfo-nbd ]; then
	env --default-signal=INT "$LBFO_NBD" -r -p "$TCP_PORT" -i 127.0.0.1 "${KEYS[@]}" \
		status_file="$T/tcp-status.json" status_interval=200 >"$TCP_LOG" 2>&1 &
else
	env --default-signal=INT nbdkit -f -r -p "$TCP_PORT" -i 127.0.0.1 "$LBFO_PLUGIN" "${KEYS[@]}" >"$TCP_LOG" 2>&1 &
fi
TCP_PID=$!
for ((i = 0; i < 200; i++)); do
	kill -0 "$TCP_PID" 2>/dev/null || break
	[ -n "$(ss -Hltn "sport = :$TCP_PORT" 2>/dev/null)" ] && break
	sleep 0.1
done
TCP=nbd://127.0.0.1:$TCP_PORT
if [ -z "$(ss -Hltn "sport = :$TCP_PORT" 2>/dev/null)" ]; then
	fail "$NBD (12): -r -p $TCP_PORT -i 127.0.0.1 did not listen: $(tail -5 "$TCP_LOG")"
else
	if [ "$LBFO_SERVER" = lbfo-nbd ]; then
		check "$NBD (12): TCP ready notice 'serving 1 export(s) on 127.0.0.1:$TCP_PORT'" \
			grep -q "^lbfo-nbd: notice: serving 1 export(s) on 127.0.0.1:$TCP_PORT\$" "$TCP_LOG"
	fi
	msg=$(timeout 20 nbd-client -l 127.0.0.1 "$TCP_PORT" 2>&1)
	if grep -qE "^$WWID(: |\$)" <<<"$msg"; then
		pass "$NBD (12): nbd-client -l 127.0.0.1 $TCP_PORT lists $WWID"
	else
		fail "$NBD (12): nbd-client -l 127.0.0.1 $TCP_PORT: $msg"
	fi
	ro=$(timeout 20 nbdinfo --json "$TCP" 2>&1 | jq -r '.exports[0].is_read_only' 2>/dev/null)
	nbdsh_io "$TCP" read $((126 * MiB)) "$T/around.tcp" $((2 * MiB)) 2>"$T/io.err"
	# a 4 KiB write, then 8 MiB ones (3 tries): EPERM, and the connection stays
	err=$(NBD_URI=$TCP nbdsh_ -c '
import os
res = []
for n in (4096, 8 << 20, 8 << 20, 8 << 20):
    c = nbd.NBD()
    c.connect_uri(os.environ["NBD_URI"])
    c.set_strict_mode(0)
    try:
        c.pwrite(bytes(n), 0)
        r = "written"
    except nbd.Error as ex:
        r = str(ex.errno) if "cookie" not in ex.string else "no-matching-cookie"
    try:
        c.pread(4096, 0)
    except nbd.Error:
        r += "+dead"
    res.append(r)
print(" ".join(res))' 2>&1)
	if [ "$ro" = true ] && cmp -n $((2 * MiB)) "$T/around.img" "$T/around.tcp" && [ "$err" = "EPERM EPERM EPERM EPERM" ]; then
		pass "$NBD (12): -r on TCP: read-only export, reads the data, writes of 4 KiB and 8 MiB -> EPERM, connection stays"
	else
		fail "$NBD (12): -r on TCP: is_read_only=$ro, writes of 4 KiB, 8 MiB x 3: '$err' (want EPERM each, connection alive), $(tail -2 "$T/io.err")"
	fi
	n0=$(log_lines "$TCP_LOG")
	raw_checks "$NBD (12) TCP bad magic" "tcp:127.0.0.1:$TCP_PORT" badmagic
	sleep 0.3
	cport=$(awk '/^peer/ {print $3}' "$T/raw.out")
	l=$(new_log "$TCP_LOG" "$n0" | grep -E "127\.0\.0\.1.*\b$cport\b" | head -2)
	if [ -n "$cport" ] && [ -n "$l" ]; then
		pass "$NBD (12): bad magic over TCP logged naming the peer 127.0.0.1:$cport: $l"
	else
		fail "$NBD (12): bad magic over TCP: no log line naming 127.0.0.1 port $cport: $(new_log "$TCP_LOG" "$n0")"
	fi
	t0=$(date +%s%N)
	kill -INT "$TCP_PID"
	for ((i = 0; i < 50; i++)); do kill -0 "$TCP_PID" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$TCP_PID" 2>/dev/null; then
		fail "$NBD (12): still running 5 s after SIGINT: $(tail -3 "$TCP_LOG")"
	else
		wait "$TCP_PID"
		rc=$?
		TCP_PID=
		ms=$((($(date +%s%N) - t0) / 1000000))
		if [ "$rc" = 0 ] && [ -z "$(ss -Hltn "sport = :$TCP_PORT" 2>/dev/null)" ]; then
			pass "$NBD (12): SIGINT -> exit 0 in $ms ms, port closed"
		else
			fail "$NBD (12): SIGINT: exit $rc in $ms ms: $(tail -3 "$TCP_LOG")"
		fi
	fi
fi
tcp_stop

# ---------------------------------------------------------------- (14) two LUs
if tb_add_target && WWID2=$(tb_lu_wwid 2 1) &&
   lbfo_start portal="$P1" portal="$P2" lun=1; then
	names=$(timeout 20 nbdinfo --list --json "$(lbfo_uri)" 2>&1 | jq -r '.exports[]."export-name"' 2>/dev/null | sort | tr '\n' ' ')
	want=$(printf '%s\n' "$WWID" "$WWID2" | sort | tr '\n' ' ')
	s2=$(timeout 20 nbdinfo --size "nbd+unix:///$WWID2?socket=$LBFO_SOCK" 2>&1)
	def=$(timeout 20 nbdinfo --size "$(lbfo_uri)" 2>&1)
	drc=$?
	notice=ok
	[ "$LBFO_SERVER" = lbfo-nbd ] && ! grep -q "^lbfo-nbd: notice: serving 2 export(s) on $LBFO_SOCK\$" "$LBFO_LOG" && notice=missing
	if [ "$names" = "$want" ] && [ "$s2" = "$SIZE" ] && [ "$drc" != 0 ] && [ "$notice" = ok ]; then
		pass "$NBD (14): two LUs (SendTargets): 'serving 2 export(s)', exports $names, no default export"
	else
		fail "$NBD (14): two LUs: exports '$names' (want '$want'), size of $WWID2 '$s2', default export rc=$drc ('$def'), notice $notice"
	fi
	lbfo_stop
	check "$NBD (14): SIGTERM (no client) -> exit 0" test "$LBFO_RC" = 0
else
	fail "$NBD (14): two LUs: second target or start: $(tail -3 "$LBFO_LOG")"
fi
cp "$LBFO_LOG" "$T/two.log"

# ---------------------------------------------------------------- (11b) SIGTERM, every path down
# every state ends (as tests/integration/test_safety.sh asks of nbdkit + plugin): with both
# links down and a client's write waiting for a path (no_path_timeout 60 s), SIGTERM ends the
# server within 5 s, the write fails, exit 0
if lbfo_start "${KEYS[@]}" no_path_timeout=60000; then
	tb_link_down 1
	tb_link_down 2
	timeout 60 qemu-io -f raw -c 'write -P 0x77 0 4k' "$(lbfo_uri)" >"$T/waiting.out" 2>&1 &
	qpid=$!
	sleep 2
	pid=$LBFO_PID
	t0=$(date +%s%N)
	kill -TERM "$pid"
	for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	ms=$((($(date +%s%N) - t0) / 1000000))
	if kill -0 "$pid" 2>/dev/null; then
		lbfo_stop
		rc="still running after 15 s"
	else
		wait "$pid"
		rc=$?
		LBFO_PID=
	fi
	wait "$qpid" 2>/dev/null
	tb_link_up 1
	tb_link_up 2
	if [ "$rc" = 0 ] && [ "$ms" -le 5000 ] && grep -q "write failed" "$T/waiting.out"; then
		pass "$NBD (11): SIGTERM with every path down and a write waiting -> exit 0 in $ms ms; the write failed ($(grep -m1 "write failed" "$T/waiting.out"))"
	else
		fail "$NBD (11): SIGTERM with every path down and a write waiting: exit $rc after $ms ms (want 0 within 5000 ms; nbdkit + plugin: ~120 ms); the write: $(head -2 "$T/waiting.out"); log: $(tail -3 "$LBFO_LOG")"
	fi
else
	fail "$NBD (11): start for SIGTERM with every path down: $(tail -3 "$LBFO_LOG")"
fi

if [ "$LBFO_FAILED" != 0 ]; then
	echo "--- $LBFO_SERVER log (cases 1-13):"; cat "$T/main.log" 2>/dev/null || cat "$LBFO_LOG"
	echo "--- TCP instance log:"; cat "$TCP_LOG" 2>/dev/null
	echo "--- two-LU instance log:"; cat "$T/two.log" 2>/dev/null
	echo "--- all-paths-down instance log:"; cat "$LBFO_LOG"
fi
exit "$LBFO_FAILED"

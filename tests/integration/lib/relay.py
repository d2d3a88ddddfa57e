#!/usr/bin/env python3
"""A TCP relay for one path, able to hold the bytes it carries and release them late.

    relay.py --listen PORT --target ADDR:PORT --control CTL.sock   (PORT 0 = pick; prints "PORT n")
    relay.py --cmd CTL.sock COMMAND                                (one command, prints the answer)

Each accepted connection (on 127.0.0.1) is forwarded to the target. Commands on
the control socket (one line in, one line out):

  pass     forward normally (the default). Anything held is released first.
  hold     keep reading both directions (so the kernels ACK every byte) but
           forward nothing: the bytes are buffered per connection and direction.
           Connections accepted while holding are held too; they reach the target
           only at release, and not at all if their initiator side is gone by then.
  release  write every held initiator->target byte to the target on the SAME
           target-side connection, in order; wait up to --reply-wait seconds for
           what the target does about it; back to pass. The answer says per
           connection how many bytes were written, the target side's state before
           the write (open, eof = it had sent FIN, reset), the write's result (ok,
           EPIPE, ECONNRESET, ...) and how many bytes the target sent back after it.
  stats    per connection: bytes each way, held bytes, state of both sides.

While holding, an initiator side that closes or resets leaves the target side
open (no close, no shutdown) until release has been attempted; then it is closed.
This models a write sitting in the network: the target sees it late, on the
connection it was sent on. Python stdlib only.
"""
import argparse
import errno
import os
import select
import selectors
import socket
import sys
import time

BUF = 65536
MAX_OUT = 4 << 20  # stop reading a side whose peer's outgoing buffer is this large


def errname(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


class Conn:
    seq = 0

    def __init__(self, client):
        Conn.seq += 1
        self.id = Conn.seq
        self.c = client          # initiator side
        self.t = None            # target side (None until connected / while held new)
        self.t_connecting = False
        self.out = {"c2t": bytearray(), "t2c": bytearray()}    # to be written now
        self.held = {"c2t": bytearray(), "t2c": bytearray()}   # held back
        self.bytes = {"c2t": 0, "t2c": 0}                      # received from each side
        self.c_state = "open"    # open, eof, reset, closed
        self.t_state = "none"    # none, connecting, open, eof, reset, closed, failed
        self.c_shut = False      # we sent FIN to the initiator
        self.t_shut = False
        self.done = False


class Relay:
    def __init__(self, args):
        self.args = args
        host, port = args.target.rsplit(":", 1)
        self.target = (host, int(port))
        self.sel = selectors.DefaultSelector()
        self.holding = False
        self.conns = {}
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((args.bind, args.listen))
        self.lsock.listen(16)
        self.lsock.setblocking(False)
        self.sel.register(self.lsock, selectors.EVENT_READ, ("listen", None))
        try:
            os.unlink(args.control)
        except FileNotFoundError:
            pass
        self.csock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.csock.bind(args.control)
        self.csock.listen(4)
        self.csock.setblocking(False)
        self.sel.register(self.csock, selectors.EVENT_READ, ("ctl-listen", None))
        self.ctl_bufs = {}
        print("PORT %d" % self.lsock.getsockname()[1], flush=True)

    def log(self, msg):
        print("relay: %s" % msg, file=sys.stderr, flush=True)

    # ---- selector bookkeeping
    def _want(self, conn, side):
        """events wanted on conn's side ('c' or 't')"""
        s = conn.c if side == "c" else conn.t
        if s is None:
            return 0
        ev = 0
        if side == "t" and conn.t_connecting:
            return selectors.EVENT_WRITE
        state = conn.c_state if side == "c" else conn.t_state
        other_out = conn.out["c2t" if side == "c" else "t2c"]
        if state == "open" and (self.holding or len(other_out) < MAX_OUT):
            ev |= selectors.EVENT_READ
        my_out = conn.out["t2c" if side == "c" else "c2t"]
        if my_out and state in ("open", "eof"):
            ev |= selectors.EVENT_WRITE
        return ev

    def _update(self, conn):
        for side in ("c", "t"):
            s = conn.c if side == "c" else conn.t
            if s is None or s.fileno() < 0:
                continue
            ev = self._want(conn, side)
            try:
                key = self.sel.get_key(s)
            except KeyError:
                key = None
            if ev == 0:
                if key:
                    self.sel.unregister(s)
            elif key is None:
                self.sel.register(s, ev, ("conn", (conn, side)))
            elif key.events != ev:
                self.sel.modify(s, ev, ("conn", (conn, side)))

    def _close_sock(self, s, abortive=False):
        if s is None:
            return
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        if abortive:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
        try:
            s.close()
        except OSError:
            pass

    def _finish(self, conn, abortive=False):
        if conn.done:
            return
        self._close_sock(conn.c, abortive)
        self._close_sock(conn.t, abortive)
        if conn.c_state in ("open", "eof"):
            conn.c_state = "closed"
        if conn.t_state in ("open", "eof", "connecting"):
            conn.t_state = "closed"
        conn.done = True

    # ---- connections
    def _connect_target(self, conn):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setblocking(False)
        t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.t = t
        rc = t.connect_ex(self.target)
        if rc in (0,):
            conn.t_state = "open"
        elif rc in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
            conn.t_connecting = True
            conn.t_state = "connecting"
        else:
            conn.t_state = "failed"
            self.log("conn %d: connect %s: %s" % (conn.id, self.target, errno.errorcode.get(rc, rc)))
            self._finish(conn, abortive=True)
            return
        self._update(conn)

    def accept(self):
        try:
            c, _ = self.lsock.accept()
        except OSError:
            return
        c.setblocking(False)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(c)
        self.conns[conn.id] = conn
        if self.holding:
            conn.t_state = "none"    # connected to the target only at release
            self._update(conn)
        else:
            self._connect_target(conn)

    def _recv(self, conn, side):
        s = conn.c if side == "c" else conn.t
        d = "c2t" if side == "c" else "t2c"
        try:
            data = s.recv(BUF)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._side_gone(conn, side, "reset" if e.errno == errno.ECONNRESET else "reset")
            return
        if not data:
            self._side_gone(conn, side, "eof")
            return
        conn.bytes[d] += len(data)
        if self.holding:
            # initiator gone: what the target says is for no one
            if d == "t2c" and conn.c_state != "open":
                return
            conn.held[d] += data
        else:
            conn.out[d] += data

    def _side_gone(self, conn, side, how):
        if side == "c":
            conn.c_state = how
        else:
            conn.t_state = how
        if self.holding:
            # keep the other side exactly as it is: no close, no shutdown
            try:
                self.sel.unregister(conn.c if side == "c" else conn.t)
            except (KeyError, ValueError):
                pass
            return
        self._pass_progress(conn)

    def _pass_progress(self, conn):
        """in pass mode: propagate EOF / reset once the pending bytes are out"""
        if conn.done:
            return
        if conn.c_state == "reset" or conn.t_state in ("reset", "failed"):
            self._finish(conn, abortive=True)
            return
        if conn.c_state == "eof" and not conn.out["c2t"] and conn.t is not None and not conn.t_shut \
                and conn.t_state in ("open", "eof"):
            try:
                conn.t.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.t_shut = True
        if conn.t_state == "eof" and not conn.out["t2c"] and not conn.c_shut and conn.c_state in ("open", "eof"):
            try:
                conn.c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.c_shut = True
        if conn.c_state != "open" and conn.t_state not in ("open", "connecting") \
                and not conn.out["c2t"] and not conn.out["t2c"]:
            self._finish(conn)

    def _send(self, conn, side):
        s = conn.c if side == "c" else conn.t
        d = "t2c" if side == "c" else "c2t"
        if side == "t" and conn.t_connecting:
            err = conn.t.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            conn.t_connecting = False
            if err:
                conn.t_state = "failed"
                self.log("conn %d: connect %s: %s" % (conn.id, self.target, errno.errorcode.get(err, err)))
                self._finish(conn, abortive=True)
            else:
                conn.t_state = "open"
            return
        buf = conn.out[d]
        if not buf:
            return
        try:
            n = s.send(buf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._side_gone(conn, side, "reset")
            if not self.holding:
                self._finish(conn, abortive=True)
            self.log("conn %d: send %s: %s" % (conn.id, d, errname(e)))
            return
        del buf[:n]

    # ---- commands
    def cmd_stats(self):
        parts = ["mode=%s" % ("hold" if self.holding else "pass")]
        for conn in self.conns.values():
            parts.append("conn=%d c2t=%d t2c=%d held_c2t=%d held_t2c=%d initiator=%s target=%s" % (
                conn.id, conn.bytes["c2t"], conn.bytes["t2c"], len(conn.held["c2t"]),
                len(conn.held["t2c"]), conn.c_state, conn.t_state))
        return "; ".join(parts)

    def cmd_release(self):
        """write the held bytes, synchronously, then watch the targets for reply_wait s"""
        self.holding = False
        results = []
        watch = []   # (conn, result dict) whose initiator is gone: their replies are counted
        for conn in list(self.conns.values()):
            if conn.done:
                continue
            held_c2t = bytes(conn.held["c2t"])
            held_t2c = bytes(conn.held["t2c"])
            conn.held["c2t"].clear()
            conn.held["t2c"].clear()
            r = {"conn": conn.id, "held": len(held_c2t), "written": 0,
                 "target": conn.t_state, "initiator": conn.c_state, "result": "ok", "reply": 0}
            if conn.t is None:
                # accepted while holding: never reached the target
                if conn.c_state == "open":
                    conn.out["c2t"] += held_c2t
                    self._connect_target(conn)
                    r["result"] = "connected-now"
                    r["written"] = len(held_c2t)   # queued behind the connect
                else:
                    r["result"] = "dropped-never-connected"
                    self._finish(conn)
                results.append(r)
                continue
            if conn.c_state == "open":
                # the initiator is still there: back to plain forwarding, in order
                conn.out["c2t"] += held_c2t
                conn.out["t2c"] += held_t2c
                r["written"] = len(held_c2t)
                r["result"] = "queued"
                results.append(r)
                self._update(conn)
                continue
            # the initiator side is gone: write straight to the same target connection
            if held_c2t or conn.out["c2t"]:
                data = bytes(conn.out["c2t"]) + held_c2t
                conn.out["c2t"].clear()
                try:
                    self.sel.unregister(conn.t)
                except (KeyError, ValueError):
                    pass
                try:
                    conn.t.setblocking(True)
                    conn.t.settimeout(5.0)
                    conn.t.sendall(data)
                    r["written"] = len(data)
                except OSError as e:
                    r["result"] = errname(e)
                finally:
                    try:
                        conn.t.setblocking(False)
                    except OSError:
                        pass
            if r["result"] == "ok":
                watch.append((conn, r))
            else:
                self._finish(conn, abortive=True)
            results.append(r)
        # what do the targets do with the late bytes? (an answer = they were executed)
        end = time.monotonic() + self.args.reply_wait
        pending = {conn.t.fileno(): (conn, r) for conn, r in watch}
        poller = select.poll()
        for fd in pending:
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        while pending:
            left = end - time.monotonic()
            if left <= 0:
                break
            for fd, _ in poller.poll(left * 1000):
                conn, r = pending[fd]
                try:
                    data = conn.t.recv(BUF)
                    if data:
                        r["reply"] += len(data)
                        continue
                    r["after"] = "eof"
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    r["result"] = errname(e)
                poller.unregister(fd)
                del pending[fd]
        for conn, r in watch:
            err = conn.t.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err and r["result"] == "ok":
                r["result"] = errno.errorcode.get(err, str(err))
            self._finish(conn)
        out = []
        for r in results:
            s = "conn=%d initiator=%s target=%s held=%d written=%d result=%s reply=%d" % (
                r["conn"], r["initiator"], r["target"], r["held"], r["written"], r["result"], r["reply"])
            if "after" in r:
                s += " then=" + r["after"]
            out.append(s)
        for conn in list(self.conns.values()):
            if not conn.done:
                self._pass_progress(conn)
                self._update(conn)
        return "released " + ("; ".join(out) if out else "nothing")

    def command(self, line):
        line = line.strip()
        if line == "hold":
            self.holding = True
            for conn in self.conns.values():
                if not conn.done:
                    self._update(conn)
            return "ok hold"
        if line == "release":
            return self.cmd_release()
        if line == "pass":
            if self.holding:
                return "ok pass " + self.cmd_release()
            return "ok pass"
        if line == "stats":
            return self.cmd_stats()
        return "error: unknown command '%s' (pass, hold, release, stats)" % line

    def ctl_accept(self):
        try:
            s, _ = self.csock.accept()
        except OSError:
            return
        s.setblocking(False)
        self.ctl_bufs[s] = bytearray()
        self.sel.register(s, selectors.EVENT_READ, ("ctl", s))

    def ctl_read(self, s):
        try:
            data = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        buf = self.ctl_bufs[s]
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            ans = self.command(line.decode(errors="replace"))
            self.log("command %s -> %s" % (line.decode(errors="replace"), ans))
            try:
                s.setblocking(True)
                s.settimeout(2.0)
                s.sendall(ans.encode() + b"\n")
                s.setblocking(False)
            except OSError:
                pass
        if not data:
            self.sel.unregister(s)
            del self.ctl_bufs[s]
            s.close()

    def run(self):
        while True:
            for key, ev in self.sel.select(1.0):
                kind, obj = key.data
                if kind == "listen":
                    self.accept()
                elif kind == "ctl-listen":
                    self.ctl_accept()
                elif kind == "ctl":
                    self.ctl_read(obj)
                else:
                    conn, side = obj
                    if conn.done:
                        continue
                    if ev & selectors.EVENT_WRITE:
                        self._send(conn, side)
                    if not conn.done and ev & selectors.EVENT_READ:
                        self._recv(conn, side)
                    if not conn.done and not self.holding:
                        self._pass_progress(conn)
                    if not conn.done:
                        self._update(conn)
            # forget finished connections after a while (stats stay short)
            if len(self.conns) > 200:
                for cid in [c.id for c in self.conns.values() if c.done][:100]:
                    del self.conns[cid]


def client(path, command, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(command.encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    sys.stdout.write(buf.decode(errors="replace"))
    return 0 if buf and not buf.startswith(b"error") else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=int, default=0, help="port on --bind (0 = pick one, printed as 'PORT n')")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--target", help="ADDR:PORT to forward to")
    ap.add_argument("--control", help="control UNIX socket path")
    ap.add_argument("--reply-wait", type=float, default=1.0,
                    help="seconds release watches a target for its answer before closing (default 1)")
    ap.add_argument("--cmd", nargs=2, metavar=("CONTROL", "COMMAND"), help="send one command and print the answer")
    ap.add_argument("--timeout", type=float, default=20.0, help="--cmd: seconds to wait for the answer")
    a = ap.parse_args()
    if a.cmd:
        try:
            return client(a.cmd[0], a.cmd[1], a.timeout)
        except OSError as e:
            print("error: %s: %s" % (a.cmd[0], e))
            return 1
    if not a.target or not a.control:
        ap.error("--target and --control are needed")
    if not a.bind.startswith("127."):
        ap.error("--bind must be a loopback address")
    Relay(a).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

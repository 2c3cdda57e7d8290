#!/usr/bin/python3
"""Edge cases against a running server: bad requests get errors and the connection stays
usable; broken handshakes and disconnects mid-request leave the server and the data intact;
two connections see each other's writes after a flush; block status of a half-written
device. Usage: test_edge.py SOCKET (the export: null size=64M memory_backed=1 discard=1)."""
import os
import signal
import socket
import struct
import sys
import time

import nbd

SOCK = sys.argv[1]
SERVER_PID = int(os.environ["SERVER_PID"])  # stopped for a moment to line events up
URI = "nbd+unix:///?socket=" + SOCK
SIZE = 64 << 20
EINVAL, ENOSPC = 22, 28
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class Raw:
    """A minimal NBD client that can send what libnbd refuses to send."""

    def __init__(self, structured=True, meta=True):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(SOCK)
        self.s.settimeout(10)
        hello = self.recv(18)
        assert hello[:16] == b"NBDMAGICIHAVEOPT", hello
        self.s.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
        if structured:
            assert self.option(8, b"")[-1][1] == 1
        if meta:
            q = b"base:allocation"
            data = struct.pack(">I", 0) + struct.pack(">I", 1) + struct.pack(">I", len(q)) + q
            assert self.option(10, data)[0][1] == 4
        r = self.option(7, struct.pack(">IH", 0, 0))
        assert r[-1][1] == 1, r
        self.structured = structured

    def recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def option(self, opt, data):
        self.s.sendall(struct.pack(">QII", 0x49484156454F5054, opt, len(data)) + data)
        out = []
        while True:
            magic, o, typ, ln = struct.unpack(">QIII", self.recv(20))
            assert magic == 0x3E889045565A9 and o == opt
            out.append((o, typ, self.recv(ln)))
            if typ != 3 and typ != 4 and typ != 2:  # not INFO / META_CONTEXT / SERVER
                return out

    def send(self, cmd, off, length, flags=0, cookie=1, payload=b""):
        self.s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, cmd, cookie, off, length) + payload)

    def reply(self):
        """Returns (cookie, error, chunks) where chunks is a list of (type, body)."""
        magic = struct.unpack(">I", self.recv(4))[0]
        if magic == 0x67446698:
            err, cookie = struct.unpack(">IQ", self.recv(12))
            return cookie, err, []
        assert magic == 0x668E33EF, hex(magic)
        chunks, err = [], 0
        while True:
            flags, typ, cookie, ln = struct.unpack(">HHQI", self.recv(16))
            body = self.recv(ln)
            if typ & 0x8000:
                err = struct.unpack(">I", body[:4])[0]
            chunks.append((typ, body))
            if flags & 1:
                return cookie, err, chunks
            magic = struct.unpack(">I", self.recv(4))[0]

    def read(self, off, length, flags=0):
        self.send(0, off, length, flags, cookie=off + 7)
        cookie, err, chunks = self.reply()
        assert cookie == off + 7
        if err:
            return err, None
        data = bytearray(length)
        for typ, body in chunks:
            o = struct.unpack(">Q", body[:8])[0] - off
            if typ == 1:
                data[o:o + len(body) - 8] = body[8:]
            elif typ == 2:
                n = struct.unpack(">I", body[8:12])[0]
                data[o:o + n] = bytes(n)
        return 0, bytes(data)


def still_usable(c, what):
    err, data = c.read(0, 4096)
    check(err == 0 and len(data) == 4096, what + ": connection no longer usable")


# --- bad requests: an error each, and the connection goes on ---------------------------
c = Raw()
pattern = os.urandom(1 << 20)
c.send(1, 0, len(pattern), payload=pattern)
check(c.reply()[1] == 0, "1 MiB write")
check(c.read(SIZE - 4096, 8192)[0] == EINVAL, "read past the end -> EINVAL")
check(c.read(1, 512)[0] == EINVAL, "misaligned read -> EINVAL")
check(c.read(0, 64 << 20)[0] == EINVAL, "read longer than the maximum -> EINVAL")
check(c.read(0, 4096, flags=1 << 9)[0] == EINVAL, "unknown flag -> EINVAL")
c.send(42, 0, 0)
check(c.reply()[1] == EINVAL, "unknown command -> EINVAL")
c.send(1, SIZE - 512, 1024, payload=b"y" * 1024)
check(c.reply()[1] == ENOSPC, "write past the end -> ENOSPC")
c.send(1, 0, 100, payload=b"z" * 100)
check(c.reply()[1] == EINVAL, "misaligned write -> EINVAL, payload skipped")
c.send(1, 0, (40 << 20), payload=bytes(40 << 20))
check(c.reply()[1] == EINVAL, "write over the maximum -> EINVAL after skipping its payload")
still_usable(c, "after bad requests")
err, data = c.read(0, len(pattern))
check(err == 0 and data == pattern, "data intact after refused writes")
err, data = c.read(0, 4096, flags=4)  # DF: one unfragmented data chunk
check(err == 0 and data == pattern[:4096], "DF read")

# --- block status of a half-written device ---------------------------------------------
c.send(7, 0, 4 << 20, cookie=99)
cookie, err, chunks = c.reply()
check(err == 0 and chunks and chunks[0][0] == 5, "block status reply")
if chunks and chunks[0][0] == 5:
    body = chunks[0][1]
    ext = [struct.unpack(">II", body[4 + 8 * i:12 + 8 * i]) for i in range((len(body) - 4) // 8)]
    check(ext[:2] == [(1 << 20, 0), (3 << 20, 3)], "extents %r" % ext)
c.send(6, 0, 512 << 10)  # write zeroes (may punch)
check(c.reply()[1] == 0, "write zeroes")
c.send(7, 0, 1 << 20, flags=8, cookie=5)  # REQ_ONE
cookie, err, chunks = c.reply()
check(err == 0 and len(chunks[0][1]) == 12 and struct.unpack(">II", chunks[0][1][4:])[1] & 2,
      "REQ_ONE block status after write zeroes")

# --- pipelining: many requests in one send, every reply arrives -------------------------
reqs = b"".join(struct.pack(">IHHQQI", 0x25609513, 0, 0, i, (i % 256) * 4096, 4096) for i in range(500))
c.s.sendall(reqs)
seen = set()
for _ in range(500):
    cookie, err, _chunks = c.reply()
    check(err == 0, "pipelined read")
    seen.add(cookie)
check(seen == set(range(500)), "every pipelined request answered once")
c.send(2, 0, 0)  # DISC
c.s.close()

# --- broken handshakes and disconnects never hurt the server ---------------------------
for junk in [b"", b"\0\0", b"\0\0\0\3" + b"garbage" * 10, b"\0\0\0\0", b"\xff" * 64]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    s.recv(18)
    s.sendall(junk)
    s.close()
c = Raw()
c.send(0x55, 0, 0)  # bad magic would be next; first a request with only half a header
c.reply()
c.s.sendall(b"\x25\x60\x95")
c.s.close()
c = Raw()  # mid-payload: a write whose payload never fully arrives
# The server is stopped meanwhile, so that the bytes and the EOF are there together when it
# looks: one edge-triggered event for both (the EOF must not be missed).
os.kill(SERVER_PID, signal.SIGSTOP)
try:
    c.send(1, 8 << 20, 1 << 20, payload=b"q" * 1000)
    c.s.close()
    time.sleep(0.05)
finally:
    os.kill(SERVER_PID, signal.SIGCONT)
c = Raw()  # replies pending: many reads, then gone without reading a byte
c.s.sendall(b"".join(struct.pack(">IHHQQI", 0x25609513, 0, 0, i, 0, 1 << 20) for i in range(64)))
c.s.close()
c = Raw()  # bad request magic: the server closes this connection only
c.s.sendall(b"\0" * 28)
try:
    c.recv(1)
    check(False, "bad magic should close the connection")
except (EOFError, ConnectionResetError):
    pass
c = Raw()
err, data = c.read(8 << 20, 4096)
check(err == 0 and data == bytes(4096), "a half-received write must not be applied")
# The half-received bytes went straight into the store's memory (zero-copy receive); a
# later small write into the same page must not bring them back.
c.send(1, (8 << 20) + 2048, 512, cookie=7, payload=b"w" * 512)
check(c.reply()[1] == 0, "small write into the page of a cut-short write")
err, data = c.read(8 << 20, 4096)
check(err == 0 and data == bytes(2048) + b"w" * 512 + bytes(1536),
      "bytes of a cut-short write must not reappear")
err, data = c.read(512 << 10, 4096)
check(err == 0 and data == pattern[512 << 10:(512 << 10) + 4096], "data intact after disconnects")

# --- options: list, unknown, then go ---------------------------------------------------
s = socket.socket(socket.AF_UNIX)
s.connect(SOCK)
r = Raw.__new__(Raw)
r.s = s
r.recv(18)
s.sendall(struct.pack(">I", 3))
check([t for _, t, _ in r.option(3, b"")] == [2, 1], "NBD_OPT_LIST")
check(r.option(200, b"abc")[0][1] == 0x80000001, "unknown option -> ERR_UNSUP")
check(r.option(5, b"")[0][1] == 0x80000002, "STARTTLS under --tls=off -> ERR_POLICY")
check(r.option(7, struct.pack(">I", 3) + b"bad" + struct.pack(">H", 0))[0][1] == 0x80000006,
      "GO unknown export -> ERR_UNKNOWN")
check(r.option(7, struct.pack(">IH", 0, 0))[-1][1] == 1, "GO after errors")
r.structured = False
err, data = r.read(0, 4096)  # simple reply: header + data
check(err == 0, "simple-reply read")
s.close()

# --- two connections: a flush on one covers writes completed on the other ---------------
h1, h2 = nbd.NBD(), nbd.NBD()
h1.connect_uri(URI)
h2.connect_uri(URI)
check(h1.can_multi_conn(), "multi-conn advertised")
buf = os.urandom(64 << 10)
h1.pwrite(buf, 16 << 20)
h2.flush()
check(h2.pread(len(buf), 16 << 20) == buf, "write on one connection seen on the other after flush")
h1.set_strict_mode(0)
try:
    h1.pread(512, SIZE)
    check(False, "libnbd read past the end succeeded")
except nbd.Error as e:
    check(e.errno == "EINVAL", "libnbd read past the end -> EINVAL (%s)" % e)
check(h1.pread(4096, 1 << 20) == bytes(4096), "libnbd connection usable after an error")
h1.shutdown()
h2.shutdown()

if failures:
    sys.exit("%d failures" % len(failures))
print("PASS")

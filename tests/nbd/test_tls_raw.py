"""NBD_OPT_STARTTLS from a raw-socket client (Python's ssl module for the TLS part).

Usage: test_tls_raw.py MODE SOCKET [CA_CERT]
  require: every option before STARTTLS is refused with NBD_REP_ERR_TLS_REQD and the
           export's name is never sent in the clear; after TLS, options work, what was
           negotiated before STARTTLS is forgotten, STARTTLS again is NBD_REP_ERR_INVALID;
           NBD_OPT_EXPORT_NAME before TLS closes the connection; bytes sent after STARTTLS
           before its reply close it too.
  on:      options work in the clear, then STARTTLS upgrades (structured reply forgotten).
  off:     STARTTLS is refused with NBD_REP_ERR_POLICY and the connection goes on.
  stall:   STARTTLS, then silence: the server's handshake timeout closes the connection.
Every socket operation has a timeout; exits non-zero with one line on the first mismatch.
"""
import socket
import ssl
import struct
import sys

NBD_MAGIC, IHAVEOPT, REPLY_MAGIC = 0x4E42444D41474943, 0x49484156454F5054, 0x3E889045565A9
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_STRUCTURED, OPT_SET_META = 6, 7, 8, 10
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
ERR_POLICY, ERR_INVALID, ERR_TLS_REQD = 0x80000002, 0x80000003, 0x80000005
SECRET_NAME = b"secret-export-name"


def die(msg):
    sys.exit("test_tls_raw: " + msg)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            die(f"connection closed after {len(b)} of {n} bytes")
        b += c
    return b


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    magic, ihave, _flags = struct.unpack(">QQH", recv_exact(s, 18))
    if magic != NBD_MAGIC or ihave != IHAVEOPT:
        die("bad greeting")
    s.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
    return s


def send_opt(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def read_reply(s):
    magic, opt, rtype, ln = struct.unpack(">QIII", recv_exact(s, 20))
    if magic != REPLY_MAGIC:
        die("bad option reply magic")
    return opt, rtype, recv_exact(s, ln)


def replies_until_final(s):
    """Replies to one option up to its ACK or error."""
    out = []
    while True:
        opt, rtype, data = read_reply(s)
        out.append((rtype, data))
        if rtype == REP_ACK or rtype & 0x80000000:
            return out


def expect_final(s, opt, want, what):
    send_opt(s, opt, b"" if opt in (OPT_STARTTLS, OPT_STRUCTURED, OPT_LIST) else
             (struct.pack(">I", 0) + struct.pack(">H", 0) if opt in (OPT_INFO, OPT_GO) else b""))
    reps = replies_until_final(s)
    got = reps[-1][0]
    if got != want:
        die(f"{what}: reply {got:#x}, want {want:#x}")
    return reps


def expect_closed(s, what):
    try:
        while s.recv(4096):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        die(f"{what}: the server did not close the connection")


def tls_wrap(s, ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = False
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.settimeout(5)
    return t


def meta_context_data():
    q = b"base:allocation"
    return struct.pack(">I", 0) + struct.pack(">I", 1) + struct.pack(">I", len(q)) + q


def after_tls_checks(t):
    # SET_META_CONTEXT needs structured replies: one negotiated in the clear is forgotten.
    send_opt(t, OPT_SET_META, meta_context_data())
    if replies_until_final(t)[-1][0] != ERR_INVALID:
        die("structured replies negotiated before STARTTLS survived it")
    expect_final(t, OPT_STRUCTURED, REP_ACK, "STRUCTURED_REPLY inside TLS")
    send_opt(t, OPT_SET_META, meta_context_data())
    reps = replies_until_final(t)
    if reps[-1][0] != REP_ACK or reps[0][0] != REP_META:
        die("SET_META_CONTEXT inside TLS")
    expect_final(t, OPT_STARTTLS, ERR_INVALID, "STARTTLS inside TLS")
    reps = expect_final(t, OPT_LIST, REP_ACK, "LIST inside TLS")
    if not any(r == REP_SERVER and SECRET_NAME in d for r, d in reps):
        die("LIST inside TLS does not name the export")
    expect_final(t, OPT_GO, REP_ACK, "GO inside TLS")
    # Transmission inside TLS: a structured READ of 4 KiB, then DISC.
    t.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 7, 0, 4096))
    magic, flags, rtype, cookie, ln = struct.unpack(">IHHQI", recv_exact(t, 20))
    if magic != 0x668E33EF or cookie != 7:
        die("READ inside TLS: not a structured reply")
    recv_exact(t, ln)
    t.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 8, 0, 0))


def main():
    mode, path = sys.argv[1], sys.argv[2]
    ca = sys.argv[3] if len(sys.argv) > 3 else None
    if mode == "require":
        s = connect(path)
        clear = b""
        for opt, what in ((OPT_LIST, "LIST"), (OPT_INFO, "INFO"), (OPT_GO, "GO"),
                          (OPT_STRUCTURED, "STRUCTURED_REPLY"), (99, "an unknown option")):
            reps = expect_final(s, opt, ERR_TLS_REQD, what + " before TLS")
            clear += b"".join(d for _, d in reps)
        if SECRET_NAME in clear:
            die("the export name was sent before TLS")
        # Asked for in the clear; must not survive into TLS (checked after the upgrade).
        expect_final(s, OPT_STRUCTURED, ERR_TLS_REQD, "STRUCTURED_REPLY before TLS")
        expect_final(s, OPT_STARTTLS, REP_ACK, "STARTTLS")
        after_tls_checks(tls_wrap(s, ca))
        # EXPORT_NAME before TLS: nothing can be answered, the server closes.
        s = connect(path)
        send_opt(s, OPT_EXPORT_NAME, SECRET_NAME)
        expect_closed(s, "EXPORT_NAME before TLS")
        # STARTTLS with data, then STARTTLS with bytes pipelined behind it.
        s = connect(path)
        send_opt(s, OPT_STARTTLS, b"x")
        if replies_until_final(s)[-1][0] != ERR_INVALID:
            die("STARTTLS with data was not refused")
        s.sendall(struct.pack(">QII", IHAVEOPT, OPT_STARTTLS, 0) + b"\x16\x03\x01junk")
        expect_closed(s, "bytes after STARTTLS before its reply")
    elif mode == "on":
        s = connect(path)
        reps = expect_final(s, OPT_LIST, REP_ACK, "LIST in the clear (--tls=on)")
        if not any(r == REP_SERVER and SECRET_NAME in d for r, d in reps):
            die("LIST in the clear does not name the export under --tls=on")
        expect_final(s, OPT_STRUCTURED, REP_ACK, "STRUCTURED_REPLY in the clear")
        expect_final(s, OPT_STARTTLS, REP_ACK, "STARTTLS (--tls=on)")
        after_tls_checks(tls_wrap(s, ca))
    elif mode == "stall":
        # STARTTLS acknowledged, then no TLS handshake: the handshake timeout (1 s in the
        # test) closes the connection; the socket's 5 s timeout bounds the wait.
        s = connect(path)
        expect_final(s, OPT_STARTTLS, REP_ACK, "STARTTLS")
        expect_closed(s, "a TLS handshake that never starts")
    elif mode == "off":
        s = connect(path)
        expect_final(s, OPT_STARTTLS, ERR_POLICY, "STARTTLS under --tls=off")
        expect_final(s, OPT_GO, REP_ACK, "GO after a refused STARTTLS")
    else:
        die("unknown mode " + mode)


main()

#!/usr/bin/env python3
"""tests/docs/test_doc_commands.py MQBLK SOURCE_DIR - the example commands of README.md and
docs/*.md, run against the mqblk just built, so that the docs stay true.

Every line of a fenced block that invokes mqblk (as `mqblk`, `build*/src/cli/mqblk`, or
`$ mqblk` in a transcript), a project script or an NBD client is a command. Each is either
run, or listed as not run with the reason (the RULES below, first match wins). A command
that fails, a transcript whose shown output does not appear, or a synopsis naming an option
the subcommand lacks, fails the test. Run, with these changes, which keep it fast and
private:
  - bench: `--ios 256` instead of a run time (`--runtime` dropped, `--ios` kept);
    `{a,b}` in a command (shorthand for several runs) runs each;
  - nbd: captive, `--run 'nbdinfo --size "$uri"'` (unless the command has its own --run),
    on a private socket, a TCP listen address on loopback with a free port; -f dropped;
  - set/get/list: against the nbd server named before them in the same block, started in
    the background on its private socket; `nbd0` becomes that server's id;
  - absolute paths in attributes (path=, backing_file=) and sockets: in a temporary
    directory; a path= without size= is made first as a sparse 64 MiB file;
  - `$ CMD` lines (transcripts): the lines shown after them must appear in the output; the
    exit status is not checked (most show a refusal).
"""
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

MQBLK, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
BINARIES = re.compile(r"^(\./)?(build[^/ ]*/src/cli/)?mqblk$")
COMMAND = re.compile(r"^(\$ )?(((\./)?build[^/ ]*/src/cli/)?mqblk( |$)|(\./)?scripts/|fuzz/|bench/|nbdinfo|"
                     r"\(cd |[A-Z_]+=\S* |cmake |c\+\+ )")
SYNOPSIS = re.compile(r"^mqblk [a-z-]+( |$).*(\[|\||\b[A-Z]{2,}\b)")
TIMEOUT = 20

# (what, reason): `what` is a function of (tokens, line, file, transcript's shown lines or
# None) -> bool.
def has(tokens, *words):
    return any(t in words for t in tokens)

def driver_of(tokens):
    for t in tokens[2:]:
        if t in ("null", "file", "rbd") or (t and t[0].isalpha() and "=" not in t and t.isidentifier()
                                              and t not in ("set", "get")):
            return t
    return None

RULES = [
    (lambda t, l, f, e: t[0] in ("cmake", "c++"),
     "building and installing: tests/install runs cmake --install into a temporary prefix and "
     "builds its example with find_package(mqblk) and with pkg-config"),
    (lambda t, l, f, e: not BINARIES.match(t[0]) and t[0] != "nbdinfo",
     "a build, suite, benchmark or fuzz script: minutes (CI runs scripts/test.sh itself; "
     "bench/ scripts are run by hand for docs/benchmarks.md)"),
    (lambda t, l, f, e: t[0] == "nbdinfo",
     "a client of the server on a line above: the test reaches each server it runs with "
     "nbdinfo through --run"),
    (lambda t, l, f, e: len(t) > 1 and t[1] in ("add", "del", "recover", "chown-dev"),
     "ublk: needs the ublk_drv kernel module (/dev/ublk-control) and root; tests/vm run "
     "these in a VM"),
    (lambda t, l, f, e: len(t) > 1 and t[1] in ("set", "get") and len(t) > 2 and t[2].isdigit(),
     "a ublk device's number: needs ublk_drv (tests/vm/dev_powercut.sh, dev_faults.sh)"),
    (lambda t, l, f, e: "rbd" in t[2:],
     "rbd: needs a Ceph cluster (tests/rbd start one per test)"),
    (lambda t, l, f, e: e is not None and len(t) > 1 and t[1] == "nbd" and "--run" not in t,
     "a background server's transcript (its 'serving URI as pid N' line): this test runs "
     "servers captive; tests/nbd/test_nbd_cli.sh checks that line"),
    (lambda t, l, f, e: any(x.startswith("--tls") and x != "--tls=off" for x in t),
     "TLS: needs certificates or a PSK file and a client that has them (tests/nbd/test_tls.sh)"),
]


def fences(path):
    """(line number, text, block number) of every line inside ``` fences of shell
    commands (no language, or sh, bash, shell, console: not cpp, cmake...)."""
    block, inside, shell = 0, False, False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.startswith("```"):
                inside = not inside
                block += inside
                shell = line[3:].strip() in ("", "sh", "bash", "shell", "console")
                continue
            if inside and shell:
                yield n, line.rstrip("\n"), block


def strip_comment(line):
    """The command without its trailing `# comment` (a # outside quotes, after a space)."""
    out, quote = [], None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] == " "):
            break
        out.append(c)
    return "".join(out).strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runner:
    def __init__(self, tmp):
        self.tmp = tmp
        self.count = 0
        self.failures = []
        self.ran = []
        self.not_run = []
        self.servers = []  # background servers of this block: (Popen, id)
        self.last_server = None  # (where, argv) of the block's last nbd server line
        self.help = {}

    def private(self, path):
        self.count += 1
        return os.path.join(self.tmp, f"{self.count}-{os.path.basename(path) or 'x'}")

    def rewrite(self, t):
        """The command as the test runs it (see the module's docstring)."""
        t = [MQBLK if BINARIES.match(t[0]) else t[0]] + t[1:]
        sub = t[1] if len(t) > 1 else ""
        out, i, sized = [], 0, any(x.startswith("size=") or x.startswith("gb=") for x in t)
        while i < len(t):
            x = t[i]
            if sub == "bench" and x == "--runtime":
                i += 2
                continue
            if sub == "nbd" and x in ("-f", "--foreground"):
                i += 1
                continue
            if sub == "nbd" and x in ("--socket", "-U") and i + 1 < len(t) and t[i + 1] != "-":
                out += [x, self.private(t[i + 1])]
                i += 2
                continue
            if sub == "nbd" and x == "--listen" and i + 1 < len(t):
                host = "[::1]" if t[i + 1].startswith("[::1]") else "127.0.0.1"
                out += [x, f"{host}:{free_port()}"]
                i += 2
                continue
            m = re.match(r"^(path|backing_file)=(/.*)$", x)
            if m:
                p = self.private(m.group(2))
                if m.group(1) == "path" and not sized:
                    with open(p, "wb") as f:
                        f.truncate(64 << 20)
                x = f"{m.group(1)}={p}"
            out.append(x)
            i += 1
        if sub == "bench" and "--ios" not in out:
            out[2:2] = ["--ios", "256"]
        return out

    def run(self, where, argv, expect=None, errors_expected=False):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=self.tmp)
        except subprocess.TimeoutExpired:
            self.failures.append(f"{where}: timed out after {TIMEOUT} s: {shlex.join(argv)}")
            return None
        output = p.stdout + p.stderr
        if expect is not None:
            missing = [e for e in expect if e.strip() and e.strip() not in output]
            if missing:
                self.failures.append(f"{where}: {shlex.join(argv)}: the docs show {missing!r}, "
                                     f"it printed: {output.strip()[-600:]}")
                return None
        elif errors_expected and p.returncode == 1 and "I/O errors during the run" in output:
            pass
        elif p.returncode != 0:
            self.failures.append(f"{where}: exit {p.returncode}: {shlex.join(argv)}: "
                                 f"{output.strip()[-600:]}")
            return None
        self.ran.append(f"{where}: {shlex.join(argv)}")
        return p

    def start_server(self, where, argv):
        """A doc's nbd server in the background, for the set/get/list lines after it."""
        argv = [a for a in argv if a not in ("-f", "--foreground")]
        if "--run" in argv:
            k = argv.index("--run")
            del argv[k:k + 2]
        if "--socket" not in argv and "-U" not in argv and "--listen" not in argv:
            argv[2:2] = ["--socket", self.private("s")]
        argv[2:2] = ["--foreground"]
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.tmp)
        for _ in range(100):  # bounded: 5 s
            if p.poll() is not None:
                self.failures.append(f"{where}: the server exited ({p.returncode}): "
                                     f"{p.stderr.read().decode()[-400:]}")
                return
            listed = subprocess.run([MQBLK, "list", "--json"], capture_output=True, text=True, timeout=TIMEOUT)
            dev = find_pid(json.loads(listed.stdout or "null"), p.pid)
            if dev:
                self.servers.append((p, dev))
                self.ran.append(f"{where}: {shlex.join(argv)} (in the background: {dev})")
                return
            time.sleep(0.05)
        p.kill()
        self.failures.append(f"{where}: the server (pid {p.pid}) is not in `mqblk list` after 5 s")

    def stop_servers(self):
        for p, _ in self.servers:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.servers = []

    def synopsis(self, where, line):
        sub = line.split()[1]
        if sub not in self.help:
            h = subprocess.run([MQBLK, sub, "--help"], capture_output=True, text=True, timeout=TIMEOUT)
            self.help[sub] = h.stdout if h.returncode == 0 else None
        if self.help[sub] is None:
            self.not_run.append(f"{where}: {line}  -- `mqblk {sub}` is not in this build")
            return
        opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])", line.split(None, 2)[2]
                              if len(line.split()) > 2 else ""))
        missing = [o for o in sorted(opts) if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])",
                                                             self.help[sub])]
        if missing:
            self.failures.append(f"{where}: the synopsis names {missing} that `mqblk {sub} --help` lacks")
        else:
            self.ran.append(f"{where}: synopsis checked against `mqblk {sub} --help` ({len(opts)} options)")


def find_pid(j, pid):
    """The id of the listed device served by pid, anywhere in `mqblk list --json`."""
    if isinstance(j, dict):
        if j.get("pid") == pid and "id" in j:
            return str(j["id"])
        j = list(j.values())
    if isinstance(j, list):
        for x in j:
            r = find_pid(x, pid)
            if r:
                return r
    return None


def main():
    docs = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(SRC, "docs"))
                                  if f.endswith(".md"))
    tmp = tempfile.mkdtemp(prefix="mqblk-docs.")
    r = Runner(tmp)
    try:
        for doc in docs:
            lines = list(fences(os.path.join(SRC, doc)))
            block = None
            for k, (n, text, b) in enumerate(lines):
                if b != block:
                    r.stop_servers()
                    r.last_server = None
                    block = b
                if not COMMAND.match(text):
                    continue
                where = f"{doc}:{n}"
                transcript = text.startswith("$ ")
                expect = None
                if transcript:
                    text = text[2:]
                    expect = []
                    for _, t2, b2 in lines[k + 1:]:
                        if b2 != b or t2.startswith("$ "):
                            break
                        expect.append(t2)
                line = strip_comment(text)
                if SYNOPSIS.match(line) and not transcript and not re.search(r"\b(null|file|rbd)\b", line):
                    for _, t2, b2 in lines[k + 1:]:  # its indented continuation lines
                        if b2 != b or not t2[:1].isspace():
                            break
                        line += " " + t2.strip()
                    r.synopsis(where, line)
                    continue
                for part in (p.strip() for p in line.split(" ; ")):
                    run_part(r, where, part, expect)
        r.stop_servers()
    finally:
        r.stop_servers()
        subprocess.run(["rm", "-rf", tmp], check=False)
    for x in r.ran:
        print("ran:", x)
    for x in r.not_run:
        print("not run:", x)
    for x in r.failures:
        print("FAIL:", x)
    print(f"{len(r.ran)} ran, {len(r.not_run)} not run (reasons above), {len(r.failures)} failed")
    return 1 if r.failures or not r.ran else 0


def run_part(r, where, part, expect):
    try:
        t = shlex.split(part)
    except ValueError as e:
        r.failures.append(f"{where}: cannot parse `{part}`: {e}")
        return
    if not t:
        return
    for test, reason in RULES:
        if test(t, part, where, expect):
            r.not_run.append(f"{where}: {part}  -- {reason}")
            return
    braces = re.search(r"\{([^{}]*,[^{}]*)\}", part)
    if braces:  # shorthand for several runs
        for alt in braces.group(1).split(","):
            run_part(r, where, part[:braces.start()] + alt + part[braces.end():], expect)
        return
    argv = r.rewrite(t)
    sub = t[1] if len(t) > 1 else ""
    if sub == "nbd":
        if "--run" not in argv:
            r.last_server = (where, list(argv))  # for the set/get lines after it
            argv[2:2] = ["--run", 'nbdinfo --size "$uri"']
        argv = [a for a in argv if a not in ("-f", "--foreground")]
    if sub in ("set", "get", "list"):
        if not r.servers and r.last_server:
            r.start_server(*r.last_server)
        if not r.servers and sub != "list":
            r.failures.append(f"{where}: `{part}` has no nbd server before it in its block")
            return
        if r.servers:
            argv = [r.servers[-1][1] if a == "nbd0" else a for a in argv]
    # A bench with faults injected (timeouts, errors, bad blocks) ends with "N I/O errors
    # during the run" and exit status 1, as the docs mean it to.
    faulty = sub == "bench" and any(re.match(r"^(timeout|requeue|error_rate|badblocks)=", a) for a in argv)
    r.run(where, argv, expect, errors_expected=faulty)


if __name__ == "__main__":
    sys.exit(main())

"""sync_notify: the syncer under systemd's Type=notify protocol, on a
socket of our own (NOTIFY_SOCKET): READY=1 only once the initial sync is
done (the env holds what the store had), never while the store fails;
WATCHDOG=1 after every cycle, and during a sleep longer than half the
watchdog's period; STOPPING=1 on SIGTERM, then exit 0. And
`systemd-analyze verify` finds nothing in the unit.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "apps"))
import apputil as A  # noqa: E402

PY = "/usr/bin/python3"


def write_env(path, n):
    subprocess.run([PY, "-c", "import sys, lmdb\n"
                    "e = lmdb.open(sys.argv[1], max_dbs=2)\n"
                    "with e.begin(write=True) as t:\n"
                    "    [t.put(b'k%d' % i, b'v') for i in range(int(sys.argv[2]))]\n",
                    path, str(n)], check=True, timeout=60)


class Notify:
    """A NOTIFY_SOCKET: the messages a syncer sends, in order."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.msgs = []

    def poll(self):
        # what is queued now: a syncer cycling fast never lets it run dry
        try:
            while True:
                self.msgs.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            pass
        return self.msgs

    def count(self, what):
        return sum(1 for m in self.poll() if what in m.split("\n"))


def run_syncer(args, sock_path, log, extra=None):
    env = A.base_env(dict({"NOTIFY_SOCKET": sock_path}, **(extra or {})))
    return subprocess.Popen([A.MDBTAP, "sync", "--poll-interval", "100ms", "--log-file", log]
                            + args, env=env)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def main():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)  # mdbtap creates none unless told
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    write_env(a, 2)
    write_env(b, 50)
    r = subprocess.run([A.MDBTAP, "sync", "--once", "--env", b, "--store", store, "--instance",
                        "b"], capture_output=True, text=True, timeout=120, env=A.base_env())
    A.eq(r.returncode, 0, "b exports: " + r.stderr)

    # A store that fails: cycles (WATCHDOG=1) but never READY=1.
    n = Notify(os.path.join(root, "n1.sock"))
    p = run_syncer(["--env", a, "--store", "s3://bucket/p?endpoint=http://127.0.0.1:1"
                    "&retries=0&connect_timeout=1s", "--instance", "a"], n.path,
                   os.path.join(root, "fail.log"),
                   {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    try:
        A.wait_for("3 cycles with a failing store", lambda: n.count("WATCHDOG=1") >= 3)
        A.check(n.count("READY=1") == 0, "not ready while the store fails: %r" % n.msgs)
    finally:
        rc = stop(p)
    A.eq(rc, 0, "SIGTERM ends a syncer whose store fails with 0")

    # The store answers: READY=1 once a holds b's data.
    n = Notify(os.path.join(root, "n2.sock"))
    p = run_syncer(["--env", a, "--store", store, "--instance", "a"], n.path,
                   os.path.join(root, "a.log"))
    try:
        A.wait_for("READY=1", lambda: n.count("READY=1") == 1)
        dump = subprocess.run([A.MDBTAP, "dump", a], capture_output=True, text=True,
                              timeout=60).stdout
        A.check('"key": "6b3439"' in dump or '"key":"6b3439"' in dump,
                "ready: a holds b's data (k49): " + dump[-300:])
        ready = [m for m in n.msgs if "READY=1" in m][0]
        A.check("STATUS=" in ready, "READY=1 comes with a STATUS: %r" % ready)
        w = n.count("WATCHDOG=1")
        A.wait_for("WATCHDOG=1 after each cycle", lambda: n.count("WATCHDOG=1") >= w + 3)
        A.eq(n.count("READY=1"), 1, "READY=1 is sent once")
    finally:
        rc = stop(p)
    A.eq(rc, 0, "SIGTERM: exit 0")
    A.check(n.count("STOPPING=1") == 1, "STOPPING=1 on SIGTERM: %r" % n.msgs[-3:])

    # A poll interval longer than the watchdog's period (poll_interval may
    # be up to 1h, the unit's WatchdogSec= is 15min): WATCHDOG=1 still comes
    # at least every half period while the syncer sleeps, or systemd would
    # kill a healthy syncer.
    n = Notify(os.path.join(root, "n3.sock"))
    env = A.base_env({"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "1000000"})
    p = subprocess.Popen([A.MDBTAP, "sync", "--poll-interval", "1h", "--log-file",
                          os.path.join(root, "wd.log"), "--env", a, "--store", store,
                          "--instance", "a"], env=env)
    try:
        A.wait_for("READY=1 (long poll)", lambda: n.count("READY=1") == 1)
        w = n.count("WATCHDOG=1")
        A.wait_for("WATCHDOG=1 while sleeping", lambda: n.count("WATCHDOG=1") >= w + 3, 30)
    finally:
        rc = stop(p)
    A.eq(rc, 0, "SIGTERM during a long sleep: exit 0")

    unit = os.environ.get("MDBTAP_UNIT")
    if unit and shutil.which("systemd-analyze"):
        d = os.path.join(root, "units")
        os.makedirs(d)
        text = open(unit).read()
        exe = text.split("ExecStart=", 1)[1].split()[0]
        text = text.replace(exe, A.MDBTAP)   # the binary of this build
        with open(os.path.join(d, "mdbtap-sync@test.service"), "w") as f:
            f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", "./mdbtap-sync@test.service"],
                           capture_output=True, text=True, cwd=d, timeout=120)
        A.check(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
                "systemd-analyze verify: %s%s" % (r.stdout, r.stderr))
    else:
        A.fail("no unit to verify (MDBTAP_UNIT) or no systemd-analyze")
    A.finish()


if __name__ == "__main__":
    main()

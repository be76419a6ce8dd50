"""The host's map and the syncer (docs/DESIGN.md §21; issue 12).

  test_mapsize.py --late SIZE KEYS   a late joiner whose env the syncer
        creates (SIZE: its --map-size, or "default") receives KEYS keys,
        more than LMDB's 10 MiB default map: the env gets that map (read
        back with mdb_stat, which takes the size the file records) and
        holds them all
  test_mapsize.py --host-full        a program's own env with a 4 MiB map
        fills during a merge: the syncer says once which setting of the
        program to raise and the map's size, counts it, keeps running and
        quarantines nothing; the program still opens and reads it; once the
        program opens it with a larger map and writes, the merge resumes
        where it stopped and the instances converge
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import apputil as A
from synclib import PY, Instance, quiesce, same_everywhere, store_url

DEFAULT_MAP = 64 << 30


def fill(path, n):
    """n keys of 16 bytes with 100-byte values, by a program without the
    tap (the syncer adopts them)."""
    code = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], map_size=1 << 30)
with env.begin(write=True) as txn:
    for i in range(int(sys.argv[2])):
        txn.put(b"key%013d" % i, b"v%099d" % i)
'''
    p = subprocess.run([PY, "-c", code, path, str(n)], capture_output=True, text=True,
                       timeout=300, env=A.base_env())
    A.check(p.returncode == 0, "filling %s: %s" % (path, p.stderr))


def recorded_map(path):
    """The map size the env's file records (mdb_stat opens it without
    setting one)."""
    p = subprocess.run(["mdb_stat", "-e", path], capture_output=True, text=True, timeout=60)
    m = re.search(r"Map size: (\d+)", p.stdout)
    return int(m.group(1)) if m else None


def entries(path):
    p = subprocess.run(["mdb_stat", path], capture_output=True, text=True, timeout=60)
    m = re.search(r"Entries: (\d+)", p.stdout)
    return int(m.group(1)) if m else None


def late(size, keys):
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    keys = int(keys)
    a = Instance(root, "a")
    fill(a.env, keys)
    a.sync(store)
    c = Instance(root, "c")  # an empty directory: the syncer creates the env
    extra = [] if size == "default" else ["--map-size", size]
    want = DEFAULT_MAP if size == "default" else int(size[:-1]) << 20
    p = c.sync(store, *extra)
    A.eq(entries(c.env), keys, "entries received by the late joiner (%s)" % p.stderr[-1500:])
    A.check("does not fit" not in p.stderr and "is full" not in p.stderr,
            "the late joiner's map was full: " + p.stderr[-1500:])
    A.eq(recorded_map(c.env), want, "the map of the env the syncer created")
    A.check(keys * 116 > 10 << 20, "the test's data exceeds LMDB's 10 MiB default map")
    A.check(quiesce([a, c], store), "a and c did not converge")
    same_everywhere([a, c])


HOST = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], map_size=int(sys.argv[2]))
if sys.argv[3] == "write":
    with env.begin(write=True) as txn:
        txn.put(sys.argv[4].encode(), b"host")
with env.begin() as txn:
    print(txn.get(b"b0").decode(), txn.stat()["entries"])
'''


def host(path, map_size, what, key=""):
    """The program (python3-lmdb with the tap) opens its env with its own
    map size, maybe writes key, reads b0 and counts the entries."""
    env = dict(A.base_env(), LD_PRELOAD=A.PRELOAD)
    return subprocess.run([PY, "-c", HOST, path, str(map_size), what, key],
                          capture_output=True, text=True, timeout=60, env=env)


def stats(path):
    p = subprocess.run([A.MDBTAP, "stats", "--json", path], capture_output=True, text=True,
                       timeout=30)
    return json.loads(p.stdout) if p.returncode == 0 else {}


def host_full():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    keys = 60000  # about 7 MB of data: does not fit in a 4 MiB map
    a = Instance(root, "a")
    fill(a.env, keys)
    a.sync(store)
    b = Instance(root, "b")
    small = 4 << 20
    p = host(b.env, small, "write", "b0")  # the program creates its env
    A.eq(p.returncode, 0, "the program creates its env: " + p.stderr)
    log = os.path.join(root, "b.log")
    syncer = subprocess.Popen(b.sync_argv(store, "--poll-interval", "100ms", "--log-file", log),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def text():
        try:
            with open(log) as f:
                return f.read()
        except OSError:
            return ""
    try:
        A.wait_for("the syncer to say the host's map is full", lambda: "is full" in text(), 120)
        c0 = stats(b.env).get("cycles", 0)
        A.wait_for("five more cycles", lambda: stats(b.env).get("cycles", 0) >= c0 + 5, 60)
        t = text()
        said = [l for l in t.splitlines() if "is full" in l]
        A.eq(len(said), 1, "the full map is said once in %d cycles: %r" % (
            stats(b.env).get("cycles", 0), said))
        line = said[0] if said else ""
        for want in ("lmdb-map-size", "lmdb_map_size", "map_size", "mdb_env_set_mapsize",
                     "(4 MiB)"):
            A.check(want in line, "the message names %r: %s" % (want, line))
        m = re.search(r"stopped after (\d+) elements", line)
        done = int(m.group(1)) if m else 0
        st = stats(b.env)
        A.check(st.get("merges_map_full", 0) >= 1, "merges_map_full counted: %r" % st)
        A.eq(st.get("objects_refused"), 0, "nothing quarantined")
        A.check(syncer.poll() is None, "the syncer keeps running")
        qf = os.path.join(b.env, "mdbtap", "quarantine")
        A.check(not os.path.exists(qf) or not open(qf).read().strip(),
                "the quarantine file is empty")
        # the program still opens its env and reads it, with its own map
        p = host(b.env, small, "read")
        A.eq(p.returncode, 0, "the program reads its env: " + p.stderr)
        A.check(p.stdout.startswith("host "), "the program reads b0: " + p.stdout)
        got = int(p.stdout.split()[1]) if p.returncode == 0 else 0
        A.check(got < keys + 1, "the merge stopped part way (%d entries)" % got)
        A.check(got >= done + 1, "the %d elements merged before the stop are there (%d)" % (
            done, got))
        # the program opens it with a larger map and writes: the merge resumes
        p = host(b.env, 64 << 20, "write", "b1")
        A.eq(p.returncode, 0, "the program writes with a larger map: " + p.stderr)
        A.wait_for("the merge to complete", lambda: "room again" in text(), 120)
        t = text()
        if done:
            A.check("resumes after the %d elements" % done in t,
                    "the merge resumed where it stopped (after %d): %s" % (done, t[-3000:]))
        A.eq(entries(b.env), keys + 2, "every element in b's env")
    finally:
        syncer.send_signal(signal.SIGTERM)
        try:
            rc = syncer.wait(60)
        except subprocess.TimeoutExpired:
            syncer.kill()
            rc = syncer.wait()
        err = syncer.stderr.read()
    A.eq(rc, 0, "the syncer exits 0 on SIGTERM (%s)" % err[-1000:])
    A.check(quiesce([a, b], store), "a and b did not converge")
    same_everywhere([a, b])
    A.check("Traceback" not in text(), "log: " + text()[-2000:])


def main():
    if sys.argv[1] == "--late":
        late(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--host-full":
        host_full()
    else:
        sys.exit("usage: test_mapsize.py --late SIZE KEYS | --host-full")
    A.finish()


if __name__ == "__main__":
    main()

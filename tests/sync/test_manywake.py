"""More envs in one syncer than one futex_waitv(2) takes (127 journals)
and than the per-user inotify instances (often 128): every env still
wakes the syncer (docs/DESIGN.md §25; issue 12).

  test_manywake.py N   one syncer, N envs in a YAML file, all through one
        directory store, poll interval 60 s: a tapped commit on the first
        and on the last env is in the store within BOUND seconds; an object
        another instance puts for the last env is applied there within
        BOUND seconds; the log never says a store cannot be watched
"""
import os
import subprocess
import sys
import time

import apputil as A
from test_wake import PY, BOUND, seen_within, stop, write

# One process, one tapped write txn per env.
SEED = r'''
import sys, lmdb
for p in sys.argv[2:]:
    env = lmdb.open(p, map_size=1 << 22)
    with env.begin(write=True) as txn:
        txn.put(sys.argv[1].encode(), b"v")
    env.close()
'''


def seed(key, paths):
    p = subprocess.run([PY, "-c", SEED, key, *paths], capture_output=True, text=True,
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD), timeout=300)
    A.eq(p.returncode, 0, "seeding: " + p.stderr[-1500:])


def delta_within(store, db, secs):
    """Seconds until a delta of instance a for db is in the store, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        if any(o.startswith(db + "__a__") and "__D" in o for o in os.listdir(store)):
            return time.monotonic() - t0
        time.sleep(0.005)
    return None


def read_log(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def main():
    n = int(sys.argv[1])
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)
    paths = [os.path.join(root, "e%03d" % i) for i in range(n)]
    for p in paths:
        os.makedirs(p)
    seed("seed", paths)
    conf = os.path.join(root, "a.yaml")
    with open(conf, "w") as f:
        f.write("instance: a\npoll_interval: 60s\nenvs:\n")
        for i, p in enumerate(paths):
            f.write("  e%03d:\n    path: %s\n    store: file://%s\n" % (i, p, store))
    log = os.path.join(root, "a.log")
    procs = [subprocess.Popen([A.MDBTAP, "sync", "-c", conf, "--log-file", log],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        A.wait_for("a's initial sync", lambda: "ready" in read_log(log)
                   or procs[0].poll() is not None, 240)
        A.check(procs[0].poll() is None, "a's syncer exited: " + read_log(log)[-2000:])
        last = "e%03d" % (n - 1)
        for i, db in ((0, "e000"), (n - 1, last)):
            write(paths[i], "k%d_" % i)
            A.check(delta_within(store, db, BOUND) is not None,
                    "env %d's commit not exported within %d s (poll 60 s)" % (i, BOUND))
        # Another instance's object for the last env: the shared watch
        # wakes a for it too.
        b = os.path.join(root, "b")
        write(b, "fromb")
        p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", b, "--store",
                            "file://" + store, "--instance", "b", "--name", last],
                           capture_output=True, text=True, timeout=120)
        A.eq(p.returncode, 0, "b's sync: " + p.stderr[-1500:])
        A.check(seen_within(paths[n - 1], "fromb0", BOUND) is not None,
                "b's object not applied to %s within %d s (poll 60 s)" % (last, BOUND))
        text = read_log(log)
        A.check("cannot watch the store" not in text,
                "a store not watched: " + text[text.find("cannot watch"):][:500])
    finally:
        stop(procs)
    A.finish()


if __name__ == "__main__":
    main()

"""sync_run: `mdbtap run` starts an unmodified python3-lmdb program with
the tap and, with --sync, its syncer for as long as the program runs; the
program's exit status comes back; signals reach the program.
"""
import json
import os
import re
import signal
import subprocess

import apputil as A

PY = "/usr/bin/python3"
# Writes 20 txns, then waits (at most 60 s) for its syncer to upload an
# object of instance a to the directory store: the syncer runs next to it.
PROGRAM = r'''
import os, sys, time, lmdb
env = lmdb.open(sys.argv[1], max_dbs=2)
for i in range(20):
    with env.begin(write=True) as txn:
        txn.put(b"k%02d" % i, b"v%d" % i)
    time.sleep(0.05)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if os.path.isdir(sys.argv[2]) and any("__a__" in n for n in os.listdir(sys.argv[2])):
        sys.exit(3)
    time.sleep(0.05)
sys.exit(4)
'''


def main():
    root = A.fresh_tmp()
    store_dir = os.path.join(root, "store")
    store = "file://" + store_dir
    os.makedirs(store_dir)  # mdbtap creates none unless told
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    os.makedirs(b)  # an instance joining before its program ever ran
    log = os.path.join(root, "a.log")
    # under sanitizers the runtime must stay first in LD_PRELOAD
    pre = A.PRELOAD.rsplit(":", 1)[0] if ":" in A.PRELOAD else ""
    env = A.base_env({"LD_PRELOAD": pre} if pre else None)
    p = subprocess.run([A.MDBTAP, "run", "--tap", A.PRELOAD.rsplit(":", 1)[-1], "--sync",
                        "--env", a, "--store", store, "--instance", "a",
                        "--poll-interval", "100ms", "--log-file", log, "--",
                        PY, "-c", PROGRAM, a, store_dir], env=env, capture_output=True,
                       text=True, timeout=120)
    A.check(p.returncode != 4, "the program saw no object of its syncer in the store")
    A.eq(p.returncode, 3, "mdbtap run's exit status is the program's: " + p.stderr)
    A.eq(subprocess.run(["pgrep", "-f", "--", re.escape("--env %s " % a)]).returncode, 1,
         "the syncer is still running after the program exited")
    s = subprocess.run([A.MDBTAP, "sync", "--env", a, "--store", store, "--instance", "a",
                        "--once"], capture_output=True, text=True, timeout=60)
    A.eq(s.returncode, 0, "a last sync of a: " + s.stderr)
    # (that sync folds what the syncer under `run` had no time for)
    # each txn of the program was journaled by the tap and its record
    # folded (or adopted): each key has its own txn's timestamp, in order.
    # A rescan would stamp the keys of several txns alike.
    d = subprocess.run([A.MDBTAP, "dump", a], capture_output=True, text=True, timeout=60)
    A.eq(d.returncode, 0, "dump of a: " + d.stderr)
    ts = {bytes.fromhex(e["key"]).decode(): e["ts"] for e in map(json.loads, d.stdout.split())
          if e["dbi"] is None}
    keys = ["k%02d" % i for i in range(20)]
    A.eq(sorted(ts), keys, "a's elements")
    A.check(all(ts.get(x, 0) < ts.get(y, 0) for x, y in zip(keys, keys[1:])),
            "each txn's keys carry its own, later timestamp: %r" % [ts.get(k) for k in keys])
    s = subprocess.run([A.MDBTAP, "sync", "--env", b, "--store", store, "--instance", "b",
                        "--once"], capture_output=True, text=True, timeout=60)
    A.eq(s.returncode, 0, "sync of b: " + s.stderr)
    A.eq(A.digest(b), A.digest(a), "b has what the program wrote on a")

    # SIGTERM to mdbtap run reaches the program
    # (once the program runs, mdbtap run has its handlers: it sets them
    # before it starts the program)
    q = subprocess.Popen([A.MDBTAP, "run", "--", "/bin/sh", "-c", "echo ready; exec sleep 30"],
                         env=env, stdout=subprocess.PIPE, text=True)
    A.eq(q.stdout.readline().strip(), "ready", "the program started")
    q.send_signal(signal.SIGTERM)
    A.eq(q.wait(timeout=10), 128 + signal.SIGTERM, "the program got SIGTERM")
    r = subprocess.run([A.MDBTAP, "run", "--", "/nonexistent/program"], env=env,
                       capture_output=True, text=True)
    A.eq(r.returncode, 127, "a program that cannot start")
    r = subprocess.run([A.MDBTAP, "run", "--bogus", "--", "true"], capture_output=True,
                       text=True)
    A.eq(r.returncode, 2, "an unknown option")
    A.finish()


if __name__ == "__main__":
    main()

"""sync_run: `mdbtap run` starts an unmodified python3-lmdb program with
the tap and, with --sync, its syncer for as long as the program runs; the
program's exit status comes back; signals reach the program.
"""
import os
import signal
import subprocess
import time

import apputil as A

PY = "/usr/bin/python3"
PROGRAM = r'''
import sys, time, lmdb
env = lmdb.open(sys.argv[1], max_dbs=2)
for i in range(20):
    with env.begin(write=True) as txn:
        txn.put(b"k%02d" % i, b"v%d" % i)
    time.sleep(0.05)
sys.exit(3)
'''


def main():
    root = A.fresh_tmp()
    store = "file://" + os.path.join(root, "store")
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    os.makedirs(b)  # an instance joining before its program ever ran
    log = os.path.join(root, "a.log")
    # under sanitizers the runtime must stay first in LD_PRELOAD
    pre = A.PRELOAD.rsplit(":", 1)[0] if ":" in A.PRELOAD else ""
    env = A.base_env({"LD_PRELOAD": pre} if pre else None)
    p = subprocess.run([A.MDBTAP, "run", "--tap", A.PRELOAD.rsplit(":", 1)[-1], "--sync",
                        "--env", a, "--store", store, "--instance", "a",
                        "--poll-interval", "100ms", "--log-file", log, "--",
                        PY, "-c", PROGRAM, a], env=env, capture_output=True, text=True,
                       timeout=120)
    A.eq(p.returncode, 3, "mdbtap run's exit status is the program's: " + p.stderr)
    text = open(log).read() if os.path.exists(log) else ""
    folded = sum(int(w.split()[0]) for w in text.split("local step: ")[1:])
    # (the txns before the syncer started are adopted rather than folded)
    A.check(folded >= 10 and "rescan" not in text, "the syncer folded the tap's records of the program's txns: "
            + text[-2000:])
    A.check("uploaded" in text, "the syncer ran next to the program")
    A.check(subprocess.run(["pgrep", "-f", "--instance a --poll"]).returncode != 0,
            "the syncer is still running after the program exited")
    s = subprocess.run([A.MDBTAP, "sync", "--env", a, "--store", store, "--instance", "a",
                        "--once"], capture_output=True, text=True, timeout=60)
    A.eq(s.returncode, 0, "a last sync of a: " + s.stderr)
    s = subprocess.run([A.MDBTAP, "sync", "--env", b, "--store", store, "--instance", "b",
                        "--once"], capture_output=True, text=True, timeout=60)
    A.eq(s.returncode, 0, "sync of b: " + s.stderr)
    da = subprocess.run([A.MDBTAP, "digest", a], capture_output=True, text=True).stdout
    db = subprocess.run([A.MDBTAP, "digest", b], capture_output=True, text=True).stdout
    A.check(da.strip() != "", "digest of a")
    A.eq(db, da, "b has what the program wrote on a")

    # SIGTERM to mdbtap run reaches the program
    q = subprocess.Popen([A.MDBTAP, "run", "--", "sleep", "30"], env=env)
    time.sleep(0.5)
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

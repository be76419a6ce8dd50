"""test_upload_unpinned.py: while the syncer uploads an object, it holds no
read txn on the host's env (which would pin pages and grow the host's file
for as long as the upload lasts) and, for a MDB_NOLOCK host, no fcntl lock
on its data file (which would stop the host's next write). A proxy stalls
every PUT (fault_proxy.py) so that the upload lasts; meanwhile the test
reads the host's reader table and takes the host's write lock. Then PUTs
go through and the objects arrive. Run through with_s3.py.
"""
import fcntl
import os
import subprocess
import time
from urllib.parse import urlsplit

import apputil as A
from fault_proxy import FaultProxy

import lmdb

PY = "/usr/bin/python3"
WRITE = """
import lmdb, sys
env = lmdb.open(sys.argv[1], lock=sys.argv[2] == "lock", map_size=1 << 24)
with env.begin(write=True) as txn:
    txn.put(sys.argv[3].encode(), b"v")
"""


def write(env, lock, key):
    p = subprocess.run([PY, "-c", WRITE, env, lock, key], capture_output=True, text=True,
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD), timeout=60)
    A.eq(p.returncode, 0, "writer on %s: %s" % (env, p.stderr))


def readers(env):
    """PIDs with a read txn open in env (LMDB's reader table)."""
    e = lmdb.open(env, readonly=True, lock=True)
    try:
        lines = e.readers().splitlines()[1:]
    finally:
        e.close()
    return {int(line.split()[0]) for line in lines if line.split()}


def lock_free(data):
    """Can a host take its exclusive fcntl lock on data right now?"""
    fd = os.open(data, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def main():
    root = A.fresh_tmp()
    base = os.environ["MDBTAP_TEST_STORE_URL"]
    upstream = urlsplit(base.split("endpoint=", 1)[1].split("&", 1)[0]).port
    envs = {"locked": os.path.join(root, "locked"), "nolock": os.path.join(root, "nolock")}
    for name, env in envs.items():
        os.makedirs(env)
        write(env, "lock" if name == "locked" else "nolock", "first")
    A.check(not os.path.exists(os.path.join(envs["nolock"], "lock.mdb")),
            "the nolock env has no lock file")
    with FaultProxy(upstream, seed=3) as faults:
        faults.stall_seconds = 4
        faults.set("stall", methods=["PUT"])
        url = (base.split("?", 1)[0] + "?endpoint=" + faults.endpoint +
               "&retries=1&timeout=3s&low_speed_time=2s")
        procs = {name: subprocess.Popen(
            [A.MDBTAP, "sync", "--env", env, "--store", url,
             "--name", name, "--instance", "i-" + name, "--poll-interval", "200ms",
             "--log-file", os.path.join(root, name + ".log")])
            for name, env in envs.items()}
        try:
            seen_stall = {name: 0 for name in envs}
            deadline = time.monotonic() + 60
            # Every cycle's upload stalls, so the syncers spend most of
            # their time uploading: sample while they do.
            while time.monotonic() < deadline and min(seen_stall.values()) < 20:
                if faults.injected["stall"] == 0:
                    time.sleep(0.05)
                    continue
                for name, env in envs.items():
                    # a sample counts when one stalled PUT of this syncer
                    # (its object names hold its instance) spans it whole:
                    # between its stalls the syncer reads the env, rightly
                    before = faults.stalling("__i-%s__" % name)
                    if not before:
                        continue
                    pid = procs[name].pid
                    if name == "locked":
                        held = pid in readers(env)
                    else:
                        held = not lock_free(os.path.join(env, "data.mdb"))
                    if not before & faults.stalling("__i-%s__" % name):
                        continue
                    A.check(not held, "the syncer holds %s during an upload" % (
                        "a read txn on " + name if name == "locked" else "the lock of " + name))
                    seen_stall[name] += 1
                time.sleep(0.1)
            A.check(faults.injected["stall"] >= 2, "PUTs stalled: %r" % faults.injected)
            A.check(min(seen_stall.values()) >= 5, "samples during uploads: %r" % seen_stall)
            faults.set("none")
            # the objects go through once the stall ends
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                out = subprocess.run([A.MDBTAP, "snapshots", "list", base],
                                     capture_output=True, text=True).stdout
                if all("i-" + name in out for name in envs):
                    break
                time.sleep(0.5)
            A.check(all("i-" + name in out for name in envs),
                    "each syncer uploaded once PUTs went through:\n" + out)
            for name, p in procs.items():
                A.check(p.poll() is None, "the syncer of %s exited (%s)" % (name, p.poll()))
        finally:
            for p in procs.values():
                p.terminate()
                p.wait(timeout=30)
    A.finish()


if __name__ == "__main__":
    main()

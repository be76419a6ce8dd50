"""The env's life (DESIGN.md invariants 10, 11, 12, 14): one syncer per
env, replaced and restored envs, wiped instances, instance names used by
two envs, DBIs that change shape. One regression test per mode; --lifecycle
runs them all at random against a model.

  test_life.py --MODE
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "apps"))
sys.path.insert(0, HERE)
import apputil as A  # noqa: E402
from test_converge import Instance, Model, quiesce, same_everywhere, store_url  # noqa: E402


def kv(inst, dbi="-"):
    return dict(map(tuple, inst.contents().get(dbi, [])))


def syncer_lock_pid(inst):
    try:
        with open(os.path.join(inst.env, "mdbtap", "syncer.lock")) as f:
            return f.read().strip()
    except OSError:
        return ""


def two_syncers():
    """A second syncer on a busy env is refused at once, naming the first
    one's PID; once the first is killed (SIGKILL), a syncer runs again."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    a.write([["put", None, "k", "1"]])
    first = subprocess.Popen(a.sync_argv(store, "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
    try:
        A.wait_for("the first syncer's lock", lambda: syncer_lock_pid(a) == str(first.pid))
        before = sorted(os.listdir(store)) if os.path.isdir(store) else []
        t0 = time.monotonic()
        p = subprocess.run(a.sync_argv(store, "--once"), capture_output=True, text=True,
                           timeout=60)
        A.check(p.returncode != 0, "the second syncer was refused")
        A.check(str(first.pid) in p.stderr and "another syncer" in p.stderr,
                "the refusal names the running syncer's PID: " + p.stderr)
        A.check(time.monotonic() - t0 < 20, "refused at once")
        A.check(syncer_lock_pid(a) == str(first.pid), "the lock file still names the first")
        # the running syncer's objects only (it may upload meanwhile: none of ours)
        A.check(set(before) <= set(os.listdir(store)), "nothing deleted by the second")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    a.write([["put", None, "k", "2"]])
    p = a.sync(store)
    A.eq(p.returncode, 0, "a syncer runs after the first was killed")
    b = Instance(root, "b")
    b.sync(store)
    A.eq(kv(b).get("k"), "2", "b got a's write")


def main():
    modes = {"--two-syncers": two_syncers}
    modes[sys.argv[1]](*sys.argv[2:])
    A.finish()


if __name__ == "__main__":
    main()

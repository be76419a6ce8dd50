"""The syncer wakes when something happens instead of waiting for its poll
(docs/DESIGN.md §25): two instances with running syncers through a
directory store, with a poll interval far longer than any wait here.

  test_wake.py --lag      a commit on A is on B in seconds, not a poll (60 s)
  test_wake.py --burst    1000 commits on A make a handful of objects
  test_wake.py --killed   a syncer killed while waiting: the host's commits
                          go on, the tap stops waking it once its deadline
                          passed, and a new syncer works
  test_wake.py --idle     idle syncers: no PUT, at most one LIST per cycle,
                          no more cycles than polls, little CPU
"""
import json
import os
import signal
import struct
import subprocess
import sys
import time

import lmdb

import apputil as A

PY = "/usr/bin/python3"
LONG_POLL = "60s"
BOUND = 20  # seconds: a wake is far below the 60 s poll

# One process, N write txns of one key each (the tap preloaded): a host.
WRITER = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], map_size=1 << 26)
for i in range(int(sys.argv[3])):
    with env.begin(write=True) as txn:
        txn.put(b"%s%d" % (sys.argv[2].encode(), i), b"v%d" % i)
'''


def write(env, prefix, n=1):
    p = subprocess.run([PY, "-c", WRITER, env, prefix, str(n)],
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD), capture_output=True,
                       text=True, timeout=300)
    A.eq(p.returncode, 0, "the host's %d commit(s) on %s: %s" % (n, env, p.stderr))


def value(env, key):
    e = lmdb.open(env, readonly=True, lock=True, max_dbs=4)
    try:
        with e.begin() as txn:
            return txn.get(key.encode())
    finally:
        e.close()


def start(root, name, store, *extra):
    log = open(os.path.join(root, name + ".log"), "a")
    return subprocess.Popen([A.MDBTAP, "sync", "--env", os.path.join(root, name), "--store",
                             "file://" + store, "--instance", name, *extra],
                            stdout=subprocess.DEVNULL, stderr=log)


def stats(env):
    p = subprocess.run([A.MDBTAP, "stats", "--json", env], capture_output=True, text=True,
                       timeout=60)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {}


def cycled(env, n):
    return lambda: stats(env).get("cycles", 0) >= n


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def seen_within(env, key, secs):
    """Seconds until key is readable in env (polled), or None after secs."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        if value(env, key) is not None:
            return time.monotonic() - t0
        time.sleep(0.005)
    return None


def pair(root, *extra):
    store = os.path.join(root, "store")
    os.makedirs(store)  # mdbtap creates no store directory unless told
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    write(a, "seeda")
    write(b, "seedb")
    procs = [start(root, "a", store, *extra), start(root, "b", store, *extra)]
    # each has done its first cycle (adopted, exported, listed): the next
    # poll is a whole interval away
    A.wait_for("the first cycles", lambda: cycled(a, 1)() and cycled(b, 1)(), 120)
    A.wait_for("b has a's seed", lambda: value(b, "seeda0") is not None, 120)
    A.wait_for("a has b's seed", lambda: value(a, "seedb0") is not None, 120)
    return a, b, store, procs


def lag():
    root = A.fresh_tmp()
    a, b, _, procs = pair(root, "--poll-interval", LONG_POLL)
    try:
        for i, (src, dst) in enumerate([(a, b), (a, b), (b, a), (a, b)]):
            write(src, "lag%d_" % i)
            t = seen_within(dst, "lag%d_0" % i, BOUND)
            A.check(t is not None, "commit %d on %s not on %s within %d s (poll interval %s)"
                    % (i, src, dst, BOUND, LONG_POLL))
            print("commit %d: on the other side after %s s" % (i, t))
    finally:
        stop(procs)
    A.finish()


def burst():
    root = A.fresh_tmp()
    a, b, store, procs = pair(root, "--poll-interval", LONG_POLL)
    try:
        before = stats(a).get("put", 0)
        write(a, "burst", 1000)
        t = seen_within(b, "burst999", BOUND + 30)
        A.check(t is not None, "the burst's last commit is not on b")
        puts = stats(a).get("put", 0) - before
        print("1000 commits: %d objects" % puts)
        A.check(1 <= puts <= 100, "1000 commits made %d objects (want a handful)" % puts)
        A.eq(value(b, "burst0"), b"v0", "the burst's first commit on b")
    finally:
        stop(procs)
    A.finish()


def wake_until(env):
    with open(os.path.join(env, "mdbtap", "journal"), "rb") as f:
        return struct.unpack("<Q", f.read(96)[80:88])[0]


def killed():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)  # mdbtap creates no store directory unless told
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    write(a, "seeda")
    write(b, "seedb")
    p = start(root, "a", store, "--poll-interval", "1s")
    A.wait_for("a's syncer waiting for a commit",
               lambda: cycled(a, 1)() and wake_until(a) != 0, 120)
    p.send_signal(signal.SIGKILL)
    p.wait()
    armed = wake_until(a)
    A.check(armed != 0, "the killed syncer was waiting (wake_until set)")
    # the host's commits go on, with nobody to wake
    write(a, "orphan")
    A.eq(value(a, "orphan0"), b"v0", "a commit after the syncer was killed")
    # once the dead syncer's deadline passed, the next commit forgets it:
    # no more wakes for nobody
    A.wait_for("the dead syncer's deadline",
               lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC) > wake_until(a), 60)
    write(a, "late")
    A.eq(value(a, "late0"), b"v0", "a commit after the deadline")
    A.eq(wake_until(a), 0, "the tap cleared the dead syncer's deadline")
    # a new syncer (and b's) wake as before
    procs = [start(root, "a", store, "--poll-interval", LONG_POLL),
             start(root, "b", store, "--poll-interval", LONG_POLL)]
    try:
        A.wait_for("the first cycles", lambda: cycled(a, 1)() and cycled(b, 1)(), 120)
        A.wait_for("b has a's commits", lambda: value(b, "late0") is not None, 120)
        write(a, "again")
        A.check(seen_within(b, "again0", BOUND) is not None,
                "a commit on a is not on b within %d s after a new syncer started" % BOUND)
    finally:
        stop(procs)
    A.finish()


def cpu_s(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def idle():
    root = A.fresh_tmp()
    poll = 0.2
    a, b, _, procs = pair(root, "--poll-interval", "200ms")
    try:
        for env in (a, b):
            A.wait_for("cycles of %s" % env, cycled(env, stats(env).get("cycles", 0) + 3), 120)
        s0 = {e: stats(e) for e in (a, b)}
        c0 = {p.pid: cpu_s(p.pid) for p in procs}
        t0 = time.monotonic()
        A.wait_for("10 idle cycles", lambda: all(cycled(e, s0[e]["cycles"] + 10)()
                                                 for e in (a, b)), 120)
        el = time.monotonic() - t0
        for e, p in zip((a, b), procs):
            s1 = stats(e)
            d = {k: s1[k] - s0[e][k] for k in ("put", "list", "cycles", "get")}
            # the syncer's own clock: the end of its cycles before and after
            span = (s1["updated_ns"] - s0[e]["updated_ns"]) / 1e9
            cpu = cpu_s(p.pid) - c0[p.pid]
            print("%s idle for %.1f s: %r, %.3f s CPU" % (e, el, d, cpu))
            A.eq(d["put"], 0, "%s: PUTs while idle" % e)
            A.eq(d["get"], 0, "%s: GETs while idle" % e)
            A.check(d["list"] <= d["cycles"], "%s: %d LISTs in %d cycles" % (
                e, d["list"], d["cycles"]))
            # cycles are the polls, each a poll interval after the last
            # one ended: none woke it for nothing
            A.check(d["cycles"] <= span / poll + 1, "%s: %d cycles in %.2f s at a %.1f s poll"
                    % (e, d["cycles"], span, poll))
            A.check(cpu <= 0.5 * el, "%s: %.2f s CPU in %.1f s idle" % (e, cpu, el))
    finally:
        stop(procs)
    A.finish()


if __name__ == "__main__":
    {"--lag": lag, "--burst": burst, "--killed": killed, "--idle": idle}[sys.argv[1]]()

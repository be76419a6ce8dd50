"""Adoption in chunks (docs/DESIGN.md §16 "Adoption", §21): resumable after
SIGKILL, exact with a host that keeps writing, and bounded in memory.

  test_scale.py --adopt-resume   killed at several chunks, restarted: goes on
  test_scale.py --adopt-writing  a tapped writer commits during the adoption
  test_scale.py --adopt-memory   the syncer's own memory stays small
  test_scale.py --merge-defer    a merge that meets a txn nobody journaled
                                 leaves the rescan to the local step (in
                                 chunks), not under the host's writer lock
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import apputil as A
from synclib import PY, Instance, quiesce, same_everywhere

FILL = r'''
import lmdb, sys
# the env's data before any syncer or tap: plain keys in the unnamed DBI
# and in "n", DUPSORT pairs in "d" (resumed by key and value)
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 30)
n = int(sys.argv[2])
dn, dd = env.open_db(b"n"), env.open_db(b"d", dupsort=True)
with env.begin(write=True) as txn:
    for i in range(n):
        txn.put(b"u%06d" % i, b"v%06d" % i)
        txn.put(b"k%06d" % i, b"w%06d" % i, db=dn)
    for i in range(n // 4):
        txn.put(b"k%d" % (i % 13), b"d%06d" % i, db=dd, dupdata=True)
'''


def fill(inst, n):
    subprocess.run([PY, "-c", FILL, inst.env, str(n)], check=True, timeout=300)
    return 2 * n + n // 4  # elements


def adoption_state(inst):
    """The meta env's saved adoption (struct meta_adopt): done, chunks, runs;
    None when none is under way."""
    import lmdb
    path = os.path.join(inst.env, "mdbtap", "meta")
    if not os.path.exists(os.path.join(path, "data.mdb")):
        return None
    env = lmdb.open(path, max_dbs=1024, readonly=True, lock=True)
    try:
        with env.begin() as txn:
            try:
                db = env.open_db(b"state", txn=txn, create=False)
            except lmdb.NotFoundError:
                return None
            v = txn.get(b"adopt", db=db)
    finally:
        env.close()
    if v is None:
        return None
    upto, fold_from, consume, done, chunks, runs = struct.unpack_from("<6Q", v)
    return {"upto": upto, "done": done, "chunks": chunks, "runs": runs}


def objects(store):
    return sorted(os.listdir(store)) if os.path.isdir(store) else []


def kill_at(inst, store, chunks, env):
    """Start a's syncer, SIGKILL it once its adoption committed `chunks`
    chunks; returns the saved state seen then."""
    p = subprocess.Popen(inst.sync_argv(store, "--once"), env=env, stderr=subprocess.PIPE,
                         text=True)
    seen = {}

    def reached():
        st = adoption_state(inst)
        if st and st["chunks"] >= chunks and st["runs"] >= 1:
            seen.update(st)
            return True
        A.check(p.poll() is None, "the syncer ended before chunk %d: %s" % (
            chunks, p.stderr.read()[-2000:] if p.poll() is not None else ""))
        return p.poll() is not None

    A.wait_for("adoption chunk %d" % chunks, reached, 120)
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stderr.close()
    return seen


def adopt_resume():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    total = fill(a, 80000)  # 180,000 elements in three DBIs
    # small chunks, and a pause after each, so that kills land between them
    env = dict(os.environ, MDBTAP_TEST_SCAN_CHUNK="5000", MDBTAP_TEST_CHUNK_DELAY_MS="100")
    last = 0
    for k, chunks in enumerate((2, 8, 14, 20)):  # of 36
        st = kill_at(a, store, chunks, env)
        A.check(st["done"] >= last, "the position went back: %r after %d" % (st, last))
        A.eq(st["runs"], k + 1, "runs that worked on the adoption")
        last = st["done"]
        # a half-adopted env is never exported: nothing of a's in the store
        A.eq(objects(store), [], "objects after the kill at chunk %d" % chunks)
    A.check(0 < last < total, "killed mid-way: %d of %d elements" % (last, total))
    p = subprocess.run(a.sync_argv(store, "--once"), env=dict(env, MDBTAP_TEST_CHUNK_DELAY_MS="0"),
                       capture_output=True, text=True, timeout=300)
    A.eq(p.returncode, 0, "the last run: " + p.stderr[-2000:])
    A.check("resuming the adoption" in p.stderr, "the last run resumed: " + p.stderr[-2000:])
    # every element read exactly once over the five runs: none started over
    A.check("adopted %d elements" % total in p.stderr and "5 runs" in p.stderr,
            "adopted every element once, in five runs: " + p.stderr[-2000:])
    A.eq(adoption_state(a), None, "no adoption under way after it ended")
    A.eq(len([o for o in objects(store) if "__F" in o]), 1, "one full snapshot, at the end")
    A.check(quiesce([a, b], store), "a and b converge after the resumed adoption")
    same_everywhere([a, b])
    A.eq(len(b.contents()["n"]), 80000, "b's n")


WRITER = r'''
import json, lmdb, os, random, sys, time
# commits with the tap while a's syncer adopts, until told to stop
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 30, sync=False, metasync=False)
dn, dd = env.open_db(b"n"), env.open_db(b"d", dupsort=True)
rng = random.Random(7)
i = 0
end = time.monotonic() + 120
while not os.path.exists(sys.argv[2]) and time.monotonic() < end:
    i += 1
    with env.begin(write=True) as txn:
        for _ in range(5):
            k = b"k%06d" % rng.randrange(int(sys.argv[3]))
            if rng.random() < 0.3:
                txn.delete(k, db=dn)
            else:
                txn.put(k, b"x%d" % i, db=dn)
            txn.put(b"u%06d" % rng.randrange(int(sys.argv[3])), b"y%d" % i)
        txn.put(b"k%d" % rng.randrange(13), b"z%06d" % i, db=dd, dupdata=True)
    time.sleep(0.002)
print(i)
'''


def adopt_writing():
    """A tapped writer commits all through a chunked adoption (killed once
    and resumed): every write reaches the other instance."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    n = 40000
    fill(a, n)
    env = dict(os.environ, MDBTAP_TEST_SCAN_CHUNK="3000", MDBTAP_TEST_CHUNK_DELAY_MS="30")
    stop = os.path.join(root, "stop")
    w = subprocess.Popen([PY, "-c", WRITER, a.env, stop, str(n)],
                         env=dict(os.environ, LD_PRELOAD=A.PRELOAD), stdout=subprocess.PIPE,
                         text=True)
    try:
        A.wait_for("the writer's commits", lambda: A.env_last_txnid(a.env, False) >= 5, 60)
        kill_at(a, store, 6, env)
        first = A.env_last_txnid(a.env, False)
        p = subprocess.run(a.sync_argv(store, "--once"), env=env, capture_output=True,
                           text=True, timeout=300)
        A.eq(p.returncode, 0, "the resumed adoption: " + p.stderr[-2000:])
        A.check("resuming the adoption" in p.stderr, "resumed: " + p.stderr[-2000:])
        A.check(A.env_last_txnid(a.env, False) > first + 3,
                "the writer committed during the resumed adoption")
    finally:
        open(stop, "w").close()
        out, _ = w.communicate(timeout=120)
    A.eq(w.returncode, 0, "the writer")
    A.check(int(out or 0) > 0, "the writer committed")
    # nothing lost: a's own env is the truth (only its writer wrote)
    A.check(quiesce([a, b], store), "a and b converge after adopting under writes")
    same_everywhere([a, b])


def adopt_memory():
    """The syncer's own (anonymous) memory while it adopts 400,000 keys in
    chunks of 20,000 stays well below what one meta txn needs: one txn
    keeps every dirty page of the metadata in memory (about 25 MiB here,
    20 MiB above the syncer's base)."""
    if "MDBTAP_BIN_REAL" in os.environ:
        print("skipped: a sanitizer build's memory says nothing of this")
        A.finish()
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    subprocess.run([PY, "-c", r'''
import lmdb, sys
env = lmdb.open(sys.argv[1], map_size=1 << 30)
with env.begin(write=True) as txn:
    for i in range(400000):
        txn.put(b"key%013d" % i, b"v" * 100)
''', a.env], check=True, timeout=300)
    env = dict(os.environ, MDBTAP_TEST_SCAN_CHUNK="20000")
    p = subprocess.Popen(a.sync_argv(store, "--once"), env=env, stderr=subprocess.PIPE,
                         text=True)
    peak = 0
    while p.poll() is None:  # a sampled peak: never above the real one
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.002)
    err = p.stderr.read()
    A.eq(p.returncode, 0, "the adoption: " + err[-2000:])
    A.check("adopted 400000 elements" in err, "adopted: " + err[-2000:])
    print("peak anonymous memory: %d KiB" % peak)
    A.check(0 < peak < 14 * 1024, "peak anonymous memory %d KiB: the metadata is not "
            "written in bounded chunks" % peak)


UNSEEN = r'''
import lmdb, sys
# a writer WITHOUT the tap: its txn ids have no journal record
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 30)
dn = env.open_db(b"n")
with env.begin(write=True) as txn:
    for i in range(0, 1000, 10):
        txn.put(b"k%06d" % i, b"unseen%d" % i, db=dn)
    txn.put(b"unseen-new", b"x")
    txn.delete(b"u000001")
'''


APPLIED_B = r"applied \S+__b__"


def wait_log(path, pattern, what, bound=120):
    def seen():
        if not os.path.exists(path):
            return False
        with open(path) as f:
            return re.search(pattern, f.read()) is not None
    A.wait_for(what, seen, bound)


def merge_defer():
    """A's syncer runs (a poll far longer than the test), has synced, and
    watches the store. A writer without the tap commits on A; then B
    exports an object, which wakes A for a receive-only cycle: its merge's
    fold is the first to meet the unaccounted txn id. The env (2,250
    elements) is over one scan chunk (100), so the merge is deferred, the
    local step rescans in chunks, and the object is merged after it."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    fill(a, 1000)  # 2,250 elements
    chunk = {"MDBTAP_TEST_SCAN_CHUNK": "100"}
    a.extra.update(chunk)
    b.extra.update(chunk)
    A.check(quiesce([a, b], store), "a and b converge first")
    log = os.path.join(root, "a.log")
    d = subprocess.Popen(a.sync_argv(store, "--poll-interval", "1h", "--log-level", "debug",
                                     "--log-file", log),
                         env=dict(os.environ, **chunk), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_log(log, "watching the store for new objects", "a's syncer watching the store")
        subprocess.run([PY, "-c", UNSEEN, a.env], check=True, timeout=120)
        b.write([["put", "n", "k000005", "from-b"], ["put", None, "b-new", "b"]])
        b.sync(store)
        wait_log(log, "a merge deferred", "the merge deferred")
        wait_log(log, APPLIED_B, "b's object applied after the local step")
        st = subprocess.run([A.MDBTAP, "stats", "--json", a.env], capture_output=True,
                            text=True, timeout=60)
        A.check(json.loads(st.stdout).get("merges_deferred", 0) >= 1,
                "merges_deferred counted: " + st.stdout)
    finally:
        d.terminate()
        d.wait(timeout=120)
    with open(log) as f:
        text = f.read()
    deferred = text.find("a merge deferred")
    A.check(deferred >= 0, "a merge was deferred")
    if deferred < 0:
        A.finish()
    chunked = text.find("rescan (unaccounted) done in ", deferred)
    m = re.compile(APPLIED_B).search(text, deferred)
    applied = m.start() if m else -1
    A.check(chunked > deferred, "the local step rescanned in chunks after the deferral: " +
            text[deferred:deferred + 3000])
    A.check(applied > chunked, "b's object applied after the chunked rescan: " +
            text[deferred:deferred + 3000])
    A.check(quiesce([a, b], store), "a and b converge after the deferred merge")
    same_everywhere([a, b])
    c = a.contents()
    n = dict(map(tuple, c["n"]))
    A.eq(n.get("k000005"), "from-b", "b's write on a")
    A.eq(n.get("k000010"), "unseen10", "the unseen writer's change on a")
    A.check(["b-new", "b"] in c["-"] and ["unseen-new", "x"] in c["-"] and
            not any(k == "u000001" for k, _ in c["-"]), "unnamed DBI on a: b's and the unseen "
            "writer's changes")


def peak_anon(argv, env=None):
    """Run argv; its peak RssAnon (KiB, sampled: never above the real one)
    and its stderr."""
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    peak = 0
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.002)
    err = p.stderr.read()
    A.eq(p.returncode, 0, " ".join(argv[1:3]) + ": " + err[-2000:])
    return peak, err


DUPFILL = r'''
import lmdb, sys
# one DUPSORT DBI: 400 keys, n / 400 values each (100 bytes); no tap
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=4 << 30, sync=False)
dd = env.open_db(b"d", dupsort=True)
n, tag = int(sys.argv[2]), sys.argv[3].encode()
with env.begin(write=True) as txn:
    c = txn.cursor(db=dd)
    for k in range(400):
        for v in range(n // 400):
            c.put(b"key%013d" % k, tag + b"%012d" % v + b"x" * 85, dupdata=True)
env.sync(True)
'''


def adopt_memory_dupsort():
    """Issue 12: the syncer's memory does not grow with a DUPSORT DBI. Its
    elements' metadata is keyed by a hash ("t:"), so an adoption or rescan
    in key order writes it at scattered places: a chunk of 50,000 elements
    dirtied up to 50,000 pages of one meta txn (kept in memory by LMDB:
    above 40 MiB here, growing with the env). A chunk now also ends after
    ELEM_CHUNK_WRITES scattered writes (16 MiB of pages)."""
    if "MDBTAP_BIN_REAL" in os.environ:
        print("skipped: a sanitizer build's memory says nothing of this")
        A.finish()
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    n = 400000
    subprocess.run([PY, "-c", DUPFILL, a.env, str(n), "val"], check=True, timeout=300)
    bound = 30 * 1024  # KiB: the syncer's base (about 8 MiB) and 16 MiB of pages, and room
    peak, err = peak_anon(a.sync_argv(store, "--once"))
    print("adoption of %d DUPSORT pairs: peak anonymous memory %d KiB" % (n, peak))
    A.check("adopted %d elements" % n in err, "adopted: " + err[-2000:])
    A.check(0 < peak < bound, "adoption: peak anonymous memory %d KiB (bound %d)" % (peak, bound))
    # a writer without the tap adds n / 2 pairs: the next run rescans them
    subprocess.run([PY, "-c", DUPFILL, a.env, str(n // 2), "new"], check=True, timeout=300)
    peak, err = peak_anon(a.sync_argv(store, "--once"))
    print("rescan of %d new DUPSORT pairs: peak anonymous memory %d KiB" % (n // 2, peak))
    m = re.search(r"rescan \(\w+\) done in (\d+) chunks", err)
    A.check(m is not None, "rescanned in chunks: " + err[-2000:])
    # every new pair is a scattered write: chunks of at most 4096 of them
    A.check(m is not None and int(m.group(1)) >= n // 2 // 4096,
            "chunks of the rescan: " + (m.group(0) if m else "none"))
    A.check(0 < peak < bound, "rescan: peak anonymous memory %d KiB (bound %d)" % (peak, bound))


GEN = r'''
import lmdb, sys
# n keys in DBI "n", values TAG and the key's number; no tap
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 30)
dn = env.open_db(b"n")
with env.begin(write=True) as txn:
    for i in range(int(sys.argv[2])):
        txn.put(b"k%06d" % i, sys.argv[3].encode() + b"%06d" % i, db=dn)
'''

PUT = r'''
import lmdb, sys
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 30)
dn = env.open_db(b"n")
with env.begin(write=True) as txn:
    txn.put(sys.argv[2].encode(), sys.argv[3].encode(), db=dn)
'''


def adopt_replaced(how="new-file"):
    """An adoption killed half-way; then the env is restored from an older
    backup (fewer keys, other values) as a new file (how: new-file, copied
    and renamed) or over the data file in place. The next run must not
    resume the adoption, whose metadata holds the newer values' digests:
    it starts over (as a running syncer re-adopts a replaced file). Else a
    rescan later stamps the restored old value with its own time, and it
    beats a real write of another instance (red team 12, finding 5)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    old = os.path.join(root, "old")
    os.makedirs(old)
    subprocess.run([PY, "-c", GEN, old, "30000", "OLD"], check=True, timeout=120)
    subprocess.run([PY, "-c", GEN, a.env, "60000", "NEW"], check=True, timeout=120)
    env = dict(os.environ, MDBTAP_TEST_SCAN_CHUNK="3000", MDBTAP_TEST_CHUNK_DELAY_MS="100")
    st = kill_at(a, store, 6, env)
    A.check(0 < st["done"] < 60000, "killed mid-way: %r" % st)
    data = os.path.join(a.env, "data.mdb")
    if how == "new-file":
        shutil.copyfile(os.path.join(old, "data.mdb"), data + ".new")
        os.rename(data + ".new", data)
    else:
        shutil.copyfile(os.path.join(old, "data.mdb"), data)  # truncates, keeps the inode
    p = subprocess.run(a.sync_argv(store, "--once"), capture_output=True, text=True,
                       timeout=300)
    A.eq(p.returncode, 0, "a's run after the restore: " + p.stderr[-2000:])
    A.check("resuming the adoption" not in p.stderr and "was replaced" in p.stderr,
            "the adoption started over on the restored file: " + p.stderr[-2000:])
    A.check("adopted 30000 elements" in p.stderr, "adopted the restored file's keys once: " +
            p.stderr[-2000:])
    A.eq(adoption_state(a), None, "no adoption under way after it ended")
    A.check(quiesce([a, b], store), "a and b converge after the adoption")
    same_everywhere([a, b])
    A.eq(len(b.contents()["n"]), 30000, "b holds the restored file's keys")
    # b's real write, then a write on a without the tap (a's next run
    # rescans): b's write must win everywhere
    b.write([["put", "n", "k000005", "FROM_B"]])
    b.sync(store)
    time.sleep(0.01)  # the untapped write's rescan time is after b's write
    subprocess.run([PY, "-c", PUT, a.env, "zz", "1"], check=True, timeout=60)
    A.check(quiesce([a, b], store), "a and b converge after b's write")
    # (b's writer made an empty DBI "d" too: n is what matters)
    A.check(a.contents()["n"] == b.contents()["n"], "a's and b's n differ")
    for i in (a, b):
        n = dict(map(tuple, i.contents()["n"]))
        A.eq(n.get("k000005"), "FROM_B", "b's write on " + i.name)
        A.eq(n.get("k000006"), "OLD000006", "the restored value on " + i.name)


def main():
    modes = {"--adopt-resume": adopt_resume, "--adopt-writing": adopt_writing,
             "--adopt-memory": adopt_memory, "--merge-defer": merge_defer,
             "--adopt-memory-dupsort": adopt_memory_dupsort,
             "--adopt-replaced": adopt_replaced,
             "--adopt-replaced-in-place": lambda: adopt_replaced("in-place")}
    modes[sys.argv[1]](*sys.argv[2:])
    A.finish()


if __name__ == "__main__":
    main()

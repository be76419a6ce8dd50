"""Convergence of several instances through a directory store, or an S3
store when $MDBTAP_TEST_STORE_URL names one (tests/s3/with_s3.py sets it)
(docs/DESIGN.md §1, §2, §4, §5, §9): python3-lmdb writers with the tap,
`mdbtap sync --once` runs interleaved at random, then quiet. Checks equal digests, equal
contents (read with python3-lmdb without the tap and by mdb_dump, an
independent reader), and contents equal to a last-writer-wins model built
from what each transaction did, ordered by when it ran as measured here
(not by the timestamps the product gave it).

  test_converge.py N_INSTANCES SEED STEPS
  test_converge.py --unseen      a write the tap cannot see (mdb_load)
  test_converge.py --bad-objects corrupt, truncated and foreign objects
"""
import json
import os
import random
import subprocess
import sys
import time

import apputil as A
from synclib import (HERE, PY, SYNC_FLAGS, Instance, Model, quiesce, random_ops,
                     same_everywhere, store_url)



def converge(n, seed, steps):
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    rng = random.Random(seed)
    insts = [Instance(root, "i%d" % k) for k in range(n)]
    model = Model()
    for _ in range(steps):
        i = rng.choice(insts)
        ts, done = i.write(random_ops(rng))
        if ts is not None:
            model.apply(i.window, done)
        if rng.random() < 0.5:
            rng.choice(insts).sync(store)
    A.check(quiesce(insts, store), "digests still differ after quiescing")
    digests = [i.digest() for i in insts]
    A.eq(len(set(digests)), 1, "distinct digests: " + repr(digests))
    A.check(digests[0].strip() != "", "digest printed nothing")
    contents = [i.contents() for i in insts]
    for i, c in zip(insts[1:], contents[1:]):
        A.eq(c, contents[0], "contents of %s vs %s" % (i.name, insts[0].name))
    dumps = [i.mdb_dump() for i in insts]
    for i, d in zip(insts[1:], dumps[1:]):
        A.eq(d, dumps[0], "mdb_dump of %s vs %s" % (i.name, insts[0].name))
    got = {k: contents[0].get(k, []) for k in ("-", "n", "d")}
    A.eq(got, model.expected(), "contents vs the last-writer-wins model")


def unseen():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "seen", "1"]])
    a.sync(store)
    b.sync(store)
    p = subprocess.run(["mdb_load", "-T", a.env], input="unseen\nzz\n", text=True,
                       capture_output=True)
    A.eq(p.returncode, 0, "mdb_load: " + p.stderr)
    log = a.sync(store).stderr
    A.check("rescan" in log, "no rescan logged for the unseen write: " + log)
    b.sync(store)
    A.eq(b.contents()["-"], [["seen", "1"], ["unseen", "zz"]], "b after a's unseen write")
    A.eq(a.digest(), b.digest(), "digests")


def bad_objects():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "k", "1"]])
    a.sync(store)
    b.sync(store)
    before = b.digest()
    good = sorted(n for n in os.listdir(store) if "__a__" in n)[-1]
    data = open(os.path.join(store, good), "rb").read()
    db, _, ts, gen, rest = good.split("__")

    def c_name(ns):  # a valid name of a third instance "c"
        return "__".join([db, "c", ts[:16] + "%09d" % ns, gen, rest])
    bad = {
        c_name(1): b"not zstd at all",
        c_name(2): data[: len(data) // 2],               # truncated
        c_name(3): data[:-6] + bytes(6),                 # checksum broken
        "main__c__junk.pb.zst": data,                    # a name that is not ours
        "README": b"hello",
    }
    for name, blob in bad.items():
        with open(os.path.join(store, name), "wb") as f:
            f.write(blob)
    p = b.sync(store)
    A.check("not applied" in p.stderr, "no error for the bad objects: " + p.stderr)
    A.eq(b.digest(), before, "digest after the bad objects")
    a.write([["put", None, "k2", "2"]])
    a.sync(store)
    b.sync(store)
    A.eq(b.contents()["-"], [["k", "1"], ["k2", "2"]], "a valid object after the bad ones")


def late_join():
    """C joins late (full snapshots, then deltas); later C is away while A's
    deltas it needs are deleted: it converges through A's newest full."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    rng = random.Random(7)
    a, b = Instance(root, "a"), Instance(root, "b")
    model = Model()

    def step(i):
        ts, done = i.write(random_ops(rng))
        if ts is not None:
            model.apply(i.window, done)
    for _ in range(20):
        step(rng.choice([a, b]))
        rng.choice([a, b]).sync(store)
    c = Instance(root, "c")
    A.check(quiesce([a, b, c], store), "c did not converge after joining")
    same_everywhere([a, b, c], model)
    for _ in range(15):  # c is away
        step(a)
        a.sync(store)
    deltas = sorted(n for n in os.listdir(store) if "__a__" in n and "__D" in n)
    a.sync(store, "--full-now")
    for n in deltas:  # the deltas c needs are gone
        os.unlink(os.path.join(store, n))
    step(a)
    a.sync(store)
    log = c.sync(store).stderr
    A.check(quiesce([a, b, c], store), "c did not converge through the full snapshot: " + log)
    same_everywhere([a, b, c], model)


def clock_behind():
    """B's clock is an hour behind; after merging A's write, B's own later
    write still wins (the hybrid logical clock)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    b.extra = {"MDBTAP_TEST_CLOCK_OFFSET_NS": str(-3600 * 10**9)}
    a.write([["put", None, "seed", "a"]])
    b.write([["put", None, "seed2", "b"]])
    a.sync(store)
    b.sync(store)
    a.sync(store)
    ts_a, _ = a.write([["put", None, "k", "from-a"]])
    a.sync(store)
    b.sync(store)
    A.eq(dict(map(tuple, b.contents()["-"])).get("k"), "from-a", "b merged a's write")
    ts_b, _ = b.write([["put", None, "k", "from-b"]])
    A.check(ts_b is not None and ts_a is not None and ts_b > ts_a,
            "b's later write is stamped after a's (%s > %s)" % (ts_b, ts_a))
    b.sync(store)
    a.sync(store)
    A.eq(dict(map(tuple, a.contents()["-"])).get("k"), "from-b", "a has b's later write")
    same_everywhere([a, b])


def sigkill():
    """A's syncer, running with a 50 ms poll, is killed with SIGKILL at
    random moments while A keeps writing; then everything converges."""
    import signal
    import time
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    rng = random.Random(11)
    a, b = Instance(root, "a"), Instance(root, "b")
    model = Model()
    for k in range(25):
        # a writes while its syncer is down (so the test reads the records
        # before the syncer consumes them), then the syncer starts, folds,
        # exports and merges b's objects, and is killed somewhere in that
        for i in (a, b):
            for _ in range(rng.randint(0, 2)):
                ts, done = i.write(random_ops(rng))
                if ts is not None:
                    model.apply(i.window, done)
        if k % 2 == 0:
            b.sync(store)
        p = subprocess.Popen(a.sync_argv(store, "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
        time.sleep(rng.random() * 0.12)
        p.send_signal(signal.SIGKILL)
        p.wait()
        a.new_records()  # its own merge records
    A.check(quiesce([a, b], store), "no convergence after the kills")
    same_everywhere([a, b], model)


def adopt_journaled():
    """Writes the tap journaled before an instance's syncer first ran keep
    their timestamps at adoption (only data older than the journal gets
    timestamp 0): a's later write wins over b's earlier one."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    b.write([["put", None, "seed", "b"]])
    b.sync(store)  # b adopted before its write of k: that one is folded
    ts_b, _ = b.write([["put", None, "k", "from-b"]])
    b.sync(store)
    ts_a, _ = a.write([["put", None, "k", "from-a"]])  # "from-a" < "from-b": no tie helps
    A.check(ts_a is not None and ts_b is not None and ts_a > ts_b, "a wrote after b")
    log = a.sync(store).stderr  # a's first sync: adoption
    A.check("adopting" in log, "a adopted its env: " + log)
    b.sync(store)
    for i in (a, b):
        A.eq(dict(map(tuple, i.contents()["-"])).get("k"), "from-a", "k on " + i.name)
    same_everywhere([a, b])


def pending(tool):
    """A writer that died between the tap's append and its commit leaves a
    PENDING record for a txn id the env never reached (a later txn takes
    it); one that stalls there keeps its record PENDING while alive. The
    fold neither fails nor stops on them: the dead one's id is taken by the
    next txn, the live one is waited for and then folded in doubt."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "k1", "a"]])
    b.write([["put", None, "k2", "b"]])
    for i in (a, b, a):
        i.sync(store)
    companion = os.path.join(a.env, "mdbtap")
    last = A.env_last_txnid(a.env, False)
    r = A.run([tool, companion, str(last + 1)])  # dies without its commit
    A.eq(r.rc, 0, "jnl_pending: %r" % r.err)
    b.write([["put", None, "k3", "b"]])
    b.sync(store)
    a.sync(store)  # past the dead writer's record: it still merges b's k3
    A.eq(sorted(k for k, _ in a.contents()["-"]), ["k1", "k2", "k3"],
         "a's keys after its sync past a dead writer's record")
    a.write([["put", None, "k4", "a"]])  # takes the dead record's txn id
    for i in (a, b, a):
        i.sync(store)
    same_everywhere([a, b])
    A.eq(sorted(k for k, _ in a.contents()["-"]), ["k1", "k2", "k3", "k4"], "a's keys")

    # a committed txn whose writer, alive, has not marked its record yet
    w = subprocess.run([PY, os.path.join(HERE, "writer.py"), a.env],
                       input=json.dumps([["put", None, "k5", "unseen"]]), capture_output=True,
                       text=True, env=A.base_env(), timeout=60)
    A.eq(w.returncode, 0, "plain writer: " + w.stderr)
    last = A.env_last_txnid(a.env, False)
    holder = subprocess.Popen([tool, companion, str(last), "2", "k5"], stdout=subprocess.PIPE,
                              text=True)
    A.eq(holder.stdout.readline().strip(), "pending %d" % last, "the live writer's record")
    a.sync(store)  # waits for it (Instance.sync fails on an error exit)
    A.eq(holder.wait(timeout=30), 0, "the live writer")
    for i in (a, b, a, b):
        i.sync(store)
    same_everywhere([a, b])
    A.eq(dict(map(tuple, b.contents()["-"])).get("k5"), "unseen", "b got the in-doubt txn")


def clean():
    """With --keep-interval 0 each instance deletes its objects as soon as a
    newer full snapshot of its own supersedes them: the instances still
    converge to the model, and the store keeps a few objects each."""
    SYNC_FLAGS.extend(["--keep-interval", "0"])
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    rng = random.Random(21)
    insts = [Instance(root, n) for n in ("a", "b")]
    model = Model()
    logs = ""
    for _ in range(60):
        i = rng.choice(insts)
        ts, done = i.write(random_ops(rng))
        if ts is not None:
            model.apply(i.window, done)
        if rng.random() < 0.6:
            logs += rng.choice(insts).sync(store).stderr
    A.check(quiesce(insts, store), "no convergence while objects are deleted")
    same_everywhere(insts, model)
    A.check("deleted" in logs, "no object was ever deleted")
    p = subprocess.run([A.MDBTAP, "snapshots", "list", store_url(store)], capture_output=True,
                       text=True, timeout=60)
    A.eq(p.returncode, 0, "snapshots list: " + p.stderr)
    for i in insts:
        n = sum(1 for line in p.stdout.splitlines() if line.split()[1:2] == [i.name])
        A.check(1 <= n <= 3, "%s keeps %d objects in the store:\n%s" % (i.name, n, p.stdout))


def dump(inst):
    p = subprocess.run([A.MDBTAP, "dump", inst.env], capture_output=True, text=True, timeout=60)
    A.eq(p.returncode, 0, "dump %s: %s" % (inst.name, p.stderr))
    return [json.loads(line) for line in p.stdout.splitlines()]


def stats(inst):
    p = subprocess.run([A.MDBTAP, "stats", "--json", inst.env], capture_output=True, text=True,
                       timeout=60)
    return json.loads(p.stdout) if p.returncode == 0 else {}


def sweep():
    """--tombstone-retention: tombstones are kept, exported and applied
    while younger than the retention, then forgotten everywhere (metadata,
    digests, full snapshots) while the live data still matches the model.
    Past the retention, a delete still reaches an instance that holds the
    element, a tombstone of an element an instance never had is not taken
    in, and the objects of an instance stopped for over half the retention
    are not loaded."""
    # long enough that the random phase and a quiesce fit in it on a
    # loaded machine: with 5 s, deletes came back (swept before the other
    # instance had them) and the young tombstone was gone before checked
    retention = 20
    SYNC_FLAGS.extend(["--tombstone-retention", "%ds" % retention, "--full-interval", "2s"])
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    rng = random.Random(33)
    insts = [Instance(root, n) for n in ("a", "b")]
    model = Model()
    for _ in range(40):
        i = rng.choice(insts)
        ts, done = i.write(random_ops(rng))
        if ts is not None:
            model.apply(i.window, done)
        if rng.random() < 0.5:
            rng.choice(insts).sync(store)
    insts[0].write([["put", "n", "young", "v"]])
    insts[0].write([["del", "n", "young", ""]])
    A.check(quiesce(insts, store), "no convergence before the retention passed")
    for i in insts:  # a fresh delete is kept, and reached b
        A.check(any(e["deleted"] and e["dbi"] == "n" and e["key"] == b"young".hex()
                    for e in dump(i)), "%s keeps the young tombstone" % i.name)
    time.sleep(retention + 0.5)
    A.check(quiesce(insts, store), "no convergence after the sweep")
    same_everywhere(insts, model)
    for i in insts:
        left = [e for e in dump(i) if e["deleted"]]
        A.eq(left, [], "tombstones left on %s past the retention" % i.name)
    insts[0].sync(store, "--full-now")
    p = subprocess.run([A.MDBTAP, "snapshots", "list", store_url(store)], capture_output=True,
                       text=True, timeout=60)
    full = [line.split()[0] for line in p.stdout.splitlines()
            if line.split()[1:3] == ["a", "full"]][-1]
    p = subprocess.run([A.MDBTAP, "snapshots", "dump", store_url(store), full],
                       capture_output=True, text=True, timeout=60)
    A.eq(p.returncode, 0, "snapshots dump: " + p.stderr)
    A.eq([line for line in p.stdout.splitlines() if json.loads(line)["deleted"]], [],
         "tombstones in a's full snapshot made after the sweep")

    # x deletes "gone" and "held"; c holds "held" from before it ever
    # synced (timestamp 0) and never had "gone". x keeps its tombstones (no
    # retention of its own) and makes a full snapshot after the retention
    # has passed; c, with the retention, first syncs from it.
    x, c = Instance(root, "x"), Instance(root, "c")
    store2 = os.path.join(root, "store2")
    with_retention = list(SYNC_FLAGS)
    SYNC_FLAGS[:] = []
    x.write([["put", "n", "gone", "1"], ["put", "n", "held", "1"]])
    x.sync(store2)
    x.write([["del", "n", "gone", ""], ["del", "n", "held", ""]])
    x.sync(store2)
    subprocess.run([PY, os.path.join(HERE, "writer.py"), c.env],
                   input=json.dumps([["put", "n", "held", "2"]]), capture_output=True,
                   text=True, timeout=60, check=True)  # no tap: adopted with ts 0
    time.sleep(retention + 0.5)
    x.sync(store2, "--full-now")  # c loads this one: the tombstones, not the puts
    SYNC_FLAGS[:] = with_retention
    c.sync(store2)
    got = {(e["key"], e["deleted"]) for e in dump(c)}
    A.check((b"held".hex(), True) in got, "c still holds 'held', deleted by x: %r" % got)
    A.check(all(k != b"gone".hex() for k, _ in got), "c took in the old tombstone of 'gone'")
    A.eq(c.contents().get("n", []), [], "c's 'n' DBI")
    A.eq(stats(c).get("tombstones_ignored"), 1, "old tombstones c did not take in")

    # An instance that has uploaded nothing for over half the retention has
    # stopped (a running one makes a full snapshot at least that often): its
    # objects, which may hold what was deleted since, are not loaded.
    y, z = Instance(root, "y"), Instance(root, "z")
    store3 = os.path.join(root, "store3")
    y.write([["put", "n", "zombie", "1"]])
    y.sync(store3)
    time.sleep(retention / 2 + 0.5)
    z.sync(store3)
    A.eq(z.contents().get("n", []), [], "z loaded the stopped instance y")
    y.sync(store3)  # y runs again: a fresh full snapshot
    z.sync(store3)
    A.eq(z.contents().get("n", []), [["zombie", "1"]], "z loads y once y runs again")

    # Many tombstones, in several of the sweeper's chunks (10,000 elements
    # each), between live elements, in a plain and a DUPSORT DBI.
    big = Instance(root, "big")
    n = 25000
    big.write([["put", "n", "k%05d" % i, "v"] for i in range(n)] +
              [["dput", "d", "k%d" % (i % 3), "v%05d" % i] for i in range(n)])
    big.write([["del", "n", "k%05d" % i, ""] for i in range(n) if i % 7] +
              [["ddel", "d", "k%d" % (i % 3), "v%05d" % i] for i in range(n) if i % 7])
    big.sync(os.path.join(root, "store4"))
    time.sleep(retention + 0.5)
    big.sync(os.path.join(root, "store4"))
    elems = dump(big)
    A.eq(sum(e["deleted"] for e in elems), 0, "tombstones left on big")
    A.eq(sum(1 for e in elems if e["dbi"] == "n"), len(range(0, n, 7)), "live elements of n")
    A.eq(sum(1 for e in elems if e["dbi"] == "d"), len(range(0, n, 7)), "live elements of d")
    A.eq(stats(big).get("tombstones_swept"), 2 * (n - len(range(0, n, 7))),
         "tombstones big swept")


def full_chunked():
    """A full snapshot of a large env is read in many short host read txns
    while a writer keeps committing: the instance that loads it, and the
    deltas after it, still ends up equal to the writer's."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    n = 45000
    a.write([["put", "n", "k%05d" % i, "v0"] for i in range(n)] +
            [["dput", "d", "k%d" % (i % 7), "v%05d" % i] for i in range(n)])
    stop = os.path.join(root, "stop")
    churn = subprocess.Popen([PY, "-c", r"""
import lmdb, os, random, sys, time
# pinned pages while adopting; no fsync: commits come often, between the
# syncer's read txns. Paced and stopped by the test (or after 120 s), not
# a fixed count: a fast machine once finished the count before the
# syncer's second read txn.
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 30, sync=False, metasync=False)
n, d = env.open_db(b"n"), env.open_db(b"d", dupsort=True)
rng = random.Random(5)
i = 0
end = time.monotonic() + 120
while not os.path.exists(sys.argv[2]) and time.monotonic() < end:
    i += 1
    time.sleep(0.001)
    with env.begin(write=True) as txn:
        k = b"k%05d" % rng.randrange(45000)
        if rng.random() < 0.3:
            txn.delete(k, db=n)
        else:
            txn.put(k, b"w%d" % i, db=n)
        txn.put(b"k%d" % rng.randrange(7), b"w%05d" % i, db=d, dupdata=True)
print(i)
""", a.env, stop], env=dict(os.environ, LD_PRELOAD=A.PRELOAD), stdout=subprocess.PIPE,
        text=True)
    try:
        # the writer is under way: its first commits are done
        A.wait_for("the churning writer's commits",
                   lambda: A.env_last_txnid(a.env, False) >= 5, 60)
        # a's first sync (adoption: a full snapshot) while the writer
        # writes. Seen from outside, through LMDB's reader table: the
        # syncer's read txns, and the env txn each one reads. Many short
        # ones that see the writer's new commits, not one long one.
        sync = subprocess.Popen(a.sync_argv(store, "--once"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        seen = set()
        import lmdb  # the reader table, read here without the tap
        watch = lmdb.open(a.env, max_dbs=4, readonly=True)
        while sync.poll() is None:
            for line in watch.readers().splitlines():
                f = line.split()
                if len(f) == 3 and f[0] == str(sync.pid) and f[2].isdigit():
                    seen.add(int(f[2]))
        watch.close()
        err = sync.stderr.read()
        sync.wait()
        A.eq(sync.returncode, 0, "a's first sync: " + err[-2000:])
    finally:
        open(stop, "w").close()
        out, _ = churn.communicate(timeout=120)
    A.eq(churn.returncode, 0, "the churning writer")
    A.check(int(out or 0) > 0, "the writer committed")
    A.check(len(seen) >= 3, "the syncer's read txns saw %d env txns (%r): not read in short "
            "txns while the writer committed" % (len(seen), sorted(seen)))
    print("the syncer's read txns saw env txns %r; the writer made %s" % (sorted(seen), out))
    a.new_records()
    A.check(quiesce([a, b], store), "no convergence after a full snapshot read in pieces")
    same_everywhere([a, b])


def retire():
    """`mdbtap snapshots retire`: refused while the instance uploaded lately,
    then (--now) deletes its objects and no other's; what it wrote lives on
    in the other instance's objects, so a new instance still gets it."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b, c = (Instance(root, n) for n in ("a", "b", "c"))
    b.write([["put", "n", "from-b", "1"]])
    a.write([["put", "n", "from-a", "1"]])
    A.check(quiesce([a, b], store), "a and b converge")

    def snapshots(*args):
        return subprocess.run([A.MDBTAP, "snapshots", *args], capture_output=True, text=True,
                              timeout=60)

    def owners():
        out = snapshots("list", store_url(store)).stdout
        return sorted({line.split()[1] for line in out.splitlines()})

    p = snapshots("retire", store_url(store), "b")
    A.eq(p.returncode, 1, "retiring an instance that just uploaded: " + p.stdout + p.stderr)
    A.check("--now" in p.stderr, "the refusal says how: " + p.stderr)
    A.eq(owners(), ["a", "b"], "nothing deleted after the refusal")
    p = snapshots("retire", store_url(store), "b", "--now")
    A.eq(p.returncode, 0, "retire --now: " + p.stderr)
    A.check("objects of instance 'b' deleted" in p.stdout, p.stdout)
    A.eq(owners(), ["a"], "only b's objects went")
    p = snapshots("retire", store_url(store), "nobody", "--now")
    A.eq(p.returncode, 1, "retiring an instance with no object")
    A.check("has no object" in p.stderr, p.stderr)
    a.sync(store, "--full-now")
    c.sync(store)
    A.eq(c.contents().get("n"), [["from-a", "1"], ["from-b", "1"]], "c got b's write from a")


def journaled(inst, what):
    """The local records of inst's last write (read before its syncer runs)."""
    p = subprocess.run([A.MDBTAP, "journal", "--json", inst.env], capture_output=True,
                       text=True, timeout=60)
    A.eq(p.returncode, 0, "journal --json: " + p.stderr)
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    return [r for r in recs if r.get("state") == "committed" and not r.get("syncer")
            and r["txnid"] == max(x.get("txnid", 0) for x in recs)]


def lossy():
    """A txn the tap cannot list (a write in a child txn deeper than it
    follows) leaves a lossy record: a's syncer must rescan, or b never gets
    the write."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", "n", "before", "1"], ["dput", "d", "k", "1"]])
    A.check(quiesce([a, b], store), "a and b converge")
    w = subprocess.run([PY, os.path.join(HERE, "writer.py"), a.env,
                        json.dumps([["nest", "n", "deep", "1"], ["put", "n", "flat", "1"]])],
                       env=A.base_env({"LD_PRELOAD": A.PRELOAD}), capture_output=True,
                       text=True, timeout=60)
    A.eq(w.returncode, 0, "the nesting writer: " + w.stderr)
    recs = journaled(a, "nest")
    A.check(len(recs) == 1 and recs[0]["lossy"], "the nested write's record is lossy: %r" % recs)
    A.check(quiesce([a, b], store), "a and b converge after the lossy record")
    A.eq(b.contents().get("n"), [["before", "1"], ["deep", "1"], ["flat", "1"]],
         "b has the write the tap could not list")
    same_everywhere([a, b])


def dirty():
    """A txn over MDBTAP_TXN_LIMIT: its record only says which DBIs may
    have changed (DIRTY); a's syncer must rescan them, or b never gets the
    writes."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", "n", "before", "1"], ["dput", "d", "k", "1"]])
    A.check(quiesce([a, b], store), "a and b converge")
    a.extra = {"MDBTAP_TXN_LIMIT": "4096"}
    # 300 puts of 100-byte keys: far over the 4 KiB of ops the tap may list
    big = [["put", "n", "k%03d" % i + "x" * 100, "v"] for i in range(300)] + \
          [["dput", "d", "k", "v%02d" % i] for i in range(20)] + [["del", "n", "before", ""]]
    a.write(big)
    a.extra = {}
    recs = journaled(a, "big")
    A.check(len(recs) == 1 and not recs[0]["lossy"] and not recs[0]["entries"] and
            {(e["dbi"], e["op"]) for e in recs[0]["events"]} >= {("n", "dirty"), ("d", "dirty")},
            "the big txn's record lists only DIRTY DBIs: %r" % [
                (r["lossy"], r["entries"][:3], r["events"]) for r in recs])
    A.check(quiesce([a, b], store), "a and b converge after the dirty record")
    got = b.contents()
    A.eq(got.get("n"), [["k%03d" % i + "x" * 100, "v"] for i in range(300)], "b's n")
    A.eq(got.get("d"), sorted([["k", "1"]] + [["k", "v%02d" % i] for i in range(20)]), "b's d")
    same_everywhere([a, b])


def main():
    # test_converge.py --MODE [ARG], or N SEED STEPS for a random workload
    modes = {"--sweep": sweep, "--retire": retire, "--full-chunked": full_chunked,
             "--clean": clean, "--adopt-journaled": adopt_journaled, "--pending": pending,
             "--late-join": late_join, "--clock-behind": clock_behind, "--sigkill": sigkill,
             "--unseen": unseen, "--bad-objects": bad_objects, "--lossy": lossy,
             "--dirty": dirty}
    if sys.argv[1] in modes:
        modes[sys.argv[1]](*sys.argv[2:])
    else:
        converge(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
    A.finish()


if __name__ == "__main__":
    main()

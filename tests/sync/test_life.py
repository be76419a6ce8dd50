"""The env's life (docs/DESIGN.md §10, §11, §12, §14): one syncer per
env, replaced and restored envs, wiped instances, instance names used by
two envs, DBIs that change shape. One regression test per mode; --lifecycle
runs them all at random against a model.

  test_life.py --MODE
"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
import apputil as A  # noqa: E402
from synclib import Instance, Model, quiesce, random_ops, store_url  # noqa: E402


RESHAPED = "rshp"  # the lifecycle's DBI re-created with other flags


def same_everywhere(insts, model=None):
    """Equal digests and contents (an empty DBI counts as none: instances
    that never ran the writer have not created them)."""
    digests = [i.digest() for i in insts]
    A.eq(len(set(digests)), 1, "distinct digests: " + repr(digests))
    # the unnamed DBI also holds the records of the lifecycle's "incN" DBIs
    # (their page numbers differ between envs): checked on their own there
    contents = [{k: [e for e in v if not (k == "-" and (e[0].startswith("inc") or
                                                       e[0] == RESHAPED))]
                 for k, v in i.contents().items()} for i in insts]
    contents = [{k: v for k, v in c.items() if v} for c in contents]
    for i, c in zip(insts[1:], contents[1:]):
        A.eq(c, contents[0], "contents of %s vs %s" % (i.name, insts[0].name))
    if model:
        # elements the model cannot tell (see lifecycle: `uncertain`)
        odd = getattr(model, "uncertain", set())

        def certain(c):
            out = {k: [e for e in v if (k if k != "-" else None,) + tuple(e[:1 + (k == "d")])
                       not in odd] for k, v in c.items()}
            return {k: v for k, v in out.items() if v}
        exp = {k: v for k, v in model.expected().items() if v}
        A.eq(certain(contents[0]), certain(exp), "contents vs the model")


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
        t0 = time.monotonic()
        p = subprocess.run(a.sync_argv(store, "--once"), capture_output=True, text=True,
                           timeout=60)
        A.check(p.returncode != 0, "the second syncer was refused")
        A.check(str(first.pid) in p.stderr and "another syncer" in p.stderr,
                "the refusal names the running syncer's PID: " + p.stderr)
        A.check(time.monotonic() - t0 < 20, "refused at once")
        A.check(syncer_lock_pid(a) == str(first.pid), "the lock file still names the first")
        # the running syncer uploads and cleans meanwhile: the second did nothing
        A.check("uploaded" not in p.stderr and "deleted" not in p.stderr and
                "adopting" not in p.stderr, "the second syncer did nothing: " + p.stderr)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    a.write([["put", None, "k", "2"]])
    p = a.sync(store)
    A.eq(p.returncode, 0, "a syncer runs after the first was killed")
    b = Instance(root, "b")
    b.sync(store)
    A.eq(kv(b).get("k"), "2", "b got a's write")


def mdb_backup(root, inst, name="backup"):
    """An mdb_copy of inst's env in root/name (a new directory)."""
    d = os.path.join(root, name)
    os.makedirs(d)
    p = subprocess.run(["mdb_copy", inst.env, d], capture_output=True, text=True)
    A.eq(p.returncode, 0, "mdb_copy: " + p.stderr)
    return d


def synced_then_backup(root, store, keys):
    """A writes each of keys (= "1", a txn each), A then B sync, and A's
    env is backed up: (a, b, the backup's directory)."""
    a, b = Instance(root, "a"), Instance(root, "b")
    for k in keys:
        a.write([["put", None, k, "1"]])
    a.sync(store)
    b.sync(store)
    return a, b, mdb_backup(root, a)


def restored(how):
    """A's env is restored from an mdb_copy taken earlier, put in place as
    a new file ("new-file") or copied over the old one ("in-place"); A's
    program then writes more txns than it had before. Nothing missing from
    the copy is deleted anywhere, A's new writes leave, and A gets back
    what the fleet holds."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b, backup = synced_then_backup(root, store, ("k1", "k2", "k3"))
    a.write([["put", None, "k4", "1"]])
    a.write([["del", None, "k1", ""]])
    a.write([["put", None, "k2", "2"]])
    a.sync(store)
    b.sync(store)
    data = os.path.join(a.env, "data.mdb")
    if how == "new-file":
        os.unlink(data)
        shutil.copyfile(os.path.join(backup, "data.mdb"), data)
    else:
        shutil.copyfile(os.path.join(backup, "data.mdb"), data)  # same inode
    a.seen = A.env_last_txnid(a.env, False)  # the test's journal reader, not the syncer
    for n in range(8):  # past the txn ids accounted for
        a.write([["put", None, "new%d" % n, "a"]])
    log = a.sync(store).stderr
    A.check("replaced" in log, "the replacement is logged: " + log)
    A.check(quiesce([a, b], store), "no convergence after the restore")
    got = kv(b)
    A.eq(got.get("k4"), "1", "k4 (missing from the copy) still on b")
    A.eq(got.get("k2"), "2", "k2's later value kept")
    A.check("k1" not in got, "k1's delete kept")
    A.eq(sorted(k for k in got if k.startswith("new")), ["new%d" % n for n in range(8)],
         "a's writes after the restore left")
    same_everywhere([a, b])


def restored_then_received():
    """A backup is copied over A's data file in place while A's syncer
    runs, and only an object of B wakes it (no local commit): the merge's
    own fold is the first to see A's txn id gone back. It must leave the
    restore to the local step's re-adoption, not rescan it as writes
    without the tap: k4, missing from the backup, stays on B."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b, backup = synced_then_backup(root, store, ("k1", "k2", "k3"))
    a.write([["put", None, "k4", "1"]])
    a.write([["put", None, "k2", "2"]])
    a.sync(store)
    b.sync(store)
    logpath = os.path.join(root, "a.log")
    with open(logpath, "w") as log:
        syncer = subprocess.Popen(a.sync_argv(store, "--poll-interval", "1h"), stderr=log)
    try:
        A.wait_for("a's syncer ready", lambda: "ready" in open(logpath).read())
        shutil.copyfile(os.path.join(backup, "data.mdb"), os.path.join(a.env, "data.mdb"))
        b.write([["put", None, "kb", "1"]])
        b.sync(store)
        A.wait_for("a merged b's write", lambda: kv(a).get("kb") == "1")
    finally:
        syncer.send_signal(signal.SIGTERM)
        syncer.wait(timeout=60)
    a.seen, a.last_rec = 0, None
    A.check(quiesce([a, b], store), "no convergence after the restore")
    got = kv(b)
    A.eq(got.get("k4"), "1", "k4 (missing from the backup) still on b")
    A.eq(got.get("k2"), "2", "k2's later value kept")
    same_everywhere([a, b])


def restored_before_merge():
    """B's env is restored from an mdb_copy taken before its syncer merged
    A's newer write of k (the copy misses only the merge's txn), then a
    program without the tap writes once (the merge's txn id again). The
    restore is noticed (the merge's txn id was accounted for and the
    env's identity taken at it), so B's older value of k is not taken for
    a new write: A's newer value stays everywhere. Lifecycle seed 5."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    b.write([["put", None, "k", "b-old"]])
    b.sync(store)
    a.sync(store)
    backup = mdb_backup(root, b)
    a.write([["put", None, "k", "a-new"]])
    a.sync(store)
    b.sync(store)
    A.eq(kv(b).get("k"), "a-new", "b merged a's newer write")
    shutil.copyfile(os.path.join(backup, "data.mdb"), os.path.join(b.env, "data.mdb"))
    b.seen = A.env_last_txnid(b.env, False)
    p = subprocess.run(["mdb_load", "-T", b.env], input="u1\nby-b\n", text=True,
                       capture_output=True)
    A.eq(p.returncode, 0, "mdb_load: " + p.stderr)
    log = b.sync(store).stderr
    A.check("replaced" in log, "the restore is noticed: " + log)
    A.check(quiesce([a, b], store), "no convergence after the restore")
    A.eq(kv(a).get("k"), "a-new", "a's newer write kept on a")
    A.eq(kv(b).get("k"), "a-new", "a's newer write back on b")
    A.eq(kv(a).get("u1"), "by-b", "b's write after the restore left")
    same_everywhere([a, b])


def restored_then_drop():
    """C's env is restored from an mdb_copy taken before its syncer merged
    A's DUPSORT element (the copy misses only the merge's txn); C's syncer
    merges it again (the same txn id), then C's program drops the DBI.
    The restore is noticed at once, so the drop is folded against
    metadata that knows the element: its delete reaches A. Lifecycle
    seed 7 (there the restore was noticed only when the merge's txn id
    came again, and the re-adoption forgot what the drop deleted)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, c = Instance(root, "a"), Instance(root, "c")
    c.write([["put", None, "k", "c"]])
    c.sync(store)
    a.sync(store)
    backup = mdb_backup(root, c)
    a.write([["dput", "d", "k0", "d3"]])
    a.sync(store)
    c.sync(store)
    A.eq(kv(c, "d").get("k0"), "d3", "c merged a's element")
    shutil.copyfile(os.path.join(backup, "data.mdb"), os.path.join(c.env, "data.mdb"))
    c.seen = A.env_last_txnid(c.env, False)
    log = c.sync(store).stderr
    A.check("replaced" in log, "the restore is noticed: " + log)
    A.eq(kv(c, "d").get("k0"), "d3", "c has a's element back")
    c.write([["drop", "d", "", ""]])
    c.sync(store)
    A.check(quiesce([a, c], store), "no convergence after the drop")
    A.check("k0" not in kv(a, "d"), "c's drop deleted the element on a")
    same_everywhere([a, c])


def tapped_lmdb(path, code):
    """Run python3-lmdb code (env in `env`) on path, through the tap."""
    full = "import lmdb\nenv = lmdb.open(%r, max_dbs=64, map_size=1 << 26)\n" % path + code
    p = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD))
    A.eq(p.returncode, 0, "python3-lmdb: " + p.stderr)


def long_names():
    """DBI names of 509, 510 and 511 bytes (LMDB's limit) sync both ways:
    adopted, written with the tap, and received."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    names = ["%d" % n + "x" * (n - 3) for n in (509, 510, 511)]
    code = "".join("db = env.open_db(%r.encode())\nwith env.begin(write=True) as t:\n"
                   "    t.put(b'k', b'a-%d', db=db)\n" % (nm, i) for i, nm in enumerate(names))
    seed_env(a.env, code)  # adopted at timestamp 0
    pa = a.sync(store)
    A.check("BAD_VALSIZE" not in pa.stderr, "a adopts them: " + pa.stderr[-500:])
    b.sync(store)
    code = "".join("db = env.open_db(%r.encode())\nwith env.begin(write=True) as t:\n"
                   "    t.put(b'j', b'b-%d', db=db)\n" % (nm, i) for i, nm in enumerate(names))
    tapped_lmdb(b.env, code)
    pb = b.sync(store)
    A.check("BAD_VALSIZE" not in pb.stderr, "b syncs them: " + pb.stderr[-500:])
    A.check(quiesce([a, b], store), "no convergence with long DBI names")
    read = ("import json\nout = {}\nwith env.begin() as t:\n"
            "    for n in %r:\n"
            "        db = env.open_db(n.encode(), txn=t, create=False)\n"
            "        out[len(n)] = sorted([k.decode(), v.decode()] for k, v in t.cursor(db=db))\n"
            "print(json.dumps(out))\n" % names)
    for i in (a, b):
        full = "import lmdb\nenv = lmdb.open(%r, max_dbs=8, readonly=True, lock=False)\n" % i.env
        p = subprocess.run([sys.executable, "-c", full + read], capture_output=True, text=True,
                           timeout=60)
        A.eq(p.returncode, 0, "read %s: %s" % (i.name, p.stderr))
        got = json.loads(p.stdout) if p.returncode == 0 else {}
        for n, nm in enumerate(names):
            A.eq(got.get(str(len(nm))), [["j", "b-%d" % n], ["k", "a-%d" % n]],
                 "%s: DBI of %d bytes" % (i.name, len(nm)))


def reshaped():
    """DBI r, plain on both instances, is deleted and re-created DUPSORT
    by both programs (an upgrade); then each writes values. It syncs
    with its new flags: each gets the other's values, as DUPSORT."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    tapped_lmdb(a.env, "db = env.open_db(b'r')\nwith env.begin(write=True) as t:\n"
                "    t.put(b'k', b'plain', db=db)\n")
    a.sync(store)
    b.sync(store)
    b.sync(store)
    a.sync(store)
    recreate = ("db = env.open_db(b'r')\nwith env.begin(write=True) as t:\n"
                "    t.drop(db, delete=True)\n"
                "db = env.open_db(b'r', dupsort=True)\nwith env.begin(write=True) as t:\n"
                "    t.put(b'k', b'%s1', db=db)\n    t.put(b'k', b'%s2', db=db)\n")
    tapped_lmdb(a.env, recreate % ("a", "a"))
    tapped_lmdb(b.env, recreate % ("b", "b"))
    for i in (a, b, a, b):
        p = i.sync(store)
        A.check("does not fit" not in p.stderr and "refused" not in p.stderr,
                "%s: nothing refused: %s" % (i.name, p.stderr[-600:]))
    read = ("import json\nwith env.begin() as t:\n"
            "    db = env.open_db(b'r', txn=t, create=False)\n"
            "    print(json.dumps([t.stat(db)['entries'], sorted([k.decode(), v.decode()] "
            "for k, v in t.cursor(db=db))]))\n")
    for i in (a, b):
        full = "import lmdb\nenv = lmdb.open(%r, max_dbs=8, readonly=True, lock=False)\n" % i.env
        p = subprocess.run([sys.executable, "-c", full + read], capture_output=True, text=True,
                           timeout=60)
        A.eq(p.returncode, 0, "read %s: %s" % (i.name, p.stderr))
        got = json.loads(p.stdout) if p.returncode == 0 else None
        A.eq(got, [4, [["k", "a1"], ["k", "a2"], ["k", "b1"], ["k", "b2"]]],
             "%s: r synced as DUPSORT" % i.name)
    A.check(quiesce([a, b], store), "no convergence after the re-creation")


def read_dbi(inst, name):
    """[DUPSORT?, sorted [key, value]] of DBI name on inst, or None."""
    code = ("import json, lmdb, sys\n"
            "env = lmdb.open(sys.argv[1], max_dbs=64, readonly=True, lock=False)\n"
            "with env.begin() as t:\n"
            "    try:\n"
            "        db = env.open_db(sys.argv[2].encode(), txn=t, create=False)\n"
            "    except lmdb.NotFoundError:\n"
            "        print('null')\n"
            "        sys.exit(0)\n"
            "    print(json.dumps([db.flags(t)['dupsort'], sorted([k.decode(), v.decode()] "
            "for k, v in t.cursor(db=db))]))\n")
    p = subprocess.run([sys.executable, "-c", code, inst.env, name], capture_output=True,
                       text=True, timeout=60)
    A.eq(p.returncode, 0, "read %s on %s: %s" % (name, inst.name, p.stderr[-300:]))
    return json.loads(p.stdout) if p.returncode == 0 else None


def recreate(inst, name, dupsort, kvs):
    """inst's program drops DBI name and creates it again (dupsort or
    not), then writes kvs into it."""
    tapped_lmdb(inst.env, "db = env.open_db(%r)\nwith env.begin(write=True) as t:\n"
                "    t.drop(db, delete=True)\n"
                "db = env.open_db(%r, dupsort=%r)\nwith env.begin(write=True) as t:\n"
                % (name.encode(), name.encode(), dupsort) +
                "".join("    t.put(%r, %r, db=db)\n" % (k.encode(), v.encode()) for k, v in kvs))


def reshape_back():
    """DBI rshp is created plain by A's program and written; then every
    program drops it and creates it DUPSORT (an upgrade), and later drops
    it and creates it plain again. C syncs all along without a program
    (it holds what the first shape had), and D joins late: it loads the
    older objects too (A's first full snapshot and B's, both of the first
    plain shape). E syncs at first, then is away while the DBI is
    re-created twice; A's deltas meanwhile are cleaned (a full snapshot,
    --keep-interval 0), so E skips the DUPSORT shape and finds its own
    plain shape older than the one A's plain shape replaced: emptied.
    The first shape's elements never come back: rshp ends
    plain, with only what was written after the second re-creation, on
    every instance, and the digests agree."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b, c = Instance(root, "a"), Instance(root, "b"), Instance(root, "c")
    e = Instance(root, "e")
    tapped_lmdb(a.env, "db = env.open_db(%r)\nwith env.begin(write=True) as t:\n"
                "    t.put(b'k1', b'first', db=db)\n    t.put(b'k', b'first', db=db)\n"
                % RESHAPED.encode())
    a.new_records()
    for i in (a, b, c, e):
        i.sync(store)
    # B's full snapshot holds the first shape's elements too
    b.sync(store, "--full-now")
    e.sync(store)
    for i in (a, b, c, e):
        A.eq(read_dbi(i, RESHAPED), [False, [["k", "first"], ["k1", "first"]]],
             "%s: the first shape" % i.name)
    recreate(a, RESHAPED, True, [("k", "a1"), ("k", "a2")])
    recreate(b, RESHAPED, True, [("k", "b1")])
    for i in (a, b):
        i.new_records()
    for i in (a, b, c, a, b, c):
        i.sync(store)
    for i in (a, b, c):
        A.eq(read_dbi(i, RESHAPED), [True, [["k", "a1"], ["k", "a2"], ["k", "b1"]]],
             "%s: the DUPSORT shape" % i.name)
    recreate(a, RESHAPED, False, [("k2", "a")])
    recreate(b, RESHAPED, False, [("k3", "b")])
    for i in (a, b):
        i.new_records()
    want = [False, [["k2", "a"], ["k3", "b"]]]
    for i in (a, b, c, a, b, c):
        i.sync(store)
    for i in (a, b, c):
        A.eq(read_dbi(i, RESHAPED), want, "%s: back to plain, the first shape gone" % i.name)
    # A's deltas go: E, back, loads A's full snapshot of the last shape
    a.sync(store, "--full-now", "--keep-interval", "0")
    log = e.sync(store).stderr
    A.eq(read_dbi(e, RESHAPED), want, "e (away during both): the first shape gone")
    A.check("dropped and re-created it since" in log, "e says why: " + log[-1500:])
    d = Instance(root, "d")
    log = d.sync(store).stderr
    A.eq(read_dbi(d, RESHAPED), want, "d (late): only the last shape's elements")
    A.check("DBI shapes dropped here since" in log, "d logs what it skipped: " + log[-1500:])
    # the stats count what the last syncer process did
    p = subprocess.run([A.MDBTAP, "stats", "--json", d.env], capture_output=True, text=True,
                       timeout=60)
    st = json.loads(p.stdout) if p.returncode == 0 else {}
    A.check(st.get("elements_old_shape", 0) > 0,
            "d counts the old shapes' elements it skipped: %r" % st)
    A.check(quiesce([a, b, c, d, e], store), "no convergence after the re-creations")
    for i in (a, b, c, d, e):
        A.eq(read_dbi(i, RESHAPED), want, "%s: the last shape only, after settling" % i.name)
    same_everywhere([a, b, c, d, e])


def reshape_receiver_first():
    """A's program creates rshp plain and writes; A's syncer exports it; then
    A's program is upgraded: r dropped, created DUPSORT, written. B is a
    new instance whose syncer runs before its (upgraded) program: it
    receives A's first full snapshot (plain) and the deltas after it
    (DUPSORT), so rshp must end DUPSORT; then B's program opens rshp DUPSORT and
    writes. Both converge, digests equal."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    tapped_lmdb(a.env, "db = env.open_db(%r)\nwith env.begin(write=True) as t:\n"
                "    t.put(b'k', b'plain', db=db)\n" % RESHAPED.encode())
    a.new_records()
    a.sync(store)
    recreate(a, RESHAPED, True, [("k", "a1"), ("k", "a2")])
    a.new_records()
    a.sync(store)
    p = b.sync(store)
    A.check("does not fit" not in p.stderr, "b refused nothing: " + p.stderr[-1000:])
    A.eq(read_dbi(b, RESHAPED), [True, [["k", "a1"], ["k", "a2"]]],
         "b: r received with its new flags")
    tapped_lmdb(b.env, "db = env.open_db(%r, dupsort=True)\nwith env.begin(write=True) as t:\n"
                "    t.put(b'k', b'b1', db=db)\n" % RESHAPED.encode())
    b.new_records()
    A.check(quiesce([a, b], store), "no convergence after b's program started")
    for i in (a, b):
        A.eq(read_dbi(i, RESHAPED), [True, [["k", "a1"], ["k", "a2"], ["k", "b1"]]],
             "%s: r DUPSORT with both programs' values" % i.name)
    same_everywhere([a, b])


def included():
    """A syncs only DBI n (--include n) while its program writes to n
    and d; then it syncs every DBI: d, which it now syncs, is adopted
    (its existing data exported at timestamp 0) and reaches B."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", "n", "k", "n1"], ["dput", "d", "k", "d1"]])
    a.sync(store, "--include", "n")
    a.write([["dput", "d", "k", "d2"]])
    a.sync(store, "--include", "n")
    b.sync(store)
    A.eq(kv(b, "n").get("k"), "n1", "n synced")
    A.check("k" not in kv(b, "d"), "d not synced yet")
    log = a.sync(store).stderr
    A.check("newly synced DBI" in log, "d adopted: " + log[-600:])
    A.check(quiesce([a, b], store), "no convergence after the include change")
    A.eq(b.contents().get("d"), [["k", "d1"], ["k", "d2"]], "d's existing data reached b")
    same_everywhere([a, b])


def receiver_included():
    """B syncs with --exclude n while A writes to n; then B syncs every
    DBI: A's n, which B skipped in objects it applied, reaches B (its
    progress is forgotten: A's newest full snapshot is loaded again),
    though A exported nothing new meanwhile. Issue 10 (r7)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "k", "1"]])
    a.sync(store)
    b.sync(store, "--exclude", "n")
    a.write([["put", "n", "kn", "from-a"]])
    a.sync(store)
    b.sync(store, "--exclude", "n")
    A.check("kn" not in kv(b, "n"), "n not received while excluded")
    log = b.sync(store).stderr
    A.check("loaded again" in log, "the selection change is logged: " + log[-600:])
    A.eq(kv(b, "n").get("kn"), "from-a", "a's n reached b once it synced every DBI")
    A.check(quiesce([a, b], store), "no convergence after the exclude was removed")
    same_everywhere([a, b])


def renamed():
    """A's syncer restarted under another instance name on the same env
    starts a new chain with a full snapshot: B, which takes the new name
    for a new instance and waits for its full snapshot, gets every write
    made after the rename at once. Issue 10 (r3)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "k1", "1"]])
    a.sync(store)
    b.sync(store)
    a.name = "a2"
    for i in range(2, 5):
        a.write([["put", None, "k%d" % i, str(i)]])
        log = a.sync(store).stderr
        if i == 2:
            A.check("new chain begins" in log, "the rename is logged: " + log[-600:])
        b.sync(store)
        A.eq(kv(b).get("k%d" % i), str(i), "k%d reached b after the rename" % i)
    same_everywhere([a, b])


def many_dbis():
    """An env with more DBIs than the limit (4096, README "Limits"):
    the first ones seen sync, the rest are skipped with one error naming
    one of them and the limit, and counted; the env keeps syncing (it
    stopped as a whole past about 510 DBIs). Issue 10 (r17)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    n = 4100  # with the unnamed DBI, 5 over
    code = ("with env.begin(write=True) as t:\n"
            "    for i in range(%d):\n"
            "        t.put(b'k', b'v%%d' %% i, db=env.open_db(b'db%%04d' %% i, txn=t))\n" % n)
    full = "import lmdb\nenv = lmdb.open(%r, max_dbs=5000, map_size=1 << 28)\n" % a.env + code
    p = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD))
    A.eq(p.returncode, 0, "python3-lmdb: " + p.stderr)
    log = a.sync(store).stderr
    A.check("5 DBI(s) are not synced" in log and "at most 4096 DBIs" in log,
            "the skipped DBIs are said, with the limit: " + log[-800:])
    p = subprocess.run([A.MDBTAP, "stats", "--json", a.env], capture_output=True, text=True,
                       timeout=60)
    st = json.loads(p.stdout.splitlines()[0]) if p.returncode == 0 and p.stdout else {}
    A.eq(st.get("dbis_over_limit"), 5, "the skipped DBIs are counted: %r" % st)
    b.sync(store)
    probe = ("import json, lmdb, sys\n"
             "env = lmdb.open(sys.argv[1], max_dbs=5000, readonly=True, lock=False)\n"
             "got = []\n"
             "with env.begin() as t:\n"
             "    for i in range(%d):\n"
             "        try:\n"
             "            db = env.open_db(b'db%%04d' %% i, txn=t, create=False)\n"
             "        except lmdb.NotFoundError:\n"
             "            continue\n"
             "        got.append(t.get(b'k', db=db).decode())\n"
             "print(json.dumps(got))\n" % n)
    p = subprocess.run([sys.executable, "-c", probe, b.env], capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "probe: " + p.stderr)
    got = json.loads(p.stdout)
    A.eq(len(got), 4095, "b got the 4095 named DBIs within the limit")
    A.eq(got[:2] + got[-1:], ["v0", "v1", "v4094"], "with their data")


def clock_back(how):
    """A's clock ran 10 minutes ahead (under max_future) and was then
    corrected: its own older chain's objects are named after the new
    chain it starts (the env wiped, or a DBI newly synced). They were
    listed when that chain began: its past, followed, not another env's
    (the env stopped with a name clash). Issue 10 (r9)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.extra = {"MDBTAP_TEST_CLOCK_OFFSET_NS": str(10 * 60 * 10**9)}
    a.write([["put", None, "k1", "1"]])
    a.write([["put", "n", "kn", "1"]])
    a.sync(store, "--exclude", "n")
    b.sync(store)
    # corrected (kept set: the tap's clock never goes back, so the
    # writes' timestamps stay ahead of the wall clock for a while)
    a.extra = {"MDBTAP_TEST_CLOCK_OFFSET_NS": "0"}
    if how == "wiped":
        shutil.rmtree(a.env)
        os.makedirs(a.env)
        a.seen, a.last_rec = 0, None
    p = subprocess.run(a.sync_argv(store, "--once"), capture_output=True, text=True, timeout=60)
    A.eq(p.returncode, 0, "a syncs on: " + p.stderr[-1500:])
    A.check("another env" not in p.stderr, "no name clash: " + p.stderr[-1500:])
    A.eq(kv(a).get("k1"), "1", "a has k1 (back, when wiped)")
    a.write([["put", None, "k2", "2"]])
    for _ in range(2):
        log = a.sync(store).stderr
        A.check("another env" not in log, "no name clash later: " + log[-1500:])
    A.check(quiesce([a, b], store), "no convergence after the clock was corrected")
    A.eq(kv(b).get("k2"), "2", "a's new write reached b")
    if how == "included":
        A.eq(kv(b, "n").get("kn"), "1", "a's newly synced DBI reached b")
    same_everywhere([a, b])


def name_time(name):
    """The name time of an object name (docs/DESIGN.md §18.2), in ns."""
    import calendar
    t = name.split("__")[2]
    secs = calendar.timegm(time.strptime(t[:15], "%Y%m%d-%H%M%S"))
    return secs * 10**9 + int(t[16:25])


def own_names(store, inst):
    """inst's object names in the directory store, by name time."""
    return sorted((n for n in os.listdir(store) if not n.startswith(".") and
                   n.split("__")[1:2] == [inst.name]), key=name_time)


def clock_back_followed():
    """A's clock ran 10 minutes ahead (under max_future) while it exported;
    the clock was corrected and A's env wiped and started again under its
    name. The new chain's names sort after every object of A's name within
    max_future, so B, which followed the old chain, follows the new one at
    once: A's write after the wipe reaches B. Before the fix the new
    chain's names sorted before the old one's and B kept following the old
    chain until the clock passed its names. An object of A's name dated
    beyond max_future moves nothing (invariant 12). Issue 10."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.extra = {"MDBTAP_TEST_CLOCK_OFFSET_NS": str(10 * 60 * 10**9)}
    a.write([["put", None, "k1", "1"]])
    a.sync(store)
    b.sync(store)
    A.eq(kv(b).get("k1"), "1", "b has a's write")
    old = own_names(store, a)
    A.check(old, "a exported")
    # planted under a's name, two hours ahead (max_future is one)
    far = old[-1].split("__")
    ahead = time.time_ns() + 2 * 3600 * 10**9
    far[2] = time.strftime("%Y%m%d-%H%M%S", time.gmtime(ahead // 10**9)) + \
        "-%09d" % (ahead % 10**9)
    far[3] = "G00000000000000ff"
    far = "__".join(far)
    shutil.copyfile(os.path.join(store, old[-1]), os.path.join(store, far))
    a.extra = {"MDBTAP_TEST_CLOCK_OFFSET_NS": "0"}
    shutil.rmtree(a.env)
    os.makedirs(a.env)
    a.seen, a.last_rec = 0, None
    a.sync(store)
    A.eq(kv(a).get("k1"), "1", "a has k1 back")
    a.write([["put", None, "k2", "2"]])
    a.sync(store)
    names = [n for n in own_names(store, a) if n != far]
    new = [n for n in names if n not in old]
    A.check(new, "a's new chain exported")
    A.check(name_time(new[0]) > name_time(old[-1]),
            "the new chain's first name sorts after the old chain: %r, %r" % (new, old))
    A.check(name_time(names[-1]) < name_time(far), "the far object moved nothing")
    b.sync(store)
    A.eq(kv(b).get("k2"), "2", "b followed a's new chain at once")
    A.check(quiesce([a, b], store), "no convergence after the wipe")
    same_everywhere([a, b])


def wiped():
    """A's env is deleted and started again empty under its name: it gets
    back everything, its own old writes included (B's full snapshot was made
    before it merged them)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    b.write([["put", None, "fromb", "1"]])
    b.sync(store)
    a.write([["put", None, "froma", "1"]])
    a.write([["put", "n", "froma2", "1"]])
    a.sync(store)
    b.sync(store)
    A.eq(kv(b).get("froma"), "1", "b merged a's write")
    shutil.rmtree(a.env)
    os.makedirs(a.env)
    A.check(quiesce([a, b], store), "no convergence after the wipe")
    A.eq(kv(a), {"froma": "1", "fromb": "1"}, "a got everything back")
    A.eq(kv(a, "n"), {"froma2": "1"}, "a got its named DBI back")
    same_everywhere([a, b])


def wiped_data():
    """Only A's data.mdb and lock.mdb are deleted (its companion dir kept)
    and its program writes k1 again on the new file, whose txn ids restart
    at A's accounted one: that write keeps its journal timestamp and beats
    the older k1 everywhere; only what the file held unexplained gets 0."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "k1", "old"], ["put", None, "k2", "v2"]])
    a.sync(store)
    b.sync(store)
    a.sync(store)
    A.eq(kv(b), {"k1": "old", "k2": "v2"}, "b merged a's writes")
    for f in ("data.mdb", "lock.mdb"):
        os.remove(os.path.join(a.env, f))
    a.seen, a.last_rec = 0, None  # the test's journal reader: ids restart
    a.write([["put", None, "k1", "fresh"]])
    A.check(quiesce([a, b], store), "no convergence after the wipe")
    A.eq(kv(b).get("k1"), "fresh", "b has the newer write")
    A.eq(kv(a).get("k1"), "fresh", "a kept the newer write")
    same_everywhere([a, b])


def restored_over_held():
    """A backup is copied over A's data file in place (same inode) while a
    program holds the env open, so the lock file still gives the old txn
    id: the syncer's next look sees the file's own meta pages gone back
    and re-adopts it before the program writes on; the restore's stale
    values then lose to the newer ones and nothing deleted comes back."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "k1", "1"], ["put", None, "k2", "1"]])
    a.sync(store)
    b.sync(store)
    a.sync(store)
    backup = mdb_backup(root, a)
    a.write([["del", None, "k1", ""]])
    a.write([["put", None, "k2", "2"]])
    a.sync(store)
    b.sync(store)
    a.sync(store)
    holder = subprocess.Popen([sys.executable, "-c", "import lmdb, sys\n"
                               "e = lmdb.open(sys.argv[1], max_dbs=8)\n"
                               "print('open', flush=True)\nsys.stdin.read()", a.env],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        A.eq(holder.stdout.readline().strip(), "open", "the holder opened the env")
        shutil.copyfile(os.path.join(backup, "data.mdb"), os.path.join(a.env, "data.mdb"))
        a.sync(store)
        a.write([["put", None, "k3", "1"]])
        a.sync(store)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    A.check(quiesce([a, b], store), "no convergence after the restore")
    A.eq(kv(a), {"k2": "2", "k3": "1"}, "a: nothing deleted came back, newer values won")
    same_everywhere([a, b])


def restored_then_written(writer, probe):
    """A backup is copied over A's data file in place (same inode); then,
    before A's syncer looks, a tapped writer is killed after LMDB's commit
    (its record left PENDING: the new file's only tapped txn below the
    accounted id), writers without the tap go on to the accounted id and
    tapped ones two commits past it (the meta page the syncer compares is
    gone, and the file's txn id is past the accounted one: it looks like
    progress). The PENDING record gives the restore away: the env is
    re-adopted, the killed writer's key leaves, the copy's stale values
    lose and nothing deleted comes back. Lifecycle seed 9."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b, backup = synced_then_backup(root, store, ("k1", "k2", "k3"))
    a.write([["del", None, "k1", ""]])
    a.write([["put", None, "k2", "2"]])
    a.write([["put", None, "k4", "1"]])
    a.sync(store)
    b.sync(store)
    accounted = A.env_last_txnid(a.env, False)
    shutil.copyfile(os.path.join(backup, "data.mdb"), os.path.join(a.env, "data.mdb"))
    a.seen = A.env_last_txnid(a.env, False)
    env = dict(A.base_env(), LD_PRELOAD=A.PRELOAD + ":" + probe, COMMITSTOP="1:after:KILL")
    p = subprocess.run([writer, a.env, "m=by-a"], env=env, capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, -signal.SIGKILL, "the writer killed after its commit: " + p.stderr)
    n = 0
    while A.env_last_txnid(a.env, False) < accounted:
        n += 1
        p = subprocess.run(["mdb_load", "-T", a.env], input="u%d\nby-a\n" % n, text=True,
                           capture_output=True)
        A.eq(p.returncode, 0, "mdb_load: " + p.stderr)
        if p.returncode:
            return
    a.write([["put", None, "t1", "1"]])
    a.write([["put", None, "t2", "1"]])
    log = a.sync(store).stderr
    A.check("replaced" in log, "the restore is noticed: " + log[-1500:])
    A.check(quiesce([a, b], store), "no convergence after the restore")
    got = kv(b)
    A.eq(got.get("m"), "by-a", "the killed writer's key left a")
    A.eq(got.get("k2"), "2", "k2's later value kept")
    A.check("k1" not in got, "k1's delete kept")
    A.eq(got.get("k4"), "1", "k4 (missing from the copy) still there")
    A.eq([got.get("t1"), got.get("t2")], ["1", "1"], "the writes after the restore left")
    same_everywhere([a, b])


def included_after_export():
    """A syncs only DBI n while its program writes to n and d, and exports
    everything it accounted for; B keeps up. Then A syncs every DBI: d's
    data is adopted with no new txn id, so it goes out as a new chain's
    full snapshot, which B (up to date with A's old chain) loads.
    Lifecycle seeds 10 and 12 (an object of the old chain claiming no new
    range was skipped)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", "n", "k", "n1"], ["dput", "d", "k", "d1"]])
    a.sync(store, "--include", "n")
    b.sync(store)
    A.eq(kv(b, "n").get("k"), "n1", "n synced")
    log = a.sync(store).stderr
    A.check("newly synced DBI" in log, "d adopted: " + log[-600:])
    b.sync(store)
    A.eq(b.contents().get("d"), [["k", "d1"]], "d's existing data reached b")
    A.check(quiesce([a, b], store), "no convergence after the include change")
    same_everywhere([a, b])


def name_clash():
    """Two envs synced under one instance name: the one whose chain is older
    stops with a clear error when it sees the other's objects."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    a2 = Instance(root, "a2")
    a2.name = "a"  # the same --instance
    a.write([["put", None, "k", "1"]])
    a.sync(store)
    a2.write([["put", None, "k2", "1"]])
    a2.sync(store)
    p = subprocess.run(a.sync_argv(store, "--once"), capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0, "a's syncer stops")
    A.check("used by another env" in p.stderr, "the error says why: " + p.stderr)
    p = subprocess.run(a.sync_argv(store, "--poll-interval", "50ms"), capture_output=True,
                       text=True, timeout=60)
    A.check(p.returncode != 0, "a long-running syncer exits too: " + p.stderr[-500:])


def bad_input():
    """A bad store URL on an empty env dir, a directory store that does not
    exist (unless --create-store or store_options create: true say to
    create it), and an empty regular file given as the env, are refused
    before anything is created."""
    root = A.fresh_tmp()
    env = os.path.join(root, "empty")
    os.makedirs(env)
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store", "bogus://nowhere",
                        "--instance", "a"], capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0, "a bad store URL is refused: " + p.stderr)
    A.eq(os.listdir(env), [], "nothing created in the env dir")
    # a directory store that does not exist (a typo would split the fleet)
    typo = os.path.join(root, "stroe")
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store", "file://" + typo,
                        "--instance", "a"], capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0, "a missing store directory is refused")
    A.check("--create-store" in p.stderr and typo in p.stderr,
            "the refusal names the directory and the way to create it: " + p.stderr)
    A.check(not os.path.exists(typo), "the store directory was not created")
    A.eq(os.listdir(env), [], "nothing created in the env dir")
    conf = os.path.join(root, "typo.yaml")
    with open(conf, "w") as fc:
        fc.write("instance: a\nenvs:\n  main:\n    path: %s\n    store: file://%s\n" % (env, typo))
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--config", conf], capture_output=True,
                       text=True, timeout=60)
    A.check(p.returncode != 0 and not os.path.exists(typo), "refused from a config file too")
    with open(conf, "a") as fc:
        fc.write("    store_options:\n      create: true\n")
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--config", conf], capture_output=True,
                       text=True, timeout=60)
    A.eq(p.returncode, 0, "store_options create: true creates it: " + p.stderr[-500:])
    A.check(os.path.isdir(typo), "the store directory was created")
    made = os.path.join(root, "made", "store")
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store", "file://" + made,
                        "--create-store", "--instance", "a"], capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "--create-store creates it: " + p.stderr[-500:])
    A.check(os.path.isdir(made), "the store directory and its parent were created")
    f = os.path.join(root, "file.mdb")
    open(f, "w").close()
    os.makedirs(os.path.join(root, "store"))
    before = sorted(n for n in os.listdir(root) if n != "store")
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", f, "--store",
                        "file://" + os.path.join(root, "store"), "--instance", "a"],
                       capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0, "an empty file as the env is refused")
    A.check("not an LMDB env" in p.stderr, "the refusal says why: " + p.stderr)
    A.eq(os.path.getsize(f), 0, "the file is left empty")
    A.eq(sorted(n for n in os.listdir(root) if n != "store"), before, "nothing created beside it")


def lifecycle(seed, steps, writer=None, probe=None):
    """Three instances write at random while their syncers are SIGKILLed,
    a second syncer is started on a busy env, envs are restored from an
    mdb_copy taken earlier (a new file or copied over the old one), wiped
    and started again under their name, and written without the tap. What
    each event means for the model: a kill, a refused second syncer, a
    restore and a wipe change nothing (each env exported its writes first:
    the fleet holds them); a write without the tap lands, at a time only
    its syncer knows (its keys are written once, so any time will do).
    After settling every instance equals the model and the digests agree."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    rng = random.Random(int(seed))
    insts = [Instance(root, n) for n in ("a", "b", "c")]
    backups = {}
    model = Model()
    trace = open(os.path.join(root, "trace"), "w")  # what happened, for a failure
    counts = {}
    unseen = [0]

    # A DBI dropped on an env restored from a copy before its syncer saw
    # the copy: the syncer re-adopts the env after the drop, and cannot
    # tell what the copy held before it (the journal records a drop, not
    # its elements), so those elements may come back from the fleet or
    # stay deleted: the model does not count them until written again.
    model.uncertain = set()
    restored_unseen = set()

    def write(i):
        ts, done = i.write(random_ops(rng))
        if ts is not None:
            model.apply(i.window, done)
            for dbi, key, val, deleted in done:
                ident = (dbi, key, val) if dbi == "d" else (dbi, key)
                model.uncertain.discard(ident)
            if i.name in restored_unseen and any(d[0] == "d" and d[3] for d in done):
                model.uncertain |= {("d", d[1], d[2]) for d in done if d[0] == "d" and d[3]}
        trace.write("  %s wrote at %s: %s\n" % (i.name, ts, done and [d[:3] for d in done]))

    plain_sync = Instance.sync

    def logged_sync(i, *args):  # every syncer's log kept, for a failure
        p = plain_sync(i, *args)
        with open(os.path.join(root, "log-" + i.name), "a") as f:
            f.write(p.stderr)
        return p
    Instance.sync = logged_sync

    def sync(i):
        i.sync(store)
        restored_unseen.discard(i.name)

    def sigkill(i):
        p = subprocess.Popen(i.sync_argv(store, "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
        time.sleep(rng.random() * 0.2)
        p.send_signal(signal.SIGKILL)
        p.wait()
        i.new_records()

    def second_syncer(i):
        p = subprocess.Popen(i.sync_argv(store, "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
        try:
            if A.wait_for("the syncer's lock", lambda: syncer_lock_pid(i) == str(p.pid)):
                q = subprocess.run(i.sync_argv(store, "--once"), capture_output=True, text=True,
                                   timeout=60)
                A.check(q.returncode != 0 and str(p.pid) in q.stderr,
                        "second syncer on %s refused: %s" % (i.name, q.stderr[-300:]))
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
        i.new_records()

    def backup(i):
        if not os.path.exists(os.path.join(i.env, "data.mdb")):
            return
        shutil.rmtree(os.path.join(root, "backup-" + i.name), ignore_errors=True)
        backups[i.name] = mdb_backup(root, i, "backup-" + i.name)

    def restore(i):
        if i.name not in backups:
            return backup(i)
        sync(i)  # its writes are in the store
        data = os.path.join(i.env, "data.mdb")
        if rng.random() < 0.5:
            os.unlink(data)
        shutil.copyfile(os.path.join(backups.pop(i.name), "data.mdb"), data)
        i.seen = A.env_last_txnid(i.env, False)
        restored_unseen.add(i.name)

    def wipe(i):
        sync(i)
        shutil.rmtree(i.env)
        os.makedirs(i.env)
        backups.pop(i.name, None)
        i.seen = 0
        if reshaped["want"] is not None:
            # the syncer first: it receives rshp with the flags of the
            # fleet's newest shape, which the program then opens
            sync(i)
            upgraded_start(i)

    def untapped(i):
        if not os.path.exists(os.path.join(i.env, "data.mdb")):
            return
        unseen[0] += 1
        key, val = "u%d" % unseen[0], "by-%s" % i.name
        p = subprocess.run(["mdb_load", "-T", i.env], input="%s\n%s\n" % (key, val), text=True,
                           capture_output=True)
        A.eq(p.returncode, 0, "mdb_load: " + p.stderr)
        model.el[(None, key)] = ((0, 0), val, False)

    def mid_commit(i):
        """A writer (the C one, with the tap) killed around LMDB's commit:
        before it, the txn never was; after it (its record left PENDING),
        the txn is there, at a time only its syncer knows (its key is
        written once)."""
        if not writer or not os.path.exists(os.path.join(i.env, "data.mdb")):
            return
        unseen[0] += 1
        key, val = "m%d" % unseen[0], "by-%s" % i.name
        after = rng.random() < 0.5
        env = dict(A.base_env(), LD_PRELOAD=A.PRELOAD + ":" + probe,
                   COMMITSTOP="1:%s:KILL" % ("after" if after else "before"))
        p = subprocess.run([writer, i.env, "%s=%s" % (key, val)], env=env, capture_output=True,
                           text=True, timeout=60)
        A.eq(p.returncode, -signal.SIGKILL, "the writer killed at its commit: " + p.stderr)
        if after:
            model.el[(None, key)] = ((0, 0), val, False)
        trace.write("  %s: %s killed %s its commit\n" % (i.name, key, "after" if after else "before"))

    included = []  # (DBI, key, value) written while excluded, then included

    def include(i):
        """An include change: i's program writes to a new DBI that i's
        syncer excludes (its record is folded without it), then the
        syncer syncs every DBI again: the DBI is adopted, its data
        reaches every instance (a key written once: any time will do)."""
        if not os.path.exists(os.path.join(i.env, "data.mdb")):
            return
        unseen[0] += 1
        name, key, val = "inc%d" % unseen[0], "i%d" % unseen[0], "by-%s" % i.name
        tapped_lmdb(i.env, "db = env.open_db(%r)\nwith env.begin(write=True) as t:\n"
                    "    t.put(%r, %r, db=db)\n" % (name.encode(), key.encode(), val.encode()))
        i.new_records()
        i.sync(store, "--exclude", name)
        included.append((name, key, val))

    reshaped = {"dupsort": False, "gen": 0, "want": None}

    def upgraded_start(i):
        """The upgraded program starts on i's (empty) env: it creates rshp
        with its flags, before the syncer receives the old shape."""
        tapped_lmdb(i.env, "env.open_db(%r, dupsort=%r)\n" % (RESHAPED.encode(),
                                                                reshaped["dupsort"]))
        i.new_records()

    def reshape(_, flip=True):
        """An upgrade of the fleet's program: each instance's drops DBI
        rshp and creates it again with the other flags (plain <-> DUPSORT),
        then writes to it, and its syncer runs once. It must end with the
        new flags and exactly the new values everywhere. Backups taken
        before are not restored (the old program's data). flip=False:
        the first program creates rshp plain and writes to it."""
        reshaped["dupsort"] = reshaped["dupsort"] != flip
        reshaped["gen"] += 1
        dup, gen = reshaped["dupsort"], reshaped["gen"]
        want = []
        for i in insts:
            if flip and not os.path.exists(os.path.join(i.env, "data.mdb")):
                upgraded_start(i)  # a wiped instance's program is the new one too
                continue
            vals = [("k", "%s%d-1" % (i.name, gen)), ("k", "%s%d-2" % (i.name, gen))] if dup \
                else [("k-%s" % i.name, "%s%d" % (i.name, gen))]
            tapped_lmdb(i.env, "db = env.open_db(%r)\nwith env.begin(write=True) as t:\n"
                        "    t.drop(db, delete=True)\n"
                        "db = env.open_db(%r, dupsort=%r)\nwith env.begin(write=True) as t:\n"
                        % (RESHAPED.encode(), RESHAPED.encode(), dup) +
                        "".join("    t.put(%r, %r, db=db)\n" % (k.encode(), v.encode())
                                for k, v in vals))
            i.new_records()
            want += [list(kv) for kv in vals]
        reshaped["want"] = sorted(want)
        backups.clear()
        trace.write("  %s as %s: %s\n" % (RESHAPED, "DUPSORT" if dup else "plain", want))
        for i in insts:  # the fleet's objects hold the new shape
            sync(i)

    events = [(write, 50), (sync, 20), (sigkill, 8), (second_syncer, 4), (backup, 5),
              (restore, 4), (wipe, 3), (untapped, 6),
              (include, 2)] + ([(mid_commit, 5)] if writer else [])
    # every event at least once (a restore twice: its first takes the
    # backup), then at random
    fixed = [e for e, _ in events] + [restore]
    rng.shuffle(fixed)
    # the reshapes take no random draw, so that a seed runs the same other
    # events as before they were added. rshp is created plain with elements
    # first, re-created DUPSORT, then plain again: the first shape's
    # elements must not come back (older objects still hold them).
    for k in range(int(steps)):
        if k in (0, int(steps) // 3, 2 * int(steps) // 3):
            counts["reshape"] = counts.get("reshape", 0) + 1
            trace.write("reshape\n")
            reshape(None, k > 0)
        ev = fixed[k // 3] if k % 3 == 2 and k // 3 < len(fixed) else \
            rng.choices([e for e, _ in events], [w for _, w in events])[0]
        counts[ev.__name__] = counts.get(ev.__name__, 0) + 1
        inst = rng.choice(insts)
        trace.write("%s %s\n" % (ev.__name__, inst.name))
        ev(inst)
    print("events:", counts, flush=True)
    A.check(quiesce(insts, store), "digests still differ after settling")
    same_everywhere(insts, model)
    read = ("import json\nwith env.begin() as t:\n"
            "    db = env.open_db(%r, txn=t, create=False)\n"
            "    print(json.dumps([db.flags(t)['dupsort'], sorted([k.decode(), v.decode()] "
            "for k, v in t.cursor(db=db))]))\n" % RESHAPED.encode())
    for i in insts if reshaped["want"] is not None else []:
        full = "import lmdb\nenv = lmdb.open(%r, max_dbs=64, readonly=True, lock=False)\n" % (
            i.env)
        p = subprocess.run([sys.executable, "-c", full + read], capture_output=True, text=True,
                           timeout=60)
        got = json.loads(p.stdout) if p.returncode == 0 else p.stderr[-300:]
        A.eq(got, [reshaped["dupsort"], reshaped["want"]],
             "%s: %s re-created %s, with its new values only" % (
                 i.name, RESHAPED, "DUPSORT" if reshaped["dupsort"] else "plain"))
    for name, key, val in included:
        read = ("with env.begin() as t:\n    db = env.open_db(%r, txn=t, create=False)\n"
                "    print(t.get(%r, db=db).decode())\n" % (name.encode(), key.encode()))
        for i in insts:
            full = "import lmdb\nenv = lmdb.open(%r, max_dbs=64, readonly=True, lock=False)\n" % (
                i.env)
            p = subprocess.run([sys.executable, "-c", full + read], capture_output=True,
                               text=True, timeout=60)
            A.eq(p.stdout.strip(), val, "%s: %s (included later) on %s: %s" % (
                i.name, name, i.name, p.stderr[-300:]))


def seed_env(path, code):
    """Run python3-lmdb code (env in `env`) on path, without the tap."""
    full = "import lmdb, struct\nenv = lmdb.open(%r, max_dbs=8, map_size=1 << 26)\n" % path + code
    p = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, timeout=60)
    A.eq(p.returncode, 0, "python3-lmdb: " + p.stderr)


def flags_mismatch():
    """Same-named DBIs with other flags on two instances: what does not fit
    the local DBI (DUPSORT, INTEGERKEY and DUPFIXED sizes) is refused,
    counted per DBI and instance, logged once with both names, shown by
    `mdbtap stats`; what fits is merged."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    seed_env(a.env, """
with env.begin(write=True) as t:
    t.put(b"k", b"v", db=env.open_db(b"plain", txn=t))
    t.put(struct.pack("=Q", 1), b"x", db=env.open_db(b"ik", txn=t, integerkey=True))
    t.put(b"k", b"1234", db=env.open_db(b"fx", txn=t, dupsort=True, dupfixed=True))
""")
    seed_env(b.env, """
with env.begin(write=True) as t:
    t.put(b"k", b"w", db=env.open_db(b"plain", txn=t, dupsort=True))
    ik = env.open_db(b"ik", txn=t)
    t.put(b"ab", b"y", db=ik)
    t.put(b"abc", b"y", db=ik)
    t.put(struct.pack("=Q", 2), b"ok", db=ik)
    fx = env.open_db(b"fx", txn=t, dupsort=True)
    t.put(b"k", b"1", db=fx)
    t.put(b"k", b"1234567", db=fx)
    t.put(b"k", b"5678", db=fx)
""")
    a.sync(store)
    b.sync(store)
    log = a.sync(store).stderr  # the stats count what this syncer process did
    for dbi in ("plain", "ik", "fx"):
        lines = [ln for ln in log.splitlines() if "DBI '%s'" % dbi in ln and "do not fit" in ln]
        A.eq(len(lines), 1, "refusals of DBI %s logged once: %s" % (dbi, log[-2000:]))
        A.check(lines and "'b'" in lines[0], "the log names the instance: %r" % lines)
    code = """
import json, lmdb, struct, sys
env = lmdb.open(sys.argv[1], max_dbs=8, readonly=True, lock=False)
out = {}
with env.begin() as t:
    for n, kw in ((b"plain", {}), (b"ik", {"integerkey": True}),
                  (b"fx", {"dupsort": True, "dupfixed": True})):
        db = env.open_db(n, txn=t, create=False, **kw)
        out[n.decode()] = sorted([k.hex(), v.hex()] for k, v in t.cursor(db=db))
print(json.dumps(out, sort_keys=True))
"""
    p = subprocess.run([sys.executable, "-c", code, a.env], capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "reading a: " + p.stderr)
    got = json.loads(p.stdout) if p.returncode == 0 else {}
    A.eq(got.get("plain"), [[b"k".hex(), b"v".hex()]], "a's plain DBI untouched")
    A.eq(got.get("ik"), sorted([[struct.pack("=Q", 1).hex(), b"x".hex()],
                                [struct.pack("=Q", 2).hex(), b"ok".hex()]]),
         "a's INTEGERKEY DBI: the 8-byte key merged, the 2- and 3-byte ones refused")
    A.eq(got.get("fx"), sorted([[b"k".hex(), b"1234".hex()], [b"k".hex(), b"5678".hex()]]),
         "a's DUPFIXED DBI: the 4-byte value merged, the others refused")
    p = subprocess.run([A.MDBTAP, "stats", "--json", a.env], capture_output=True, text=True,
                       timeout=60)
    st = json.loads(p.stdout) if p.returncode == 0 else {}
    A.check(st.get("elements_misfit", 0) >= 5, "stats count the refusals: %r" % st)
    for dbi in ("plain", "ik", "fx"):
        A.check("%s from b" % dbi in st.get("misfits", ""), "stats name %s and b: %r" % (dbi, st))
    p = subprocess.run([A.MDBTAP, "doctor", a.env], capture_output=True, text=True, timeout=60)
    A.check("do not fit" in p.stdout and "ik from b" in p.stdout,
            "doctor shows the refusals: " + p.stdout[-1500:])


def future():
    """An object stamped beyond max_future (the writer's clock 2 h ahead)
    is refused and logged, and applied once it is acceptable (here:
    max_future raised to 3 h; in life, the clocks agree)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    b.extra = {"MDBTAP_TEST_CLOCK_OFFSET_NS": str(2 * 3600 * 10**9)}
    b.write([["put", None, "k", "ahead"]])
    b.sync(store)

    def sync_a(max_future):
        conf = os.path.join(root, "a.yaml")
        with open(conf, "w") as f:
            f.write("instance: a\nmax_future: %s\nenvs:\n  main:\n    path: %s\n"
                    "    store: %s\n" % (max_future, a.env, store_url(store)))
        p = subprocess.run([A.MDBTAP, "sync", "--once", "--config", conf], capture_output=True,
                           text=True, timeout=60)
        A.eq(p.returncode, 0, "sync a: " + p.stderr[-1500:])
        return p.stderr
    log = sync_a("1h")
    # The object's name is as far ahead as its elements: the object is
    # ignored from the listing (never taken as progress), said once a cycle.
    A.check("max_future" in log, "the refusal is logged: " + log[-1500:])
    A.check("k" not in kv(a), "not applied while too far ahead")
    # and counted (issue 10, r15: it was logged only)
    p = subprocess.run([A.MDBTAP, "stats", "--json", a.env], capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "mdbtap stats: " + p.stderr)
    st = json.loads(p.stdout.splitlines()[0]) if p.stdout else {}
    A.eq(st.get("objects_future"), 1, "the refusal is counted: %r" % st)
    sync_a("1h")
    A.check("k" not in kv(a), "still refused")
    sync_a("3h")
    A.eq(kv(a).get("k"), "ahead", "applied once acceptable")


def aliases():
    """One env named by another path (issue 10): its directory env's
    data.mdb is refused ("give the env's directory"), and a symlink to a
    NOSUBDIR env's file names the same companion, so a second syncer is
    refused and the tap writing through the symlink journals there."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    a.write([["put", None, "k", "1"]])
    first = subprocess.Popen(a.sync_argv(store, "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
    try:
        A.wait_for("the first syncer's lock", lambda: syncer_lock_pid(a) == str(first.pid))
        argv = a.sync_argv(store, "--once")
        argv[argv.index(a.env)] = os.path.join(a.env, "data.mdb")
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        A.check(p.returncode != 0 and "give the env's directory" in p.stderr,
                "DIR/data.mdb of a directory env refused: " + p.stderr)
        A.check(not os.path.exists(os.path.join(a.env, "data.mdb-mdbtap")),
                "no second companion made")
        A.check(first.poll() is None, "the first syncer still runs")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # a NOSUBDIR env reached through a symlink to its file
    f = os.path.join(root, "table.lmdb")
    alias = os.path.join(root, "alias.lmdb")
    code = "import lmdb, sys\ne = lmdb.open(sys.argv[1], subdir=False)\n" \
           "with e.begin(write=True) as t:\n    t.put(sys.argv[2].encode(), b'v')\n"
    for path, key in ((f, "k1"), (alias, "k2")):
        if path == alias:
            os.symlink(f, alias)
        w = subprocess.run([sys.executable, "-c", code, path, key], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, LD_PRELOAD=A.PRELOAD))
        A.eq(w.returncode, 0, "python3-lmdb: " + w.stderr)
    A.check(not os.path.exists(alias + "-mdbtap"), "the tap journals in the file's companion")
    argv = [A.MDBTAP, "sync", "--env", f, "--store", "file://" + store, "--instance", "t"]
    first = subprocess.Popen(argv + ["--poll-interval", "50ms"], stderr=subprocess.DEVNULL)
    try:
        lock = f + "-mdbtap/syncer.lock"
        A.wait_for("the file env's syncer lock",
                   lambda: os.path.exists(lock) and open(lock).read().strip() == str(first.pid))
        argv[argv.index(f)] = alias
        p = subprocess.run(argv + ["--once"], capture_output=True, text=True, timeout=60)
        A.check(p.returncode != 0 and "another syncer" in p.stderr,
                "a second syncer through a symlink refused: " + p.stderr)
        A.check(not os.path.exists(alias + "-mdbtap"), "no companion beside the symlink")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


def restored_new_inode():
    """A backup restored as a new file that the file system gives the old
    file's inode number (ext4 often does; retried until it does, else
    skipped), then written only without the tap past the accounted txn id:
    caught by the file's birth time (issue 10). Nothing missing from the
    backup is deleted on b, and a delete made after it stays."""
    untapped = "import lmdb, sys\ne = lmdb.open(sys.argv[1], max_dbs=64, map_size=1 << 26)\n" \
               "for i in range(12):\n    with e.begin(write=True) as t:\n" \
               "        t.put(b'n%d' % i, b'a')\n"
    for attempt in range(20):
        root = A.fresh_tmp()
        store = os.path.join(root, "store")
        a, b, backup = synced_then_backup(root, store, ("k0", "k1", "k2"))
        a.write([["put", None, "k5", "1"]])
        a.write([["del", None, "k0", ""]])
        a.sync(store)
        b.sync(store)
        data = os.path.join(a.env, "data.mdb")
        ino = os.stat(data).st_ino
        os.unlink(data)
        shutil.copyfile(os.path.join(backup, "data.mdb"), data)
        if os.stat(data).st_ino == ino:
            break
    else:
        print("SKIP: the file system never gave the old inode number to a new file")
        sys.exit(77)
    w = subprocess.run([sys.executable, "-c", untapped, a.env], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, LD_PRELOAD=""))
    A.eq(w.returncode, 0, "python3-lmdb without the tap: " + w.stderr)
    log = a.sync(store).stderr
    A.check("replaced" in log, "the new file is caught: " + log)
    A.check(quiesce([a, b], store), "no convergence after the restore")
    got = kv(b)
    A.eq(got.get("k5"), "1", "k5 (missing from the backup) still on b")
    A.check("k0" not in got, "k0's delete kept")
    A.eq(len([k for k in got if k.startswith("n")]), 12, "a's writes after the restore left")
    same_everywhere([a, b])


def restored_in_place_running():
    """Backups copied over the data file in place (cp: same inode, the file
    truncated first) while the syncer runs (issue 10): it never dies by a
    signal (SIGBUS on its map before the fix). It skips cycles while the
    file is short; should it fault anyway, it exits with status 4, and a
    syncer started on a short file refuses to open it (status 1); either is
    started again here, as systemd would. The copy is re-adopted, and a
    syncer runs whole on the env afterwards."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    bulk = "import lmdb, sys\ne = lmdb.open(sys.argv[1], max_dbs=64, map_size=1 << 30)\n" \
           "with e.begin(write=True) as t:\n    for i in range(20000):\n" \
           "        t.put(b'%s%07d' % (sys.argv[2].encode(), i), b'v' * 200)\n"
    backups = []
    for tag in ("x", "y"):
        w = subprocess.run([sys.executable, "-c", bulk, a.env, tag], capture_output=True,
                           text=True, timeout=120, env=dict(os.environ, LD_PRELOAD=A.PRELOAD))
        A.eq(w.returncode, 0, "python3-lmdb: " + w.stderr)
        backups.append(mdb_backup(root, a, "bk" + tag))
    logpath = os.path.join(root, "a.log")
    log = open(logpath, "w")
    argv = a.sync_argv(store, "--poll-interval", "10ms")
    syncer = subprocess.Popen(argv, stderr=log)
    restarts = 0

    def alive(when):
        """Running, or ended as it should (then started again, as by
        systemd): 4 (SIGBUS), or 1 when it refused to open a short file."""
        rc = syncer.poll()
        tail = open(logpath).read()[-600:]
        # -6: LMDB's assertion when the copy lands in a merge's write
        # txn (it would hit the host the same way): not closed, see
        # docs/DESIGN.md §22
        A.check(rc is None or rc == 4 or (rc == 1 and "written over in place" in tail) or
                (rc == -6 and "mdb.c" in tail and "Assertion" in tail),
                "%s: the syncer ended with %r: %s" % (when, rc, tail))
        return rc is None

    try:
        # The first local step ends with its metadata committed (its log
        # line): a copy landing before that is the env's first adoption,
        # not a replacement.
        A.wait_for("the first local step", lambda: "local step:" in open(logpath).read())
        for i in range(12):
            # always x's copy: y's put back after x's was adopted would
            # look like another env's chain of this name, a clash
            shutil.copyfile(os.path.join(backups[0], "data.mdb"),
                            os.path.join(a.env, "data.mdb"))
            time.sleep(0.05 * (i % 3))
            if not alive("restore %d" % i):
                restarts += 1
                syncer = subprocess.Popen(argv, stderr=log)
        alive("after the restores")
    finally:
        if syncer.poll() is None:
            syncer.send_signal(signal.SIGKILL)
        syncer.wait()
        log.close()
    p = a.sync(store)  # fails the test unless it runs whole
    text = open(logpath).read()
    A.check("was replaced" in text + p.stderr, "x's copy was re-adopted")
    print("cycles skipped: %d, restarts after SIGBUS: %d" % (text.count("cycle skipped"),
                                                             restarts))


def copied_in_place_same_shape():
    """Another server's file of the same B-tree shape (as many keys, other
    ones), its last txn one past the last one a's syncer saw, copied over
    a's data file in place with the syncer stopped (issue 10). The meta
    pages alone match (the same depth, page counts, entries, root and last
    page at that txn id): the digest of the tree's root pages tells the
    files apart. a re-adopts the copy: none of a's keys is deleted
    anywhere, and they come back to a."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, c = Instance(root, "a"), Instance(root, "c")
    for n in range(1, 6):
        a.write([["put", None, "a%d" % n, "v"]])
    a.sync(store)
    c.sync(store)
    a.sync(store)
    ta = A.env_last_txnid(a.env, False)
    other = os.path.join(root, "other")
    os.makedirs(other)
    code = "import lmdb, sys\ne = lmdb.open(sys.argv[1])\n" \
           "for i in range(1, int(sys.argv[2]) + 1):\n" \
           "    with e.begin(write=True) as t:\n        t.put(b'o%d' % i, b'v')\n"
    p = subprocess.run([sys.executable, "-c", code, other, str(ta + 1)], capture_output=True,
                       text=True, timeout=60)
    A.eq(p.returncode, 0, "python3-lmdb: " + p.stderr)
    A.eq(A.env_last_txnid(other, False), ta + 1, "the copy's last txn")
    shutil.copyfile(os.path.join(other, "data.mdb"), os.path.join(a.env, "data.mdb"))  # in place
    a.seen = A.env_last_txnid(a.env, False)
    log = a.sync(store).stderr
    A.check("replaced" in log, "the same-shaped copy is re-adopted: " + log[-1500:])
    A.check(quiesce([a, c], store), "no convergence after the copy")
    want = ["a%d" % n for n in range(1, 6)] + ["o%d" % n for n in range(1, ta + 2)]
    for i in (a, c):
        A.eq(sorted(kv(i)), sorted(want), "%s: a's keys kept, the copy's added" % i.name)
    same_everywhere([a, c])


def restore_tree(backup, env):
    """Write every file of backup over env's, in place (same inodes), as a
    file-system or VM snapshot rollback does."""
    for d, _, files in os.walk(backup):
        for f in files:
            src = os.path.join(d, f)
            dst = os.path.join(env, os.path.relpath(src, backup))
            with open(src, "rb") as i, open(dst, "r+b" if os.path.exists(dst) else "wb") as o:
                data = i.read()
                o.write(data)
                o.truncate(len(data))


def restored_whole_env(how):
    """The whole env directory (data file, lock file and the companion dir
    with its metadata and journal) restored in place from a copy taken
    with the syncer stopped (issue 10), or, "upload-lost", from a copy
    taken just before an upload (as a syncer killed between an upload and
    its metadata's commit leaves it). The metadata matches the data, so
    only the store tells: our chain there is ahead of the metadata. a
    begins a new chain: what a wrote after the copy comes back to it, its
    writes after the restore reach b, and nothing is deleted or lost.
    "full-first": a's first object after the restore is a full snapshot
    (its full_interval ran out meanwhile), newer than every object of the
    copy's future and past their txn ids."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "k1", "1"]])
    a.write([["put", None, "k2", "1"]])
    a.sync(store)
    b.sync(store)
    backup = os.path.join(root, "backup")
    if how == "upload-lost":
        a.write([["put", None, "k3", "1"]])
        shutil.copytree(a.env, backup)
        a.sync(store)
    else:
        shutil.copytree(a.env, backup)
        a.write([["put", None, "k3", "1"]])
        a.write([["del", None, "k1", ""]])
        a.write([["put", None, "k2", "2"]])
        a.sync(store)
    b.sync(store)
    restore_tree(backup, a.env)
    a.seen, a.last_rec = A.env_last_txnid(a.env, False), None
    for n in range(4):  # past the txn ids the store's objects of a's chain reach
        a.write([["put", None, "after%d" % n, "x"]])
    log = a.sync(store, *(["--full-now"] if how == "full-first" else [])).stderr
    A.check("our own chain in the store is ahead of this metadata" in log,
            "the restore is noticed: " + log[-2000:])
    A.check(quiesce([a, b], store), "no convergence after the restore")
    for n in range(3):  # later writes still leave
        a.write([["put", None, "later%d" % n, "x"]])
    A.check(quiesce([a, b], store), "no convergence after later writes")
    want = {"k2": "1", "k3": "1", "k1": "1"} if how == "upload-lost" else {"k2": "2", "k3": "1"}
    want.update({"after%d" % n: "x" for n in range(4)})
    want.update({"later%d" % n: "x" for n in range(3)})
    for i in (a, b):
        A.eq(kv(i), want, "%s's contents" % i.name)
    same_everywhere([a, b])


def main():
    modes = {"--two-syncers": two_syncers, "--restored-new-file": lambda: restored("new-file"),
             "--restored-in-place": lambda: restored("in-place"), "--wiped": wiped,
             "--wiped-data": wiped_data,
             "--restored-over-held": restored_over_held,
             "--restored-before-merge": restored_before_merge,
             "--restored-then-received": restored_then_received,
             "--restored-then-drop": restored_then_drop,
             "--long-names": long_names,
             "--reshaped": reshaped,
             "--reshape-back": reshape_back,
             "--reshape-receiver-first": reshape_receiver_first,
             "--included": included,
             "--included-after-export": included_after_export,
             "--receiver-included": receiver_included,
             "--renamed": renamed,
             "--many-dbis": many_dbis,
             "--clock-back-wiped": lambda: clock_back("wiped"),
             "--clock-back-included": lambda: clock_back("included"),
             "--clock-back-followed": clock_back_followed,
             "--restored-then-written": restored_then_written,
             "--name-clash": name_clash, "--bad-input": bad_input,
             "--flags-mismatch": flags_mismatch,
             "--future": future,
             "--aliases": aliases,
             "--restored-new-inode": restored_new_inode,
             "--restored-in-place-running": restored_in_place_running,
             "--copied-in-place-same-shape": copied_in_place_same_shape,
             "--restored-whole-env": lambda: restored_whole_env("in-place"),
             "--restored-whole-env-upload-lost": lambda: restored_whole_env("upload-lost"),
             "--restored-whole-env-full-first": lambda: restored_whole_env("full-first"),
             "--lifecycle": lifecycle}
    modes[sys.argv[1]](*sys.argv[2:])
    A.finish()


if __name__ == "__main__":
    main()

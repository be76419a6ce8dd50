#!/usr/bin/python3
"""apps_python: python3-lmdb (Debian's, built on the system liblmdb) under the tap.

The workload below (this file run with --workload) exercises every write path
py-lmdb has. It runs twice on a fresh env, plain and with the tap preloaded:
stdout, stderr, exit code and the data (mdb_dump) must be identical, and the
tap's journal must hold exactly one record per committed write txn with exactly
the elements the workload wrote (docs/DESIGN.md §1-§3).
"""
import os
import sys


BIG1 = bytes(range(256)) * 800          # 200 KiB: overflow pages
BIG2 = b"\xff\x00" * 150000             # 300 KiB
BINKEY = b"\x00\xffk\x00\x00\xff"       # NUL and 0xff in a key
FFKEY = b"\xff" * 8


def workload(root):
    import lmdb
    import zlib

    def show(*a):
        print(*a, flush=True)

    env = lmdb.open(os.path.join(root, "env"), max_dbs=8, map_size=64 << 20)
    # T1, T2: txns that only create a DBI.
    plain = env.open_db(b"plain")
    dups = env.open_db(b"dups", dupsort=True)
    # Opening an existing DBI writes nothing: no txn, no record.
    plain = env.open_db(b"plain")

    # T3: puts to the unnamed, a plain and a DUPSORT DBI; the same bytes again.
    with env.begin(write=True) as t:
        show("T3", t.put(b"u1", b"one"),
             t.put(b"p1", b"A", db=plain), t.put(b"p2", b"B", db=plain),
             [t.put(b"d1", v, db=dups) for v in (b"x", b"y", b"z")],
             t.put(b"d2", b"q", db=dups),
             t.put(b"p1", b"A", db=plain))

    # T4: deletes, and calls that fail (they must record nothing).
    with env.begin(write=True) as t:
        show("T4", t.delete(b"d1", b"y", db=dups),      # one dup
             t.delete(b"d2", db=dups),                  # all dups of d2
             t.delete(b"nope", db=plain),               # MDB_NOTFOUND
             t.delete(b"d1", b"nope", db=dups),         # MDB_NOTFOUND
             t.delete(b"nope", db=dups),                # MDB_NOTFOUND
             t.delete(b"nope"),                         # MDB_NOTFOUND, unnamed
             t.put(b"p2", b"other", db=plain, overwrite=False),  # MDB_KEYEXIST
             t.put(b"d1", b"x", db=dups, dupdata=False),         # MDB_KEYEXIST
             t.put(b"u1", b"uno", overwrite=False),              # MDB_KEYEXIST
             t.delete(b"p2", db=plain))

    # T5: cursor puts and deletes.
    with env.begin(write=True) as t:
        c = t.cursor(db=plain)
        r = [c.put(b"c1", b"v"), c.put(b"c2", b"v"), c.set_key(b"c1"), c.delete(),
             c.put(b"c2", b"w", overwrite=False)]       # MDB_KEYEXIST
        cd = t.cursor(db=dups)
        r += [cd.put(b"d3", b"a"), cd.put(b"d3", b"b"), cd.put(b"d3", b"c"),
              cd.set_key_dup(b"d3", b"b"), cd.delete(),   # one dup at the cursor
              cd.set_key(b"d1"), cd.delete(dupdata=True),  # all dups of d1
              cd.put(b"d3", b"a", dupdata=False)]         # MDB_KEYEXIST
        show("T5", r)

    # T6: replace and pop (py-lmdb: a NOOVERWRITE put that fails, then a put;
    # on DUPSORT a delete of all dups then a put).
    with env.begin(write=True) as t:
        show("T6", t.replace(b"p1", b"A2", db=plain), t.replace(b"new", b"N", db=plain),
             t.pop(b"c2", db=plain), t.pop(b"missing", db=plain),
             t.replace(b"d3", b"r", db=dups), t.pop(b"u1"))

    # T7: putmulti.
    with env.begin(write=True) as t:
        c = t.cursor(db=plain)
        cd = t.cursor(db=dups)
        show("T7", c.putmulti([(b"m1", b"1"), (b"m2", b"2"), (b"p1", b"no")], overwrite=False),
             cd.putmulti([(b"e1", b"1"), (b"e1", b"2"), (b"e2", b"1")]),
             cd.putmulti([(b"e1", b"2"), (b"e1", b"3")], dupdata=False),
             c.putmulti([(b"zz1", b"a"), (b"zz2", b"b")], append=True))

    # Aborted txns, a read-only txn and an empty write txn: no records, no txn ids.
    t = env.begin(write=True)
    t.put(b"ab", b"1")
    t.put(b"ab", b"2", db=dups)
    t.delete(b"p1", db=plain)
    t.abort()
    try:
        with env.begin(write=True) as t:
            t.put(b"ab3", b"x", db=plain)
            t.drop(dups, delete=False)
            raise RuntimeError("abort me")
    except RuntimeError as e:
        show("aborted:", e)
    with env.begin() as t:
        show("ro", t.get(b"p1", db=plain))
    with env.begin(write=True) as t:
        pass

    # T8: a DBI created inside a txn that also writes; large values
    # (overflow pages); binary keys and values.
    with env.begin(write=True) as t:
        big = env.open_db(b"big", txn=t)
        show("T8", t.put(b"large", BIG1, db=big), t.put(BINKEY, b"\x00\x01\xff", db=big),
             t.put(FFKEY, b"", db=big), t.put(b"\x00", b"nul", db=dups),
             t.put(b"\x00", b"\xff\x00", db=dups))
    # T9: a large value replaced by a larger one, then one deleted.
    with env.begin(write=True) as t:
        show("T9", t.put(b"large", BIG2, db=big), t.put(b"large2", BIG1, db=big),
             t.delete(b"large", db=big))
    # T10: a txn that only creates an INTEGERKEY DBI.
    ints = env.open_db(b"ints", integerkey=True)
    # T11: drop(delete=False) empties a DBI; puts after it in the same txn.
    with env.begin(write=True) as t:
        t.drop(plain, delete=False)
        show("T11", t.put(b"after", b"1", db=plain), t.put((7).to_bytes(4, sys.byteorder), b"7", db=ints))
    # T12, T13: create, fill, then drop(delete=True).
    gone = env.open_db(b"gone", dupsort=True, dupfixed=True)
    with env.begin(write=True) as t:
        show("T13", t.put(b"g", b"1111", db=gone), t.put(b"g", b"2222", db=gone))
    # T14
    with env.begin(write=True) as t:
        t.drop(gone, delete=True)
        show("T14", t.put(b"u2", b"two"))

    # Final contents, as the program sees them.
    with env.begin() as t:
        for name, db in ((b"main", None), (b"plain", plain), (b"dups", dups), (b"big", big),
                         (b"ints", ints)):
            items = list(t.cursor(db=db)) if db is not None else list(t.cursor())
            show(name, [(k, v if len(v) < 64 else (len(v), zlib.crc32(v))) for k, v in items])
    env.close()

    # A NOSUBDIR + NOLOCK env (postfix-style): the journal goes to FILE-mdbtap.
    env2 = lmdb.open(os.path.join(root, "flat.lmdb"), subdir=False, lock=False,
                     map_size=1 << 20)
    with env2.begin(write=True) as t:
        show("F1", t.put(b"k", b"v"), t.put(b"k2", b"v2"))
    with env2.begin(write=True) as t:
        show("F2", t.delete(b"k"), t.delete(b"k"))
    env2.close()


def workload_failed_only(root):
    """Write txns whose only write calls fail with MDB_KEYEXIST. For
    MDB_NODUPDATA on a DUPSORT DBI, LMDB touches pages before it finds the
    duplicate, so the commit still takes a new txn id."""
    import lmdb
    env = lmdb.open(os.path.join(root, "env"), max_dbs=2, map_size=1 << 22)
    d = env.open_db(b"d", dupsort=True)
    with env.begin(write=True) as t:
        print(t.put(b"one", b"v", db=d), [t.put(b"many", b"v%03d" % i, db=d) for i in range(300)][-1])
    for key, val in ((b"one", b"v"), (b"many", b"v005")):
        before = env.info()["last_txnid"]
        with env.begin(write=True) as t:
            r = t.put(key, val, db=d, dupdata=False)
        print(key, r, "txn id advanced:", env.info()["last_txnid"] != before)
    with env.begin(write=True) as t:
        print(t.put(b"last", b"x"))


def main_failed_only():
    """Every txn id the host commits is accounted for, even that of a txn
    whose only calls failed (docs/DESIGN.md §2; a false alarm otherwise)."""
    import apputil as A

    tmp = A.fresh_tmp()
    root = os.path.join(tmp, "run")
    envdir = os.path.join(root, "env")
    argv = ["/usr/bin/python3", os.path.abspath(__file__), "--workload-failed-only", root]
    os.makedirs(root)
    plain = A.run(argv)
    A.eq(plain.rc, 0, "plain workload exit code (stderr %r)" % plain.err)
    A.check(plain.out.count(b"txn id advanced: True") == 2,
            "LMDB commits the failed-only txns with new txn ids: %r" % plain.out)
    A.wipe(root)
    os.makedirs(root)
    tapped = A.run(argv, preload=A.PRELOAD)
    A.same_result(plain, tapped, "failed-only workload")
    recs, summary = A.journal(envdir)
    elements = [o for r in recs for o in A.ops(r) if o[0] in ("put", "del", "delall")]
    A.eq(elements, [("put", "d", b"one", b"v")] + [("put", "d", b"many", b"v%03d" % i) for i in range(300)]
         + [("put", None, b"last", None)], "journaled elements: none from the failed calls")
    last = A.env_last_txnid(envdir, False)
    A.eq(summary.get("unaccounted"), [], "unaccounted txn ids (env last txn id %s; records for %r)"
         % (last, [r["txnid"] for r in recs]))
    A.expect_check_ok(envdir, "failed-only txns")
    A.finish()


def main():
    import apputil as A

    tmp = A.fresh_tmp()
    root = os.path.join(tmp, "run")
    envdir = os.path.join(root, "env")
    flat = os.path.join(root, "flat.lmdb")
    argv = ["/usr/bin/python3", os.path.abspath(__file__), "--workload", root]

    # Plain run.
    os.makedirs(root)
    plain = A.run(argv)
    A.eq(plain.rc, 0, "plain workload exit code (stderr %r)" % plain.err)
    plain_dump = A.dump_hex(envdir, False)
    plain_flat = A.dump_hex(flat, True)
    A.check(not os.path.exists(os.path.join(envdir, "mdbtap")),
            "the plain run must leave no companion directory")

    # Same run, same path, with the tap.
    A.wipe(root)
    os.makedirs(root)
    t0 = A.now_ns()
    tapped = A.run(argv, preload=A.PRELOAD)
    t1 = A.now_ns()
    A.same_result(plain, tapped, "py-lmdb workload")
    # (before mdb_dump, which does create one)
    A.check(not os.path.exists(flat + "-lock"), "NOLOCK env: the tap must create no lock file")
    A.eq(A.dump_hex(envdir, False), plain_dump, "env data (mdb_dump) with the tap vs without")
    A.eq(A.dump_hex(flat, True), plain_flat, "NOSUBDIR env data with the tap vs without")
    A.check(os.path.exists(os.path.join(envdir, "mdbtap", "journal")), "journal file exists")
    A.check(os.path.exists(flat + "-mdbtap/journal"), "NOSUBDIR journal file exists")
    A.check(sorted(os.listdir(envdir)) == ["data.mdb", "lock.mdb", "mdbtap"],
            "env directory holds only LMDB's files and the companion: %r" % os.listdir(envdir))

    P, D, B, I, G = "plain", "dups", "big", "ints", "gone"
    N = None
    put = lambda db, k, v=None: ("put", db, k, v)
    dele = lambda db, k, v=None: ("del", db, k, v)
    delall = lambda db, k: ("delall", db, k, None)
    expected = [
        [("create", P, 0)],                                             # T1
        [("create", D, 0x4)],                                           # T2
        [put(N, b"u1"), put(P, b"p1"), put(P, b"p2"),                   # T3
         put(D, b"d1", b"x"), put(D, b"d1", b"y"), put(D, b"d1", b"z"),
         put(D, b"d2", b"q"), put(P, b"p1")],
        [dele(D, b"d1", b"y"), delall(D, b"d2"), dele(P, b"p2")],       # T4
        [put(P, b"c1"), put(P, b"c2"), dele(P, b"c1"),                  # T5
         put(D, b"d3", b"a"), put(D, b"d3", b"b"), put(D, b"d3", b"c"),
         dele(D, b"d3", b"b"), delall(D, b"d1")],
        [put(P, b"p1"), put(P, b"new"), dele(P, b"c2"),                 # T6
         delall(D, b"d3"), put(D, b"d3", b"r"), dele(N, b"u1")],
        [put(P, b"m1"), put(P, b"m2"),                                  # T7
         put(D, b"e1", b"1"), put(D, b"e1", b"2"), put(D, b"e2", b"1"),
         put(D, b"e1", b"3"), put(P, b"zz1"), put(P, b"zz2")],
        [("create", B, 0), put(B, b"large"), put(B, BINKEY), put(B, FFKEY),   # T8
         put(D, b"\x00", b"nul"), put(D, b"\x00", b"\xff\x00")],
        [put(B, b"large"), put(B, b"large2"), dele(B, b"large")],      # T9
        [("create", I, 0x8)],                                           # T10
        [("drop", P), put(P, b"after"), put(I, (7).to_bytes(4, sys.byteorder))],  # T11
        [("create", G, 0x14)],                                          # T12
        [put(G, b"g", b"1111"), put(G, b"g", b"2222")],                 # T13
        [("delete-dbi", G), put(N, b"u2")],                             # T14
    ]
    recs, summary = A.journal(envdir)
    last = A.env_last_txnid(envdir, False)
    A.eq(last, len(expected), "env last txn id (mdb_stat -e): one per committed write txn")
    A.expect_records(recs, expected, "directory env", t0=t0, t1=t1)
    if recs:
        A.eq(recs[0]["txnid"], 1, "first record's txn id")
        A.eq(len({r["pid"] for r in recs}), 1, "all records from the one workload process")
    A.expect_summary_clean(summary, last, "directory env")
    A.eq(summary.get("committed"), len(expected), "directory env: summary committed")
    A.expect_check_ok(envdir, "directory env")

    frecs, fsummary = A.journal(flat)
    flast = A.env_last_txnid(flat, True)
    A.eq(flast, 2, "NOSUBDIR env last txn id")
    A.expect_records(frecs, [[put(N, b"k"), put(N, b"k2")], [dele(N, b"k")]],
                     "NOSUBDIR env", t0=t0, t1=t1)
    A.expect_summary_clean(fsummary, flast, "NOSUBDIR env")
    A.expect_check_ok(flat, "NOSUBDIR env")

    # The text form names the DBIs and escapes binary keys.
    text = A.run([A.MDBTAP, "journal", envdir])
    A.eq(text.rc, 0, "mdbtap journal (text) exit code")
    A.check(b"unaccounted txn ids: none" in text.out, "text output says nothing is unaccounted")
    A.check(b'delete-dbi "gone"' in text.out, "text output shows the delete-dbi event: %r"
            % text.out[-600:])
    A.finish()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--workload":
        workload(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--workload-failed-only":
        workload_failed_only(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "--failed-only-txn":
        main_failed_only()
    else:
        main()

#!/usr/bin/python3
"""apps_postmap: postfix 3.7 `postmap lmdb:` (dict plugin, dlopen'd) under the tap.

postfix tables are NOSUBDIR + MDB_NOLOCK envs that keep everything in the
unnamed DBI; keys and values end in NUL. A full build is one txn that empties
the unnamed DB (mdb_drop) and puts every key with MDB_NOOVERWRITE (a duplicate
source line fails with MDB_KEYEXIST and a warning); `-i` adds keys, `-d`
deletes one. On MDB_MAP_FULL postfix aborts the txn, grows the map and
replays it from the start.

The same steps run on a fresh directory twice, plain and with the tap: exit
codes, stdout, stderr and the table's data must be identical; the journal
must hold exactly the expected records, each from the right postmap process;
every element that changed must be in it; `mdbtap journal --check` must pass.
"""
import os
import shutil
import sys

import apputil as A

POSTMAP = "/usr/sbin/postmap"
SRC1 = ("alice@example.com OK\n"
        "bob@example.com REJECT\n"
        "key\\with tab\tvalue\n"
        "alice@example.com DUPLICATE\n"        # MDB_KEYEXIST: a warning, nothing written
        "\xe9t\xe9@example.com 550 non-ascii key\n")
SRC2 = ("alice@example.com OK\n"
        "dave@example.com HOLD\n"
        "key\\with tab\tvalue\n")
NBIG = 3000


def k(s):
    return s.encode() + b"\0"


def steps(d):
    """(name, argv, stdin, source file content to write first or None)."""
    pm = [POSTMAP, "-c", os.path.join(d, "conf")]
    small = [POSTMAP, "-c", os.path.join(d, "conf-small")]
    t = "lmdb:" + os.path.join(d, "access")
    big = "lmdb:" + os.path.join(d, "big")
    return [
        ("build", pm + [t], None, SRC1),
        ("incremental", pm + ["-i", t], b"carol@example.com OK\nalice@example.com CHANGED\n", None),
        ("incremental-empty", pm + ["-i", t], b"", None),
        ("delete", pm + ["-d", "bob@example.com", t], None, None),
        ("delete-missing", pm + ["-d", "nobody@example.com", t], None, None),
        ("rebuild", pm + [t], None, SRC2),
        ("query", pm + ["-q", "alice@example.com", t], None, None),
        ("query-missing", pm + ["-q", "bob@example.com", t], None, None),
        ("query-stdin", pm + ["-q", "-", t], b"dave@example.com\ncarol@example.com\nkey\\with\n", None),
        ("show", pm + ["-s", t], None, None),
        ("big-build", small + [big], None, None),
        ("big-show", small + ["-s", big], None, None),
    ]


def setup(d):
    A.wipe(d)
    os.makedirs(os.path.join(d, "conf"))
    os.makedirs(os.path.join(d, "conf-small"))
    open(os.path.join(d, "conf", "main.cf"), "w").close()
    # A small initial map: the big build hits MDB_MAP_FULL, and postfix
    # aborts, grows the map and replays its txn several times.
    with open(os.path.join(d, "conf-small", "main.cf"), "w") as f:
        f.write("lmdb_map_size = 40960\n")
    with open(os.path.join(d, "big"), "w") as f:
        for i in range(NBIG):
            f.write("user%04d@example.com value-%d-%s\n" % (i, i, "x" * 40))


def dump(path):
    """The table's data, read by mdb_dump from a copy (so that mdb_dump's
    lock file never appears next to the NOLOCK table)."""
    if not os.path.exists(path):
        return {}
    cp = path + ".dumpcopy"
    shutil.copyfile(path, cp)
    try:
        return A.dump_hex(cp, True)
    finally:
        A.wipe(cp)
        A.wipe(cp + "-lock")


def run_all(d, preload=None, extra_env=None):
    setup(d)
    res, dumps = [], []
    for name, argv, stdin, src in steps(d):
        if src is not None:
            with open(os.path.join(d, "access"), "w") as f:
                f.write(src)
        res.append(A.run(argv, preload=preload, stdin=stdin, extra_env=extra_env))
        dumps.append((dump(os.path.join(d, "access.lmdb")), dump(os.path.join(d, "big.lmdb"))))
    return res, dumps


def main():
    tmp = A.fresh_tmp()
    d = os.path.join(tmp, "pf")
    names = [s[0] for s in steps(d)]

    plain, plain_dumps = run_all(d)
    expect_rc = {"delete-missing": 1, "query-missing": 1}
    for n, r in zip(names, plain):
        A.eq(r.rc, expect_rc.get(n, 0), "plain postmap %s exit code (stderr %r)" % (n, r.err))
    A.check(b"duplicate entry" in plain[0].err, "the duplicate source line gives a warning")
    A.eq(plain[-1].out.count(b"\n"), NBIG, "big table has every key")

    tapped, dumps = run_all(d, preload=A.PRELOAD)
    for n, a, b in zip(names, plain, tapped):
        A.same_result(a, b, "postmap " + n)
    for n, a, b in zip(names, plain_dumps, dumps):
        A.eq(b, a, "table data after %s, with the tap vs without" % n)
    access, big = os.path.join(d, "access.lmdb"), os.path.join(d, "big.lmdb")
    A.check(not os.path.exists(access + "-lock") and not os.path.exists(big + "-lock"),
            "MDB_NOLOCK tables: no lock file appears")
    A.check(os.path.exists(access + "-mdbtap/journal"), "journal next to the table")

    pid = {n: r.pid for n, r in zip(names, tapped)}
    put = lambda key: ("put", None, key, None)
    dele = lambda key: ("del", None, key, None)
    drop = ("drop", None)
    exp_access = [
        ("build", [drop, put(k("alice@example.com")), put(k("bob@example.com")),
                   put(k("key\\with")), put(k("\xe9t\xe9@example.com"))]),
        ("incremental", [put(k("carol@example.com"))]),
        ("delete", [dele(k("bob@example.com"))]),
        ("rebuild", [drop, put(k("alice@example.com")), put(k("dave@example.com")),
                     put(k("key\\with"))]),
    ]
    exp_big = [("big-build", [drop] + [put(k("user%04d@example.com" % i)) for i in range(NBIG)])]

    for path, exp, what in ((access, exp_access, "access"), (big, exp_big, "big")):
        recs, summary = A.journal(path)
        A.expect_records(recs, [ops for _, ops in exp], what)
        for r, (n, _) in zip(recs, exp):
            A.eq(r["pid"], pid[n], "%s: txn %d comes from postmap %s" % (what, r["txnid"], n))
        # (mdb_stat on a copy: it must not create a lock file next to the table)
        shutil.copyfile(path, path + ".statcopy")
        last = A.env_last_txnid(path + ".statcopy", True)
        A.wipe(path + ".statcopy")
        A.wipe(path + ".statcopy-lock")
        A.eq(last, len(exp), what + ": env last txn id")
        A.expect_summary_clean(summary, last, what)
        A.expect_check_ok(path, what)

    # Every element that changed in a step is in that step's records.
    recs_a, _ = A.journal(access)
    recs_b, _ = A.journal(big)
    prev = ({}, {})
    for i, n in enumerate(names):
        for j, recs in ((0, recs_a), (1, recs_b)):
            mine = [A.ops(r) for r in recs if r["pid"] == pid[n]]
            A.expect_changes_journaled(A.element_changes(prev[j], dumps[i][j], set()), mine,
                                       set(), "%s (table %d)" % (n, j))
        prev = dumps[i]

    # postfix really aborted and replayed the big build (MDB_MAP_FULL): a
    # passive probe, not the tap, shows it.
    probe = sys.argv[1] if len(sys.argv) > 1 else ""
    if A.check(os.path.exists(probe), "the probe library is given as argument 1"):
        log = os.path.join(tmp, "probe.log")
        pres, _ = run_all(d, preload=probe, extra_env={"TXNPROBE_LOG": log})
        A.eq([r.rc for r in pres], [r.rc for r in plain], "probe run exit codes")
        txns = A.probe_txns(log)
        mapfull = [t for t in txns if t["state"] == "abort" and (("put", -30792) in t["writes"])]
        print("probe: %d write txns, %d aborted after MDB_MAP_FULL" % (len(txns), len(mapfull)))
        A.check(len(mapfull) >= 1, "postmap aborted a txn after MDB_MAP_FULL and retried")
        failed_in = lambda st, call: [t for t in txns if t["state"] == st and call in t["writes"]]
        A.check(failed_in("commit", ("put", -30799)),
                "a committed txn with a failed (MDB_KEYEXIST) put (the duplicate line)")
        A.check(failed_in("abort", ("put", -30799)),
                "postmap -i aborts the txn of a duplicate key")
        A.check(failed_in("abort", ("del", -30798)),
                "postmap -d of a missing key: a failed (MDB_NOTFOUND) del, then an abort")
    A.finish()


def main_perms():
    """postmap runs with umask 033. The tap's companion directory must be
    readable and searchable, and its journal readable, by whoever may read
    the table (the tap's own rule: "directories need x wherever the file has
    r"), or other users who may read the table cannot reach its journal."""
    import stat
    tmp = A.fresh_tmp()
    d = os.path.join(tmp, "pf")
    setup(d)
    with open(os.path.join(d, "access"), "w") as f:
        f.write(SRC2)
    r = A.run([POSTMAP, "-c", os.path.join(d, "conf"), "lmdb:" + os.path.join(d, "access")],
              preload=A.PRELOAD)
    A.eq(r.rc, 0, "postmap exit code (stderr %r)" % r.err)
    table = os.path.join(d, "access.lmdb")
    tmode = stat.S_IMODE(os.stat(table).st_mode)
    dmode = stat.S_IMODE(os.stat(table + "-mdbtap").st_mode)
    jmode = stat.S_IMODE(os.stat(table + "-mdbtap/journal").st_mode)
    print("table %o, companion directory %o, journal %o" % (tmode, dmode, jmode))
    # whoever may read the table must reach and read its journal: the
    # table's read bits decide, not the directory's (a directory made
    # unreadable must fail here, not skip the check)
    A.check(tmode & 0o044, "postmap made the table %o: readable by group or others" % tmode)
    for who, rbit, xbit in (("group", 0o040, 0o010), ("others", 0o004, 0o001)):
        if tmode & rbit:
            A.check(dmode & rbit and dmode & xbit,
                    "companion directory mode %o: not readable and searchable by %s, who "
                    "may read the table (%o)" % (dmode, who, tmode))
            A.check(jmode & rbit, "journal mode %o: not readable by %s, who may read the "
                    "table (%o)" % (jmode, who, tmode))
    # and nobody may write them who may not write the table
    for who, wbit in (("group", 0o020), ("others", 0o002)):
        if not tmode & wbit:
            A.check(not dmode & wbit and not jmode & wbit,
                    "companion directory %o or journal %o writable by %s, who may not write "
                    "the table (%o)" % (dmode, jmode, who, tmode))
    A.finish()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--journal-perms"]:
        main_perms()
    else:
        main()

"""Legal host shapes the syncer must not stop on (issues 9, 10, 11): a
journal element no DBI can hold, a DBI whose name becomes a plain key of
the unnamed DBI, and a name that is a plain key on one instance and a
DBI on another. One regression test per mode.

  test_shapes.py --unfoldable JNL_RECORD
  test_shapes.py --dbi-name-reuse
  test_shapes.py --dbi-name-reuse-running
  test_shapes.py --dbi-name-clash
"""
import json
import os
import signal
import subprocess
import sys

import apputil as A
from synclib import Instance


def lmdb_code(path, code, tap=True):
    """Run python3-lmdb code (env in `env`) on path, with the tap or not."""
    full = "import lmdb\nenv = lmdb.open(%r, max_dbs=8, map_size=1 << 26)\n" % path + code
    env = dict(os.environ, LD_PRELOAD=A.PRELOAD) if tap else dict(os.environ)
    if not tap:
        env.pop("LD_PRELOAD", None)
    p = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, timeout=60,
                       env=env)
    A.eq(p.returncode, 0, "python3-lmdb: " + p.stderr)


def dump(inst):
    """{name: value, or [(key, value)] for a named DBI} of the unnamed DBI."""
    code = r'''
import json, sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=8, readonly=True, lock=False)
out = {}
with env.begin() as t:
    for k, v in t.cursor():
        try:
            db = env.open_db(k, txn=t, create=False)
            out[k.decode()] = sorted([a.decode(), b.decode()] for a, b in t.cursor(db=db))
        except lmdb.Error:
            out[k.decode()] = v.decode()
print(json.dumps(out, sort_keys=True))
'''
    p = subprocess.run([sys.executable, "-c", code, inst.env], capture_output=True, text=True,
                       timeout=60)
    return json.loads(p.stdout) if p.returncode == 0 else A.fail(p.stderr) or {}


def stats(inst):
    p = subprocess.run([A.MDBTAP, "stats", "--json", inst.env], capture_output=True,
                       text=True, timeout=60)
    return json.loads(p.stdout) if p.returncode == 0 else {}


def sync_ok(inst, store):
    p = inst.sync(store)
    A.check("folding the journal" not in p.stderr and "quarantined" not in p.stderr,
            "%s syncs: %s" % (inst.name, p.stderr[-1500:]))
    return p.stderr


def unfoldable(tool):
    """A committed journal record with ops no DBI can hold (an empty key
    in the unnamed DBI and in a DUPSORT DBI, a key over LMDB's limit)
    beside the txn's real writes: those ops are skipped, logged and
    counted; the real writes and every later one sync."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    a.write([["put", None, "k0", "v0"]])
    sync_ok(a, store)
    sync_ok(b, store)
    # a txn without the tap, and the record the tap would have written
    lmdb_code(a.env, "df = env.open_db(b'df', dupsort=True)\n"
              "with env.begin(write=True) as t:\n"
              "    t.put(b'rrrr', b'real')\n"
              "    t.put(b'd', b'1', db=df)\n", tap=False)
    txn = A.env_last_txnid(a.env, False)
    r = A.run([tool, os.path.join(a.env, "mdbtap"), str(txn), "-:0:x", "df:0:x:1",
               "-:4:r", "df:1:d:1", "-:600:y"])
    A.eq(r.rc, 0, "jnl_record: %r" % r.err)
    log = sync_ok(a, store)
    A.check("MDB_BAD_VALSIZE" not in log, "no MDB_BAD_VALSIZE: " + log[-1500:])
    A.eq(log.count("skipped (counted as unfoldable"), 3, "each op skipped is logged: " + log)
    A.eq(stats(a).get("unfoldable_ops"), 3, "stats count the ops skipped")
    sync_ok(b, store)
    got = dump(b)
    A.eq(got.get("rrrr"), "real", "the record's real put reached b")
    A.eq(got.get("df"), [["d", "1"]], "the record's real DUPSORT put reached b")
    a.write([["put", None, "later", "L"]])
    sync_ok(a, store)
    sync_ok(b, store)
    A.eq(dump(b).get("later"), "L", "a later write syncs")


def dbi_name_reuse():
    """A deletes named DBI X (mdb_drop del=1) and puts a plain key X in the
    unnamed DBI in one txn (legal in LMDB): X's elements get tombstones,
    the key is an element of the unnamed DBI, and A goes on syncing. B
    (like any instance that got X's elements: a DBI is created for its
    tombstones too) keeps the empty DBI X and refuses the key
    (dbi_name_clash), which shows that A exported it."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    lmdb_code(a.env, "x = env.open_db(b'X')\nwith env.begin(write=True) as t:\n"
              "    t.put(b'inner', b'1', db=x)\n    t.put(b'other', b'o')\n")
    sync_ok(a, store)
    sync_ok(b, store)
    A.eq(dump(b).get("X"), [["inner", "1"]], "b has DBI X")
    lmdb_code(a.env, "x = env.open_db(b'X')\nwith env.begin(write=True) as t:\n"
              "    t.drop(x, delete=True)\n    t.put(b'X', b'now-a-plain-key')\n")
    log = sync_ok(a, store)
    A.check("MDB_INCOMPATIBLE" not in log, "a folds the txn: " + log[-1500:])
    a.write([["put", None, "later", "L"]])
    log = sync_ok(a, store)
    A.check("MDB_INCOMPATIBLE" not in log, "a syncs on: " + log[-1500:])
    log = sync_ok(b, store)
    got = dump(b)
    A.eq(got.get("X"), [], "b: X's element deleted (its DBI stays, empty)")
    A.eq(got.get("later"), "L", "b got a's later write")
    A.check("(dbi_name_clash: the key names a DBI here)" in log,
            "b refuses a's plain key X, logged: " + log[-1500:])


def dbi_name_reuse_running():
    """--dbi-name-reuse under a running syncer, which holds DBI X's handle
    from its earlier cycles (LMDB hands it back without reading X's record
    again): X is found deleted, and A's syncer goes on exporting."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    logf = open(os.path.join(root, "a.log"), "w+")
    syncer = subprocess.Popen(a.sync_argv(store, "--poll-interval", "50ms"), stderr=logf)

    def b_has(key, val):
        sync_ok(b, store)
        return dump(b).get(key) == val
    try:
        lmdb_code(a.env, "x = env.open_db(b'X')\nwith env.begin(write=True) as t:\n"
                  "    t.put(b'inner', b'1', db=x)\n    t.put(b'other', b'o')\n")
        A.wait_for("b gets DBI X", lambda: b_has("X", [["inner", "1"]]))
        lmdb_code(a.env, "with env.begin(write=True) as t:\n    t.put(b'mid', b'M')\n")
        A.wait_for("b gets mid", lambda: b_has("mid", "M"))  # a's syncer used X's handle
        lmdb_code(a.env, "x = env.open_db(b'X')\nwith env.begin(write=True) as t:\n"
                  "    t.drop(x, delete=True)\n    t.put(b'X', b'now-a-plain-key')\n")
        lmdb_code(a.env, "with env.begin(write=True) as t:\n    t.put(b'later', b'L')\n")
        A.wait_for("b gets a's later write", lambda: b_has("later", "L"))
        A.eq(dump(b).get("X"), [], "b: X's element deleted")
        A.check(syncer.poll() is None, "a's syncer still runs")
    finally:
        syncer.send_signal(signal.SIGTERM)
        try:
            syncer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            syncer.kill()
            syncer.wait()
        logf.seek(0)
        log = logf.read()
        logf.close()
    A.check("MDB_INCOMPATIBLE" not in log and "folding the journal" not in log,
            "a's syncer folds on: " + log[-1500:])


def dbi_name_clash():
    """A has a plain key X in its unnamed DBI, B a named DBI X: each refuses
    the other's clashing elements (dbi_name_clash, counted per DBI and
    instance), applies the rest, quarantines nothing, and A's later writes
    reach B."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    lmdb_code(a.env, "with env.begin(write=True) as t:\n    t.put(b'X', b'plain')\n"
              "    t.put(b'ka', b'a')\n")
    lmdb_code(b.env, "x = env.open_db(b'X')\nwith env.begin(write=True) as t:\n"
              "    t.put(b'k', b'v', db=x)\n    t.put(b'kb', b'b')\n")
    logs = {}
    for i in (a, b, a, b):
        logs[i.name] = logs.get(i.name, "") + sync_ok(i, store)
        if i is a and "(dbi_name_clash:" in logs["a"] and "sa" not in logs:
            logs["sa"] = stats(a)  # of the syncer process that refused
    lmdb_code(a.env, "with env.begin(write=True) as t:\n    t.put(b'after', b'1')\n")
    for i in (a, b, a, b):
        logs[i.name] += sync_ok(i, store)
    ga, gb = dump(a), dump(b)
    A.eq(ga, {"X": "plain", "ka": "a", "kb": "b", "after": "1"}, "a's contents")
    A.eq(gb, {"X": [["k", "v"]], "ka": "a", "kb": "b", "after": "1"}, "b's contents")
    for i, dbi, other in ((a, "X", "b"), (b, "(unnamed)", "a")):
        lines = [ln for ln in logs[i.name].splitlines() if "(dbi_name_clash:" in ln]
        A.eq(len(lines), 1, "%s logs the clash once: %s" % (i.name, logs[i.name][-1500:]))
        A.check(lines and ("DBI '%s'" % dbi) in lines[0] and ("'%s'" % other) in lines[0],
                "%s: the log names the DBI and the instance: %r" % (i.name, lines))
    sa = logs.get("sa", {})
    A.eq(sa.get("objects_refused"), 0, "a quarantined nothing: %r" % sa)
    A.check(sa.get("elements_misfit", 0) >= 1 and "X from b" in sa.get("misfits", ""),
            "a counts the refusal: %r" % sa)


def main():
    modes = {"--unfoldable": unfoldable, "--dbi-name-reuse": dbi_name_reuse,
             "--dbi-name-reuse-running": dbi_name_reuse_running,
             "--dbi-name-clash": dbi_name_clash}
    modes[sys.argv[1]](*sys.argv[2:])
    A.finish()


if __name__ == "__main__":
    main()

"""synclib.py: instances of a test env with the tap and `mdbtap sync`, and
the last-writer-wins model they must converge to (tests/sync, tests/s3).

Each Instance is an env written by tests/lib/writer.py (python3-lmdb, the tap
preloaded) and synced with `mdbtap sync --once` to a directory store, or to
the S3 store $MDBTAP_TEST_STORE_URL names (tests/s3/with_s3.py sets it).
"""
import json
import os
import subprocess
import time

import apputil as A

HERE = A.LIB
PY = "/usr/bin/python3"
S3_URL = os.environ.get("MDBTAP_TEST_STORE_URL", "")
SYNC_FLAGS = []  # more flags for every `mdbtap sync`


def store_url(store):
    """The store for the scratch path `store`: that directory, or the S3
    store (one per test: with_s3.py starts a server for each)."""
    if S3_URL:
        return S3_URL
    os.makedirs(store, exist_ok=True)  # mdbtap creates none unless told (--create-store)
    return "file://" + store


class Instance:
    def __init__(self, root, name):
        self.name = name
        self.env = os.path.join(root, name)
        os.makedirs(self.env)
        self.seen = 0  # journal records read so far (by txn id)
        self.extra = {}  # environment for its writer and its syncer

    def write(self, ops):
        """One txn; returns (ts, what it did), and sets self.window to the
        wall-clock interval, measured here, in which the txn committed. The
        txn's journal timestamp must lie in it (unless the test moved the
        tap's clock)."""
        env = dict(os.environ, LD_PRELOAD=A.PRELOAD, **self.extra)
        t0 = time.time_ns()
        p = subprocess.run([PY, os.path.join(HERE, "writer.py"), self.env],
                           input=json.dumps(ops), env=env, capture_output=True, text=True,
                           timeout=60)
        self.window = (t0, time.time_ns())
        if p.returncode:
            A.fail("writer on %s: %s" % (self.name, p.stderr))
            return None, []
        done = json.loads(p.stdout)
        recs = self.new_records()
        if not done:
            return None, []
        # python3-lmdb opens (creates) each DBI in a txn of its own first
        if not recs or any(e["op"] not in ("create",) for r in recs[:-1] for e in
                           r["entries"] + r["events"]):
            A.fail("%s: unexpected records for one txn: %r" % (self.name, recs))
            return None, done
        ts = recs[-1]["ts"]
        if "MDBTAP_TEST_CLOCK_OFFSET_NS" not in self.extra:
            A.check(self.window[0] <= ts <= self.window[1],
                    "%s: the txn's timestamp %d is outside the time it ran [%d, %d]" % (
                        self.name, ts, *self.window))
        return ts, done

    def new_records(self):
        """Committed local records not read before (read before the syncer
        consumes them)."""
        p = subprocess.run([A.MDBTAP, "journal", "--json", self.env], capture_output=True,
                           text=True, timeout=60)
        recs = [r for r in map(json.loads, p.stdout.splitlines())
                if "txnid" in r and r["state"] == "committed"]
        # Records are new after the last one read, in ring order: after a
        # restore, the old file's records (a merge's, of a higher txn id)
        # still precede the new file's, whose ids are lower.
        ids = [(r["txnid"], r["ts"], r["pid"]) for r in recs]
        last = getattr(self, "last_rec", None)
        if last in ids:
            recs = recs[ids.index(last) + 1:]
        else:
            recs = [r for r in recs if r["txnid"] > self.seen]
        out = []
        for r in recs:
            self.seen = r["txnid"]
            self.last_rec = (r["txnid"], r["ts"], r["pid"])
            if not r["syncer"]:
                out.append(r)
        return out

    def sync_argv(self, store, *extra):
        return [A.MDBTAP, "sync", "--env", self.env, "--store", store_url(store),
                "--instance", self.name, *SYNC_FLAGS, *extra]

    def sync(self, store, *extra):
        p = subprocess.run(self.sync_argv(store, "--once", *extra), capture_output=True,
                           text=True, timeout=120, env=dict(os.environ, **self.extra))
        if p.returncode:
            A.fail("sync %s: rc %d: %s" % (self.name, p.returncode, p.stderr[-2000:]))
        self.new_records()  # the syncer's own records: skip them
        return p

    def digest(self):
        return A.digest(self.env)

    def contents(self):
        code = r'''
import json, sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=4, readonly=True, lock=False)
out = {}
with env.begin() as txn:
    names = {b"n", b"d"}
    # named DBIs' records (binary) too: the callers filter them
    out["-"] = sorted([k.decode(), v.decode("utf-8", "replace")] for k, v in txn.cursor()
                      if k not in names)
    for n in names:
        try:
            db = env.open_db(n, txn=txn, create=False)
        except lmdb.NotFoundError:
            continue
        out[n.decode()] = sorted([k.decode(), v.decode()] for k, v in txn.cursor(db=db))
print(json.dumps(out, sort_keys=True))
'''
        p = subprocess.run([PY, "-c", code, self.env], capture_output=True, text=True, timeout=60)
        return json.loads(p.stdout) if p.returncode == 0 else A.fail(p.stderr)

    def mdb_dump(self):
        out = []
        # the unnamed DB also holds the named DBIs' own records, whose bytes
        # (page numbers) differ between envs: compare it by contents()
        for sub in (["-s", "n"], ["-s", "d"]):
            p = subprocess.run(["mdb_dump", "-p"] + sub + [self.env], capture_output=True,
                               text=True)
            out.append(p.stdout.split("HEADER=END", 1)[-1] if p.returncode == 0 else "")
        return out


class Model:
    """Last writer wins per element, in the order the txns ran: each txn
    comes with its commit window (Instance.window, the wall clock read by
    the test before and after its writer), and a txn whose window starts
    after another's ended is the later one. The tests write one txn at a
    time, so windows never overlap; the product's own timestamps play no
    part, so a clock that stamps out of order is caught."""

    def __init__(self):
        self.el = {}

    def apply(self, window, done):
        last = {}
        for dbi, key, val, deleted in done:  # within a txn, the last op counts
            ident = (dbi, key, val) if dbi == "d" else (dbi, key)
            last[ident] = (window, "" if deleted else val, deleted)
        for ident, new in last.items():
            old = self.el.get(ident)
            if old is not None and not (new[0][0] > old[0][1] or new[0][1] < old[0][0]):
                A.fail("txns with overlapping windows %r and %r: no order" % (old[0], new[0]))
            if old is None or new[0][0] > old[0][1]:
                self.el[ident] = new

    def expected(self):
        out = {"-": [], "n": [], "d": []}
        for ident, (ts, val, deleted) in self.el.items():
            if deleted:
                continue
            dbi = ident[0] or "-"
            out[dbi].append([ident[1], val])
        return {k: sorted(v) for k, v in out.items()}


def random_ops(rng):
    ops = []
    for _ in range(rng.randint(1, 4)):
        k = "k%d" % rng.randint(0, 7)
        v = "v%d" % rng.randint(0, 99)
        r = rng.random()
        if r < 0.25:
            ops.append(["put", rng.choice([None, "n"]), k, v])
        elif r < 0.35:
            ops.append(["del", rng.choice([None, "n"]), k, ""])
        elif r < 0.40:
            ops.append(["cput", rng.choice([None, "n"]), k, v])
        elif r < 0.45:
            ops.append(["cdel", rng.choice([None, "n", "d"]), k, ""])
        elif r < 0.48:  # a large value: LMDB overflow pages, several zstd blocks
            ops.append(["put", rng.choice([None, "n"]), k, v + "-" + "x" * rng.randint(5000, 300000)])
        elif r < 0.75:
            ops.append(["dput", "d", k, "d%d" % rng.randint(0, 5)])
        elif r < 0.95:
            ops.append(["ddel", "d", k, "d%d" % rng.randint(0, 5)])
        else:
            ops.append(["drop", "d", "", ""])
    return ops


def quiesce(insts, store):
    for _ in range(6):
        for i in insts:
            i.sync(store)
        if len({i.digest() for i in insts}) == 1:
            for i in insts:  # one more round: nothing new
                i.sync(store)
            return True
    return False


def same_everywhere(insts, model=None):
    digests = [i.digest() for i in insts]
    A.eq(len(set(digests)), 1, "distinct digests: " + repr(digests))
    contents = [i.contents() for i in insts]
    for i, c in zip(insts[1:], contents[1:]):
        A.eq(c, contents[0], "contents of %s vs %s" % (i.name, insts[0].name))
    if model:
        got = {k: contents[0].get(k, []) for k in ("-", "n", "d")}
        A.eq(got, model.expected(), "contents vs the last-writer-wins model")

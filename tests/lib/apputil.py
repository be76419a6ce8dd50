"""apputil.py: helpers shared by the test scripts (stdlib only).

The tests run real, unmodified programs twice on a fresh env: once plain and
once with the tap preloaded ($MDBTAP_PRELOAD, set by ctest), compare what the
programs printed and returned (docs/DESIGN.md §3), and compare the journal the
tap left with the exact writes the programs made (invariants 1 and 2).
"""
import json
import os
import shutil
import subprocess
import sys
import time

PRELOAD = os.environ.get("MDBTAP_PRELOAD", "")
PRELOAD_DEEPBIND = os.environ.get("MDBTAP_PRELOAD_DEEPBIND", "")
MDBTAP = os.environ.get("MDBTAP_BIN", "")
TMP = os.environ.get("MDBTAP_TEST_TMP", "")
LIB = os.path.dirname(os.path.abspath(__file__))  # tests/lib: writer.py and the helpers

# What the tap reads from the environment; the tests control all of it.
_TAP_VARS = ("LD_PRELOAD", "MDBTAP_DISABLE", "MDBTAP_LOG", "MDBTAP_JOURNAL_SIZE",
             "MDBTAP_TXN_LIMIT", "MDBTAP_TEST_CLOCK_OFFSET_NS")

_failures = []


def need_env():
    missing = [n for n, v in (("MDBTAP_PRELOAD", PRELOAD), ("MDBTAP_BIN", MDBTAP),
                              ("MDBTAP_TEST_TMP", TMP)) if not v]
    if missing:
        sys.exit("run this through ctest (missing %s)" % ", ".join(missing))


def fresh_tmp():
    """The test's scratch directory, wiped."""
    need_env()
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    return TMP


def wipe(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def fail(msg):
    _failures.append(msg)
    print("FAIL: " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def eq(actual, expected, what):
    if actual != expected:
        fail("%s:\n  expected %r\n  actual   %r" % (what, expected, actual))
        return False
    return True


def wait_for(what, cond, secs=60):
    """Poll cond() until it is true (a failure after secs seconds)."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    fail("timed out waiting for " + what)
    return False


def finish():
    if _failures:
        print("%d check(s) failed" % len(_failures))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


class Result:
    def __init__(self, argv, rc, out, err, pid=None):
        self.argv, self.rc, self.out, self.err, self.pid = argv, rc, out, err, pid

    def key(self):
        return (self.rc, self.out, self.err)

    def __repr__(self):
        return "Result(%r rc=%r out=%r err=%r)" % (self.argv, self.rc, self.out, self.err)


def base_env(extra=None):
    env = dict(os.environ)
    for v in _TAP_VARS:
        env.pop(v, None)
    if extra:
        env.update(extra)
    return env


def run(argv, preload=None, stdin=None, extra_env=None, timeout=30, cwd=None):
    """Run argv; preload: None (plain) or the LD_PRELOAD value. Bytes out."""
    env = base_env(extra_env)
    if preload:
        env["LD_PRELOAD"] = preload
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    return Result(argv, p.returncode, out, err, p.pid)


def same_result(plain, tapped, what, normalize=None):
    """The program must not notice the tap: same rc, stdout and stderr."""
    a, b = plain.key(), tapped.key()
    if normalize:
        a = (a[0], normalize(a[1]), normalize(a[2]))
        b = (b[0], normalize(b[1]), normalize(b[2]))
    return eq(b, a, "%s: (rc, stdout, stderr) with the tap vs without" % what)


# ---- the journal -------------------------------------------------------------

def journal(path):
    """(records, summary) of `mdbtap journal --json PATH`."""
    r = run([MDBTAP, "journal", "--json", path])
    if r.rc != 0:
        fail("mdbtap journal --json %s: rc %d, stderr %r" % (path, r.rc, r.err))
        return [], {}
    recs, summary = [], None
    for line in r.out.decode().splitlines():
        o = json.loads(line)
        if "summary" in o:
            summary = o["summary"]
        else:
            recs.append(o)
    check(summary is not None, "no summary line from mdbtap journal --json %s" % path)
    return recs, summary or {}


def digest(path, timeout=60):
    """`mdbtap digest PATH`. An error or an empty answer is a failure, and
    gives a text no other env's digest equals: two envs whose digests both
    failed must not compare equal."""
    p = subprocess.run([MDBTAP, "digest", path], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode or not p.stdout.strip():
        fail("digest %s: exit code %d, printed %r: %s" % (path, p.returncode, p.stdout,
                                                          p.stderr[-500:]))
        return "<no digest of %s>" % path
    return p.stdout


def journal_check(path):
    """rc and text of `mdbtap journal --check PATH`."""
    r = run([MDBTAP, "journal", "--check", path])
    return r


def expect_check_ok(path, what):
    r = journal_check(path)
    summary = [l for l in r.out.decode(errors="replace").splitlines() if l.startswith("#")]
    return eq(r.rc, 0, "%s: mdbtap journal --check %s exit code (summary %r, stderr %r)"
              % (what, os.path.basename(path), summary, r.err))


def ops(rec):
    """A record's entries and events merged in `at` order, as tuples:
    ('put'|'del'|'delall', dbi, key, value or None) for entries (bytes),
    ('create', dbi, flags) / (op, dbi) for events."""
    items = []
    for e in rec.get("entries", []):
        v = e.get("value")
        items.append((e["at"], (e["op"], e["dbi"], bytes.fromhex(e["key"]),
                                bytes.fromhex(v) if v is not None else None)))
    for e in rec.get("events", []):
        if e["op"] == "create":
            items.append((e["at"], ("create", e["dbi"], e.get("flags"))))
        else:
            items.append((e["at"], (e["op"], e["dbi"])))
    items.sort(key=lambda x: x[0])
    ats = [a for a, _ in items]
    check(ats == list(range(len(ats))),
          "record of txn %s: op positions %r are not 0..n-1" % (rec.get("txnid"), ats))
    return [o for _, o in items]


def fmt_op(o):
    def b(x):
        return repr(x) if len(x) <= 40 else "%r...(%d bytes)" % (x[:24], len(x))
    if o[0] in ("put", "del", "delall"):
        return "%s %s %s%s" % (o[0], o[1] or "-", b(o[2]), "" if o[3] is None else "=" + b(o[3]))
    return " ".join(str(x) for x in o)


def expect_records(recs, expected, what, pid=None, t0=None, t1=None):
    """recs (committed, in order) must match expected: a list of op lists.
    Also: txn ids consecutive, state committed, not lossy, not syncer,
    timestamps strictly increasing (and inside [t0, t1] ns if given)."""
    ok = eq(len(recs), len(expected), "%s: number of journal records (txn ids %r)"
            % (what, [r.get("txnid") for r in recs]))
    for i, (r, x) in enumerate(zip(recs, expected)):
        got = ops(r)
        if got != x:
            ok = False
            lines = ["%s: record %d (txn %s) ops differ:" % (what, i, r.get("txnid")),
                     "  expected:"] + ["    " + fmt_op(o) for o in x] + \
                    ["  actual:"] + ["    " + fmt_op(o) for o in got]
            fail("\n".join(lines))
    for r in recs:
        tag = "%s: txn %s" % (what, r.get("txnid"))
        ok &= eq(r.get("state"), "committed", tag + " state")
        ok &= eq(r.get("lossy"), False, tag + " lossy")
        ok &= eq(r.get("syncer"), False, tag + " syncer")
        if pid is not None:
            ok &= eq(r.get("pid"), pid, tag + " pid")
        if t0 is not None:
            ok &= check(t0 <= r["ts"] <= t1, "%s ts %d outside the run [%d, %d]"
                        % (tag, r["ts"], t0, t1))
    ids = [r["txnid"] for r in recs]
    if ids:
        ok &= eq(ids, list(range(ids[0], ids[0] + len(ids))), what + ": record txn ids consecutive")
    ts = [r["ts"] for r in recs]
    ok &= check(all(a < b for a, b in zip(ts, ts[1:])),
                "%s: timestamps not strictly increasing: %r" % (what, ts))
    return ok


def expect_summary_clean(summary, last_txnid, what):
    ok = eq(summary.get("env_last_txnid"), last_txnid, what + ": summary env_last_txnid")
    for k in ("unaccounted", "in_doubt", "ahead_of_env"):
        ok &= eq(summary.get(k), [], "%s: summary %s" % (what, k))
    for k in ("pending", "corrupt", "dropped"):
        ok &= eq(summary.get(k), 0, "%s: summary %s" % (what, k))
    return ok


# ---- lmdb-utils (static: they never go through the tap) ----------------------

def env_last_txnid(path, nosubdir):
    argv = ["mdb_stat", "-e"] + (["-n"] if nosubdir else []) + [path]
    r = run(argv)
    if r.rc != 0:
        fail("%r: rc %d %r" % (argv, r.rc, r.err))
        return None
    for line in r.out.decode().splitlines():
        line = line.strip()
        if line.startswith("Last transaction ID:"):
            return int(line.split(":")[1])
    fail("no 'Last transaction ID' in mdb_stat -e output %r" % r.out)
    return None


def mdb_dump(path, nosubdir, dbname=None, all_dbs=False):
    """mdb_dump (printable) output, as bytes."""
    argv = ["mdb_dump", "-p"] + (["-n"] if nosubdir else [])
    if all_dbs:
        argv.append("-a")
    if dbname:
        argv += ["-s", dbname]
    argv.append(path)
    r = run(argv)
    if r.rc != 0:
        fail("%r: rc %d %r" % (argv, r.rc, r.err))
    return r.out


def parse_dump(text):
    """{dbname or None: (header dict, [(key, value), ...])} from `mdb_dump -a`
    (not -p: hex bytes)."""
    out = {}
    cur = None
    hdr = {}
    items = []
    pending_key = None
    for line in text.decode().splitlines():
        if line.startswith(" "):
            data = bytes.fromhex(line.strip())
            if pending_key is None:
                pending_key = data
            else:
                items.append((pending_key, data))
                pending_key = None
        elif line == "HEADER=END":
            pass
        elif line == "DATA=END":
            out[cur] = (hdr, items)
            cur, hdr, items = None, {}, []
        elif "=" in line:
            k, v = line.split("=", 1)
            hdr[k] = v
            if k == "database":
                cur = v
    return out


def dump_hex(path, nosubdir):
    """Every DBI's elements, read by the static mdb_dump (no tap):
    {None: unnamed DB (named DBIs show up as its keys too), NAME: ...}."""
    out = {}
    for extra in ([], ["-a"]):
        argv = ["mdb_dump"] + extra + (["-n"] if nosubdir else []) + [path]
        r = run(argv)
        if r.rc != 0 and extra and b"does not contain multiple databases" in r.err:
            continue
        if r.rc != 0:
            fail("%r: rc %d %r" % (argv, r.rc, r.err))
            return {}
        out.update(parse_dump(r.out))
    return out


def element_changes(before, after, dupsort_dbis):
    """What changed between two dump_hex() results, per DBI: a set of
    ("add"|"chg"|"rm", key, value after or None) for plain DBIs and of
    ("add"|"rm", key, value) for DUPSORT DBIs (an element is a pair)."""
    out = {}
    for name in set(before) | set(after):
        b = before.get(name, ({}, []))[1]
        a = after.get(name, ({}, []))[1]
        if name in dupsort_dbis:
            sb, sa = set(b), set(a)
            ch = {("add", k, v) for k, v in sa - sb} | {("rm", k, v) for k, v in sb - sa}
        else:
            db, da = dict(b), dict(a)
            ch = set()
            for k in set(db) | set(da):
                if k not in da:
                    ch.add(("rm", k, None))
                elif k not in db:
                    ch.add(("add", k, da[k]))
                elif db[k] != da[k]:
                    ch.add(("chg", k, da[k]))
        if ch:
            out[name] = ch
    return out


def expect_changes_journaled(changes, oplists, dupsort_dbis, what, ignore=()):
    """Invariant 1 cross-check, independent of the expected op lists: every
    element that really changed (dump before vs after) is in the journal: an
    added or changed one as a put, a removed one as a del, a delall of its
    key (DUPSORT) or a drop of its DBI."""
    seen = set()
    for ol in oplists:
        for o in ol:
            seen.add(o)
    dropped = {o[1] for o in seen if o[0] in ("drop", "delete-dbi")}
    ok = True
    for name, ch in changes.items():
        if name in ignore:
            continue
        for kind, k, v in ch:
            if kind == "rm" and name in dropped:
                continue
            if name in dupsort_dbis:
                if kind == "add":
                    hit = ("put", name, k, v) in seen
                else:
                    hit = ("del", name, k, v) in seen or ("delall", name, k, None) in seen
            else:
                hit = ("del" if kind == "rm" else "put", name, k, None) in seen
            if not hit:
                ok = False
                fail("%s: %s element %s %r%s is not in the journal"
                     % (what, {"add": "added", "chg": "changed", "rm": "removed"}[kind],
                        name or "-", k, "" if v is None or name not in dupsort_dbis else "=%r" % v))
    return ok


def probe_txns(logpath):
    """Parse a txnprobe log: a list of write txns in begin order, each
    {"id", "parent", "state": "commit"|"abort"|"open", "writes": [(call, rc)]}."""
    txns, live = [], {}
    try:
        lines = open(logpath).read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        w = line.split()
        if w[0] == "B":
            t = {"id": w[1], "parent": None if w[2] == "(nil)" else w[2],
                 "state": "open", "writes": []}
            txns.append(t)
            live[w[1]] = t
        elif w[0] == "W" and w[1] in live:
            live[w[1]]["writes"].append((w[2], int(w[3])))
        elif w[0] == "C" and w[1] in live:
            live.pop(w[1])["state"] = "commit" if w[2] == "0" else "commit-failed"
        elif w[0] == "A" and w[1] in live:
            live.pop(w[1])["state"] = "abort"
    return txns


def now_ns():
    return time.time_ns()

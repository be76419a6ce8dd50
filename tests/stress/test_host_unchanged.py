#!/usr/bin/python3
"""stress_host_unchanged: the tap changes nothing the host can see
(docs/DESIGN.md §3), and journals exactly what succeeded (invariants 1 and 2).

    test_host_unchanged.py HOST_ERRORS

host_errors walks error paths (MDB_KEYEXIST, MDB_NOTFOUND, EACCES in read-only
txns and envs, EINVAL for a bad DBI or an unpositioned cursor, MDB_BAD_VALSIZE,
MDB_MAP_FULL in a 64 KiB map then abort or a failing commit, env_open of a
missing dir and of a file) and prints every return code, errno (set to a
sentinel before each call) and its data. It is run:
  A. without the tap;
  B. with the tap, MDBTAP_LOG unset;
  C. with the tap, each env's companion path "mdbtap" a regular file
     (the journal cannot be created), MDBTAP_LOG unset;
  D. as C with MDBTAP_LOG set.
Each of B, C, D must give byte-identical stdout, stderr and exit code to A,
leave the same files (B: plus the companion dirs and journals; the cwd and
everything else untouched), the same data file sizes; in C and D the
companion file is left as it was, `mdbtap journal` says it has no journal,
and only D writes a log (saying so). B's journals: exactly the successful
writes of committed txns (failed calls, an aborted child and a failed commit
leave nothing committed), and every txn id accounted, including a txn whose
only call was an MDB_NODUPDATA put that failed after LMDB touched pages
(LMDB gives that commit a txn id).
"""
import os
import shutil
import subprocess
import sys

import stresslib as S

S.need_env()
HOST = sys.argv[1]
S.fresh_tmp()
ROOT = os.path.join(S.TMP, "run")
CWD = os.path.join(S.TMP, "cwd")
LOG = os.path.join(S.TMP, "tap.log")
ENVS = ("env", "tiny", "nodup")
COMPANION_TEXT = b"a file where the companion directory would go\n"


def tree(path):
    out = {}
    for d, dirs, files in os.walk(path):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, path)
            out[rel] = "dir" if os.path.isdir(p) else os.path.getsize(p)
    return out


def run(label, env, companion_files=False):
    for p in (ROOT, CWD):
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p)
    for e in ENVS:
        os.makedirs(os.path.join(ROOT, e))
        if companion_files:
            with open(os.path.join(ROOT, e, "mdbtap"), "wb") as f:
                f.write(COMPANION_TEXT)
    with open(os.path.join(ROOT, "afile"), "w") as f:
        f.write("not a directory\n")
    p = subprocess.run([HOST, ROOT], env=env, cwd=CWD, capture_output=True, timeout=120)
    S.check(os.listdir(CWD) == [], "%s: files left in the cwd: %s" % (label, os.listdir(CWD)))
    return p.returncode, p.stdout, p.stderr, tree(ROOT)


def same_output(label, got, want):
    for i, what in enumerate(("exit code", "stdout", "stderr")):
        if got[i] != want[i]:
            a = want[i].decode(errors="replace").splitlines() if i else [str(want[i])]
            b = got[i].decode(errors="replace").splitlines() if i else [str(got[i])]
            diff = [(x, y) for x, y in zip(a + [""] * len(b), b + [""] * len(a)) if x != y][:3]
            S.fail("%s: %s differs from the run without the tap: %s" % (label, what, diff))


a = run("A", {k: v for k, v in S.plain_env().items() if k != "MDBTAP_LOG"})
S.check(a[0] == 7 and b"host_errors: done" in a[2], "A: the host did not run through: %r %r"
        % (a[0], a[2][-300:]))
S.check(not any(k.split(os.sep)[-1] == "mdbtap" for k in a[3]), "A: a companion without the tap")

# B: the tap, nothing in the way.
b = run("B", S.preload_env(drop=("MDBTAP_LOG",)))
same_output("B", b, a)
companions = {}
for e in ENVS:
    companions[e + "/mdbtap"] = "dir"
    companions[e + "/mdbtap/journal"] = b[3].get(e + "/mdbtap/journal")
S.check(all(isinstance(companions[e + "/mdbtap/journal"], int) for e in ENVS),
        "B: a journal is missing: %s" % sorted(b[3]))
S.check(b[3] == dict(a[3], **companions), "B: files differ from A's plus the journals: %s"
        % sorted(set(b[3].items()) ^ set(dict(a[3], **companions).items())))
S.check(not os.path.exists(LOG), "B: a log file without MDBTAP_LOG")

j = S.Journal(os.path.join(ROOT, "env"))
if j.sane("B env"):
    h = lambda s: s.encode().hex()  # noqa: E731
    want = [
        (1, [("plain", "put", h("k1"), None), ("plain", "put", h("k2"), None)],
         [("plain", "create", 0), ("dups", "create", 4)]),
        (2, [("dups", "put", h("d"), h("a")), ("dups", "put", h("d"), h("a")),
             ("plain", "del", h("k2"), None)], []),
    ]
    got = [(r["txnid"], S.entries(r), [(e["dbi"], e["op"], e.get("flags")) for e in r["events"]])
           for r in j.records]
    S.check(got == want, "B env: records %s, want %s" % (got, want))
    S.check(all(r["state"] == "committed" and not r["lossy"] for r in j.records),
            "B env: records not committed or lossy")
    rc, out, err = S.journal_check(os.path.join(ROOT, "env"))
    S.check(rc == 0, "B env: mdbtap journal --check rc %d: %s" % (rc, out[-300:]))

j = S.Journal(os.path.join(ROOT, "tiny"))
if j.sane("B tiny"):
    com = [r for r in j.records if r["state"] == "committed"]
    S.check(len(com) == 1 and com[0]["txnid"] == 1 and
            S.entries(com[0]) == [(None, "put", ("fits%02d" % i).encode().hex(), None)
                                  for i in range(20)],
            "B tiny: committed records %s" % [(r["txnid"], len(r["entries"])) for r in com])
    S.check(all(r["state"] in ("committed", "aborted") for r in j.records),
            "B tiny: a pending record")
    rc, out, err = S.journal_check(os.path.join(ROOT, "tiny"))
    S.check(rc == 0, "B tiny: mdbtap journal --check rc %d: %s" % (rc, out[-300:]))

j = S.Journal(os.path.join(ROOT, "nodup"))
if j.sane("B nodup"):
    rc, out, err = S.journal_check(os.path.join(ROOT, "nodup"))
    S.check(rc == 0, "B nodup: a commit whose only call was a failed MDB_NODUPDATA put got a txn "
            "id from LMDB but no record: `mdbtap journal --check` rc %d, unaccounted %s"
            % (rc, j.summary["unaccounted"]))

# C and D: the companion directory cannot be created.
for label, env in (("C", S.preload_env(drop=("MDBTAP_LOG",))),
                   ("D", S.preload_env({"MDBTAP_LOG": LOG}))):
    if os.path.exists(LOG):
        os.unlink(LOG)
    c = run(label, env, companion_files=True)
    same_output(label, c, a)
    files = {e + "/mdbtap": len(COMPANION_TEXT) for e in ENVS}
    S.check(c[3] == dict(a[3], **files), "%s: files differ from A's plus the companion files: %s"
            % (label, sorted(set(c[3].items()) ^ set(dict(a[3], **files).items()))))
    for e in ENVS:
        with open(os.path.join(ROOT, e, "mdbtap"), "rb") as f:
            S.check(f.read() == COMPANION_TEXT, "%s: %s/mdbtap was changed" % (label, e))
    rc, out, err = S.journal_check(os.path.join(ROOT, "env"))
    S.check(rc not in (0, 3), "%s: mdbtap journal with no journal: rc %d (want an error)"
            % (label, rc))
    if label == "C":
        S.check(not os.path.exists(LOG), "C: a log file without MDBTAP_LOG")
    else:
        text = open(LOG).read() if os.path.exists(LOG) else ""
        S.check("no journal" in text, "D: MDBTAP_LOG does not say there is no journal: %r" % text)
S.finish("stress_host_unchanged")

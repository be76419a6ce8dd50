"""trust_log_lines: bytes from a remote object never reach a log line raw
(README "Security").

A writer to the store names a DBI with a newline and a forged log line;
its elements do not fit the receiver's DBI of that name (DUPSORT there),
so the receiver logs the DBI's name: escaped, the forged line never
starts a line of the log.
"""
import os
import subprocess

import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
FORGED = "2026-01-01T00:00:00.000Z error: FORGED LINE written by a remote object"
MAKE = r'''
import lmdb, sys
root, name = sys.argv[1], sys.argv[2].encode()
a = lmdb.open(root + "/a", max_dbs=4); d = a.open_db(name)
with a.begin(write=True) as t: t.put(b"k", b"v", db=d)
b = lmdb.open(root + "/b", max_dbs=4); d = b.open_db(name, dupsort=True)
with b.begin(write=True) as t: t.put(b"k", b"w", db=d)
'''


def main():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)
    r = A.run([PY, "-c", MAKE, root, "d\n" + FORGED + "\x1b[2J"])
    A.eq(r.rc, 0, "make the envs: %r" % r.err)
    logs = {}
    for i in ("a", "b"):
        p = subprocess.run([A.MDBTAP, "sync", "--env", os.path.join(root, i), "--store",
                            "file://" + store, "--instance", i, "--once"],
                           env=A.base_env(), capture_output=True, text=True, timeout=120)
        A.eq(p.returncode, 0, "sync %s: %s" % (i, p.stderr[-400:]))
        logs[i] = p.stderr
    A.check("do not fit" in logs["b"], "b logged the misfit DBI: " + logs["b"][-600:])
    A.check(not any(line.startswith(FORGED) for line in logs["b"].splitlines()),
            "a remote DBI name forged a log line: " + logs["b"][-600:])
    A.check("\x1b" not in logs["b"], "a terminal escape reached the log")
    A.check("d\\x0a2026" in logs["b"], "the name is shown escaped: " + logs["b"][-600:])
    A.finish()


if __name__ == "__main__":
    main()

"""trust_dup_empty: LMDB holds an empty DUPSORT value only as its key's one
value (a put of another value drops it silently; a put of the empty value
beside others fails). A remote element that would run into either is
refused and counted as a misfit (docs/DESIGN.md §12): never written
half-right (the host dropping a value the metadata holds live), and never
a reason to quarantine the whole object.
"""
import json
import os
import subprocess

import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
PUT = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 24)
db = env.open_db(b"d", dupsort=True)
with env.begin(write=True, db=db) as txn:
    txn.put(sys.argv[2].encode(), sys.argv[3].encode())
'''
GET = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=4, readonly=True, lock=False)
db = env.open_db(b"d", dupsort=True, create=False)
with env.begin(db=db) as txn:
    c = txn.cursor()
    print(repr([v.decode() for v in c.iternext_dup()] if c.set_key(b"k") else None))
'''


def put(env, k, v):
    r = A.run([PY, "-c", PUT, env, k, v], extra_env={"LD_PRELOAD": A.PRELOAD})
    A.eq(r.rc, 0, "write %s: %s" % (env, r.err))


def values(env):
    return A.run([PY, "-c", GET, env]).out.decode().strip()


def sync(env, inst, store):
    return subprocess.run([A.MDBTAP, "sync", "--env", env, "--store", "file://" + store,
                           "--instance", inst, "--once"], capture_output=True, text=True,
                          timeout=120, env=A.base_env())


def misfits(env):
    r = A.run([A.MDBTAP, "stats", "--json", env])
    return json.loads(r.out.decode())["elements_misfit"]


def main():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store, exist_ok=True)  # mdbtap creates none unless told
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    os.makedirs(a)
    os.makedirs(b)
    put(a, "k", "")
    A.eq(sync(a, "a", store).returncode, 0, "sync a")
    put(b, "k", "x")
    r = sync(b, "b", store)
    A.eq(r.returncode, 0, "sync b: " + r.stderr[-500:])
    A.check("quarantined" not in r.stderr, "a's object is not quarantined on b: " +
            r.stderr[-800:])
    A.eq(values(b), "['x']", "b keeps its value")
    A.check(misfits(b) >= 1, "b counts a's empty value as a misfit")
    r = sync(a, "a", store)
    A.eq(r.returncode, 0, "sync a again: " + r.stderr[-500:])
    A.eq(values(a), "['']", "a's empty value is not dropped by b's value")
    A.check(misfits(a) >= 1, "a counts b's value as a misfit")
    A.finish()


if __name__ == "__main__":
    main()

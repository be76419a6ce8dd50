"""trust_objects: what one bad remote object can do (README "Security").

- an object whose DBI name is a data key here has those elements refused
  (dbi_name_clash), the rest applied;
- an object that cannot be read is quarantined for good, across
  restarts, and counted; the objects of an instance sorted after it are
  still received;
- an object larger than max_object_size is quarantined unread (a sparse
  3 GB file with a valid name is never copied);
- one that decompresses to more than max_object_expanded is quarantined;
- max_future is measured against the wall clock only: an accepted object
  59 minutes ahead does not let the next one, two hours ahead, in.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
MIN_NS = 60 * 10**9
PUT = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 28)
db = env.open_db(sys.argv[2].encode()) if sys.argv[2] else None
with env.begin(write=True, db=db) as txn:
    for kv in sys.argv[3:]:
        k, v = kv.split("=", 1)
        txn.put(k.encode(), (b"\0" * int(v[1:])) if v.startswith("#") else v.encode())
'''
GET = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=4, readonly=True, lock=False)
with env.begin() as txn:
    v = txn.get(sys.argv[2].encode())
print("missing" if v is None else v.decode())
'''


def put(env, dbi, *kvs, extra=None):
    e = {"LD_PRELOAD": A.PRELOAD}
    e.update(extra or {})
    r = A.run([PY, "-c", PUT, env, dbi] + list(kvs), extra_env=e)
    A.eq(r.rc, 0, "write %s: %s" % (env, r.err))


def get(env, key):
    r = A.run([PY, "-c", GET, env, key])
    return r.out.decode().strip()


def sync(env, inst, store, cfg_extra="", extra=None):
    cfg = os.path.join(os.path.dirname(env), inst + ".yaml")
    with open(cfg, "w") as f:
        f.write("instance: %s\n%senvs:\n  main:\n    path: %s\n    store: file://%s\n"
                % (inst, cfg_extra, env, store))
    return subprocess.run([A.MDBTAP, "sync", "-c", cfg, "--once"], capture_output=True,
                          text=True, timeout=120, env=A.base_env(extra))


def main():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)
    env = {n: os.path.join(root, n) for n in "abcdef"}
    for e in env.values():
        os.makedirs(e)

    # 1. a's object has a DBI "x"; on b, "x" is a data key of the unnamed DBI
    put(env["a"], "x", "k=from-a")
    put(env["a"], "", "a1=from-a")
    A.eq(sync(env["a"], "a", store).returncode, 0, "sync a")
    put(env["c"], "", "c1=from-c")
    A.eq(sync(env["c"], "c", store).returncode, 0, "sync c")
    # an object that cannot be read, under a valid name sorted before c's
    name = [n for n in os.listdir(store) if "__a__" in n][0]
    with open(os.path.join(store, name.replace("__a__", "__aa__")), "wb") as f:
        f.write(b"\x28\xb5\x2f\xfd" + b"not zstd" * 8)
    put(env["b"], "", "x=plain")
    r = sync(env["b"], "b", store)
    A.check("dbi_name_clash" in r.stderr and "'a'" in r.stderr,
            "a's DBI x is refused on b, element by element: " + r.stderr)
    A.eq(get(env["b"], "x"), "plain", "b's key x kept")
    A.eq(get(env["b"], "a1"), "from-a", "the rest of a's object applied")
    A.check("quarantined" in r.stderr and "__aa__" in r.stderr,
            "the unreadable object is quarantined on b: " + r.stderr)
    A.eq(get(env["b"], "c1"), "from-c", "b still received c's object (sorted after it)")
    q = os.path.join(env["b"], "mdbtap", "quarantine")
    A.check(os.path.exists(q) and "__aa__" in open(q).read() and "__a__" not in open(q).read(),
            "the quarantine is on disk, a's object not in it")
    r = sync(env["b"], "b", store)
    A.eq(r.returncode, 0, "b's next sync: " + r.stderr)
    A.check("quarantined" not in r.stderr and "not applied" not in r.stderr,
            "after a restart the quarantined object is not fetched again: " + r.stderr)
    os.unlink(os.path.join(store, name.replace("__a__", "__aa__")))

    # 2. a sparse 3 GB object with a valid name: never spooled
    name = [n for n in os.listdir(store) if "__c__" in n][0]
    big = os.path.join(store, name.replace("__c__", "__d__"))
    with open(big, "wb") as f:
        f.truncate(3 << 30)
    r = sync(env["b"], "b", store, "max_object_size: 1M\n")
    A.check("max_object_size" in r.stderr, "the 3 GB object is quarantined unread: " + r.stderr)
    os.unlink(big)

    # 3. an object that decompresses past max_object_expanded
    put(env["e"], "", "zeros=#3000000", "e1=from-e")
    A.eq(sync(env["e"], "e", store).returncode, 0, "sync e")
    r = sync(env["b"], "b", store, "max_object_expanded: 1M\n")
    A.check("quarantined" in r.stderr and "__e__" in r.stderr,
            "e's object is quarantined: " + r.stderr)
    A.eq(get(env["b"], "e1"), "missing", "nothing of it applied")

    # 4. max_future against the wall clock only
    ahead = {"MDBTAP_TEST_CLOCK_OFFSET_NS": str(59 * MIN_NS)}
    put(env["f"], "", "f1=59min-ahead", extra=ahead)
    A.eq(sync(env["f"], "f", store, extra=ahead).returncode, 0, "sync f")
    r = sync(env["b"], "b", store)
    A.eq(get(env["b"], "f1"), "59min-ahead", "an object 59 minutes ahead is accepted")
    ahead = {"MDBTAP_TEST_CLOCK_OFFSET_NS": str(118 * MIN_NS)}
    put(env["f"], "", "f2=118min-ahead", extra=ahead)
    A.eq(sync(env["f"], "f", store, extra=ahead).returncode, 0, "sync f again")
    r = sync(env["b"], "b", store)
    A.eq(get(env["b"], "f2"), "missing", "the next one, 118 minutes ahead, is refused: the "
         "accepted one did not move the bound")
    A.finish()


if __name__ == "__main__":
    main()

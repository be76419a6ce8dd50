"""trust_renamed: an object whose own meta disagrees with its name
(README "Security").

A writer to the store copies a valid object to a name in another
instance's chain (or its own object to a name with a larger txn range).
Names drive progress (a remote's chain and txn id), so applying such a
copy would make every receiver skip that instance's real objects for
good. It is quarantined instead, never applied, and the instance's later
objects are still received.
"""
import os
import re
import shutil
import subprocess
import time

import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
PUT = ("import lmdb,sys; e=lmdb.open(sys.argv[1]); t=e.begin(write=True); "
       "t.put(sys.argv[2].encode(), sys.argv[3].encode()); t.commit()")
GET = ("import lmdb,sys; e=lmdb.open(sys.argv[1]); v=e.begin().get(sys.argv[2].encode()); "
       "print('missing' if v is None else v.decode())")


def main():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)

    def path(i):
        return os.path.join(root, i)

    def put(i, k, v):
        A.eq(A.run([PY, "-c", PUT, path(i), k, v]).rc, 0, "put %s in %s" % (k, i))

    def get(i, k):
        return A.run([PY, "-c", GET, path(i), k]).out.decode().strip()

    def sync(i):
        p = subprocess.run([A.MDBTAP, "sync", "--env", path(i), "--store", "file://" + store,
                            "--instance", i, "--once"], env=A.base_env(), capture_output=True,
                           text=True, timeout=120)
        A.eq(p.returncode, 0, "sync %s: %s" % (i, p.stderr[-400:]))
        return p.stderr

    def objects(i):
        return sorted(n for n in os.listdir(store) if n.startswith("main__%s__" % i))

    def plant(src, inst, gen):
        t = time.time_ns()
        ts = time.strftime("%Y%m%d-%H%M%S", time.gmtime(t // 10**9)) + "-%09d" % (t % 10**9)
        name = "main__%s__%s__%s__F999999999999.pb.zst" % (inst, ts, gen)
        shutil.copy(os.path.join(store, src), os.path.join(store, name))
        return name

    put("a", "k1", "from-a-1")
    sync("a")
    put("c", "base", "c")
    sync("c")
    A.eq(get("c", "k1"), "from-a-1", "c received a's first write")
    put("m", "mk", "mallory")
    sync("m")
    gen_a = re.search(r"__(G[0-9a-f]+)__", objects("a")[0]).group(1)
    # 1. m's object renamed into a's chain; 2. a's own object given a far
    # larger txn range
    planted = [plant(objects("m")[0], "a", gen_a)]
    time.sleep(0.01)
    planted.append(plant(objects("a")[0], "a", gen_a))
    time.sleep(0.01)
    sync("c")
    quarantine = os.path.join(path("c"), "mdbtap", "quarantine")
    q = open(quarantine).read() if os.path.exists(quarantine) else ""
    for name in planted:
        A.check(name in q, "the renamed object %s is quarantined: %r" % (name, q))
    put("a", "k2", "from-a-2")
    sync("a")
    put("a", "k3", "from-a-3")
    sync("a")
    sync("c")
    A.eq(get("c", "k2"), "from-a-2", "c still receives a's later writes (k2)")
    A.eq(get("c", "k3"), "from-a-3", "... and k3")
    A.finish()


if __name__ == "__main__":
    main()

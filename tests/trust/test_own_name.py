"""trust_own_name: names planted under our own instance name (README
"Security", docs/DESIGN.md §10, §18.6).

- a name of another chain, dated after our chain began, whose content is
  not an object of ours (any bytes, or another instance's object renamed)
  does not stop the env as a name clash: it is quarantined, fetched once;
- a full snapshot planted in our own chain, dated inside max_future, is
  never taken for our newest full snapshot once the clock passes it: our
  real objects are not deleted.
(A real second env under the name still stops one of them: life_name_clash.)
"""
import os
import shutil
import subprocess
import time

import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
PUT = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], map_size=1 << 24)
with env.begin(write=True) as txn:
    for kv in sys.argv[2:]:
        k, v = kv.split("=", 1)
        txn.put(k.encode(), v.encode())
'''


def put(env, *kvs):
    r = A.run([PY, "-c", PUT, env] + list(kvs), extra_env={"LD_PRELOAD": A.PRELOAD})
    A.eq(r.rc, 0, "write %s: %s" % (env, r.err))


def sync(env, inst, store, extra_cfg=""):
    cfg = os.path.join(os.path.dirname(env), inst + ".yaml")
    with open(cfg, "w") as f:
        f.write("instance: %s\n%senvs:\n  main:\n    path: %s\n    store: file://%s\n"
                % (inst, extra_cfg, env, store))
    return subprocess.run([A.MDBTAP, "sync", "-c", cfg, "--once"], capture_output=True,
                          text=True, timeout=120, env=A.base_env())


def stamp(ns):
    t = time.gmtime(ns // 10**9)
    return time.strftime("%Y%m%d-%H%M%S", t) + "-%09d" % (ns % 10**9)


def gets(env):
    r = A.run([A.MDBTAP, "stats", "--json", env])
    import json
    return json.loads(r.out.decode())["get"]


def main():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    os.makedirs(a)
    os.makedirs(b)
    put(a, "k=1")
    A.eq(sync(a, "a", store).returncode, 0, "sync a")
    put(b, "kb=1")
    A.eq(sync(b, "b", store).returncode, 0, "sync b")
    ours = sorted(n for n in os.listdir(store) if "__a__" in n)
    gen = ours[0].split("__")[3]

    # 1. planted names of another chain, newer than ours: not a clash
    now = time.time_ns()
    junk = "main__a__%s__G00000000000000aa__F9.pb.zst" % stamp(now)
    with open(os.path.join(store, junk), "wb") as f:
        f.write(b"\x28\xb5\x2f\xfd not an object")
    bobj = [n for n in os.listdir(store) if "__b__" in n][0]
    renamed = "main__a__%s__G00000000000000bb__F9.pb.zst" % stamp(now + 1000)
    shutil.copy(os.path.join(store, bobj), os.path.join(store, renamed))
    r = sync(a, "a", store)
    A.eq(r.returncode, 0, "a planted name does not stop the env: " + r.stderr[-800:])
    A.check("used by another env" not in r.stderr, "no name clash: " + r.stderr[-800:])
    q = open(os.path.join(a, "mdbtap", "quarantine")).read()
    A.check(junk in q and renamed in q, "both planted names are quarantined: " + q)
    r = sync(a, "a", store)
    A.eq(r.returncode, 0, "a's next sync: " + r.stderr[-800:])
    A.eq(gets(a), 0, "quarantined for good: not fetched again")

    # 2. a full snapshot planted in our chain, 3 s ahead, then passed
    for n in (junk, renamed):
        os.unlink(os.path.join(store, n))
    plant = "main__a__%s__%s__F99.pb.zst" % (stamp(time.time_ns() + 3 * 10**9), gen)
    with open(os.path.join(store, plant), "wb") as f:
        f.write(b"planted")
    time.sleep(3.5)
    put(a, "k=2")
    A.eq(sync(a, "a", store, "keep_interval: 0s\n").returncode, 0, "sync a, keep 0")
    mine = sorted(n for n in os.listdir(store) if "__a__" in n and n != plant)
    A.check(any("__F" in n for n in mine), "our real full snapshot is still there: %s" % mine)
    A.check(any("__D" in n for n in mine), "and our delta after it: %s" % mine)
    A.check(os.path.exists(os.path.join(store, plant)), "the planted name is left alone")
    # b, behind, still gets everything of a's
    A.eq(sync(b, "b", store).returncode, 0, "sync b")
    A.finish()


if __name__ == "__main__":
    main()

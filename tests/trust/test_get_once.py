"""trust_get_once: a bad object costs one GET, not one per cycle (README
"Security", docs/DESIGN.md §12). A running syncer, polling every 50 ms,
meets objects that are corrupt (a byte flipped: the zstd checksum),
garbage, expand past max_object_expanded, and one it may not read (mode
000, run as an unprivileged user): after many cycles the store was asked
for each once (the unreadable one waits a minute before the next try),
and the good object was applied.
"""
import json
import os
import signal
import subprocess
import time

import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
NOBODY = 65534
PUT = r'''
import sys, lmdb
env = lmdb.open(sys.argv[1], map_size=1 << 26)
with env.begin(write=True) as txn:
    for kv in sys.argv[2:]:
        k, v = kv.split("=", 1)
        txn.put(k.encode(), (b"\0" * int(v[1:])) if v.startswith("#") else v.encode())
'''


def as_nobody(argv, preload=False, **kw):
    env = A.base_env()
    if preload:
        env["LD_PRELOAD"] = A.PRELOAD
    pre = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] \
        if os.geteuid() == 0 else []
    return subprocess.Popen(pre + argv, env=env, **kw)


def run(argv, preload=False):
    p = as_nobody(argv, preload, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=120)
    return p.returncode, err


def mkdir(path):
    os.makedirs(path)
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)


def stats(env):
    r = A.run([A.MDBTAP, "stats", "--json", env])
    return json.loads(r.out.decode()) if r.rc == 0 else None


def main():
    root = A.fresh_tmp()
    os.chmod(root, 0o755)
    store, a, b, e = (os.path.join(root, n) for n in ("store", "a", "b", "e"))
    for d in (store, a, b, e):
        mkdir(d)
    rc, err = run([PY, "-c", PUT, b, "kb=from-b"], preload=True)
    A.eq(rc, 0, "write b: " + err)
    rc, err = run([A.MDBTAP, "sync", "--env", b, "--store", "file://" + store, "--instance", "b",
                   "--once"])
    A.eq(rc, 0, "sync b: " + err)
    rc, err = run([PY, "-c", PUT, e, "zeros=#3000000"], preload=True)
    A.eq(rc, 0, "write e: " + err)
    rc, err = run([A.MDBTAP, "sync", "--env", e, "--store", "file://" + store, "--instance", "e",
                   "--once"])
    A.eq(rc, 0, "sync e: " + err)
    good = [n for n in os.listdir(store) if "__b__" in n][0]
    data = open(os.path.join(store, good), "rb").read()

    def plant(inst, body, mode=0o644):
        p = os.path.join(store, good.replace("__b__", "__%s__" % inst))
        with open(p, "wb") as f:
            f.write(body)
        if os.geteuid() == 0:
            os.chown(p, NOBODY, NOBODY)
        os.chmod(p, mode)

    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0xff
    plant("c", bytes(flipped))                # the checksum does not match
    plant("d", b"\x28\xb5\x2f\xfd garbage")   # not a zstd frame
    plant("f", data, 0)                       # unreadable to us
    cfg = os.path.join(root, "a.yaml")
    with open(cfg, "w") as f:
        f.write("instance: a\npoll_interval: 50ms\nmax_object_expanded: 1M\nenvs:\n  main:\n"
                "    path: %s\n    store: file://%s\n" % (a, store))
    os.chmod(cfg, 0o644)
    p = as_nobody([A.MDBTAP, "sync", "-c", cfg], stdout=subprocess.DEVNULL,
                  stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 90
        s = None
        while time.time() < deadline:
            s = stats(a)
            if s and s["cycles"] >= 40:
                break
            time.sleep(0.2)
        A.check(s and s["cycles"] >= 40, "the syncer ran 40 cycles: %s" % s)
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    s = stats(a)
    # b's object, and once each: c, d, e's (quarantined) and f's (waits)
    A.eq(s["get"], 5, "one GET per object over %d cycles: %s" % (s["cycles"], err[-1500:]))
    A.eq(s["objects_in"], 1, "b's object is applied")
    A.eq(s["objects_refused"], 3, "c, d and e are quarantined")
    A.finish()


if __name__ == "__main__":
    main()

"""The env's life (DESIGN.md invariants 10, 11, 12, 14): one syncer per
env, replaced and restored envs, wiped instances, instance names used by
two envs, DBIs that change shape. One regression test per mode; --lifecycle
runs them all at random against a model.

  test_life.py --MODE
"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
import apputil as A  # noqa: E402
from synclib import Instance, Model, quiesce, random_ops, store_url  # noqa: E402


def same_everywhere(insts, model=None):
    """Equal digests and contents (an empty DBI counts as none: instances
    that never ran the writer have not created them)."""
    digests = [i.digest() for i in insts]
    A.eq(len(set(digests)), 1, "distinct digests: " + repr(digests))
    contents = [{k: v for k, v in i.contents().items() if v} for i in insts]
    for i, c in zip(insts[1:], contents[1:]):
        A.eq(c, contents[0], "contents of %s vs %s" % (i.name, insts[0].name))
    if model:
        exp = {k: v for k, v in model.expected().items() if v}
        A.eq(contents[0], exp, "contents vs the model")


def kv(inst, dbi="-"):
    return dict(map(tuple, inst.contents().get(dbi, [])))


def syncer_lock_pid(inst):
    try:
        with open(os.path.join(inst.env, "mdbtap", "syncer.lock")) as f:
            return f.read().strip()
    except OSError:
        return ""


def two_syncers():
    """A second syncer on a busy env is refused at once, naming the first
    one's PID; once the first is killed (SIGKILL), a syncer runs again."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    a.write([["put", None, "k", "1"]])
    first = subprocess.Popen(a.sync_argv(store, "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
    try:
        A.wait_for("the first syncer's lock", lambda: syncer_lock_pid(a) == str(first.pid))
        t0 = time.monotonic()
        p = subprocess.run(a.sync_argv(store, "--once"), capture_output=True, text=True,
                           timeout=60)
        A.check(p.returncode != 0, "the second syncer was refused")
        A.check(str(first.pid) in p.stderr and "another syncer" in p.stderr,
                "the refusal names the running syncer's PID: " + p.stderr)
        A.check(time.monotonic() - t0 < 20, "refused at once")
        A.check(syncer_lock_pid(a) == str(first.pid), "the lock file still names the first")
        # the running syncer uploads and cleans meanwhile: the second did nothing
        A.check("uploaded" not in p.stderr and "deleted" not in p.stderr and
                "adopting" not in p.stderr, "the second syncer did nothing: " + p.stderr)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    a.write([["put", None, "k", "2"]])
    p = a.sync(store)
    A.eq(p.returncode, 0, "a syncer runs after the first was killed")
    b = Instance(root, "b")
    b.sync(store)
    A.eq(kv(b).get("k"), "2", "b got a's write")


def restored(how):
    """A's env is restored from an mdb_copy taken earlier, put in place as
    a new file ("new-file") or copied over the old one ("in-place"); A's
    program then writes more txns than it had before. Nothing missing from
    the copy is deleted anywhere, A's new writes leave, and A gets back
    what the fleet holds."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    for k in ("k1", "k2", "k3"):
        a.write([["put", None, k, "1"]])
    a.sync(store)
    b.sync(store)
    backup = os.path.join(root, "backup")
    os.makedirs(backup)
    p = subprocess.run(["mdb_copy", a.env, backup], capture_output=True, text=True)
    A.eq(p.returncode, 0, "mdb_copy: " + p.stderr)
    a.write([["put", None, "k4", "1"]])
    a.write([["del", None, "k1", ""]])
    a.write([["put", None, "k2", "2"]])
    a.sync(store)
    b.sync(store)
    data = os.path.join(a.env, "data.mdb")
    if how == "new-file":
        os.unlink(data)
        shutil.copyfile(os.path.join(backup, "data.mdb"), data)
    else:
        shutil.copyfile(os.path.join(backup, "data.mdb"), data)  # same inode
    a.seen = A.env_last_txnid(a.env, False)  # the test's journal reader, not the syncer
    for n in range(8):  # past the txn ids accounted for
        a.write([["put", None, "new%d" % n, "a"]])
    log = a.sync(store).stderr
    A.check("replaced" in log, "the replacement is logged: " + log)
    A.check(quiesce([a, b], store), "no convergence after the restore")
    got = kv(b)
    A.eq(got.get("k4"), "1", "k4 (missing from the copy) still on b")
    A.eq(got.get("k2"), "2", "k2's later value kept")
    A.check("k1" not in got, "k1's delete kept")
    A.eq(sorted(k for k in got if k.startswith("new")), ["new%d" % n for n in range(8)],
         "a's writes after the restore left")
    same_everywhere([a, b])


def wiped():
    """A's env is deleted and started again empty under its name: it gets
    back everything, its own old writes included (B's full snapshot was made
    before it merged them)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    b.write([["put", None, "fromb", "1"]])
    b.sync(store)
    a.write([["put", None, "froma", "1"]])
    a.write([["put", "n", "froma2", "1"]])
    a.sync(store)
    b.sync(store)
    A.eq(kv(b).get("froma"), "1", "b merged a's write")
    shutil.rmtree(a.env)
    os.makedirs(a.env)
    A.check(quiesce([a, b], store), "no convergence after the wipe")
    A.eq(kv(a), {"froma": "1", "fromb": "1"}, "a got everything back")
    A.eq(kv(a, "n"), {"froma2": "1"}, "a got its named DBI back")
    same_everywhere([a, b])


def name_clash():
    """Two envs synced under one instance name: the one whose chain is older
    stops with a clear error when it sees the other's objects."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    a2 = Instance(root, "a2")
    a2.name = "a"  # the same --instance
    a.write([["put", None, "k", "1"]])
    a.sync(store)
    a2.write([["put", None, "k2", "1"]])
    a2.sync(store)
    p = subprocess.run(a.sync_argv(store, "--once"), capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0, "a's syncer stops")
    A.check("used by another env" in p.stderr, "the error says why: " + p.stderr)
    p = subprocess.run(a.sync_argv(store, "--poll-interval", "50ms"), capture_output=True,
                       text=True, timeout=60)
    A.check(p.returncode != 0, "a long-running syncer exits too: " + p.stderr[-500:])


def bad_input():
    """A bad store URL on an empty env dir, and an empty regular file given
    as the env, are refused before anything is created."""
    root = A.fresh_tmp()
    env = os.path.join(root, "empty")
    os.makedirs(env)
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store", "bogus://nowhere",
                        "--instance", "a"], capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0, "a bad store URL is refused: " + p.stderr)
    A.eq(os.listdir(env), [], "nothing created in the env dir")
    f = os.path.join(root, "file.mdb")
    open(f, "w").close()
    before = sorted(os.listdir(root))
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", f, "--store",
                        "file://" + os.path.join(root, "store"), "--instance", "a"],
                       capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0, "an empty file as the env is refused")
    A.check("not an LMDB env" in p.stderr, "the refusal says why: " + p.stderr)
    A.eq(os.path.getsize(f), 0, "the file is left empty")
    A.eq(sorted(n for n in os.listdir(root) if n != "store"), before, "nothing created beside it")


def lifecycle(seed, steps):
    """Three instances write at random while their syncers are SIGKILLed,
    a second syncer is started on a busy env, envs are restored from an
    mdb_copy taken earlier (a new file or copied over the old one), wiped
    and started again under their name, and written without the tap. What
    each event means for the model: a kill, a refused second syncer, a
    restore and a wipe change nothing (each env exported its writes first:
    the fleet holds them); a write without the tap lands, at a time only
    its syncer knows (its keys are written once, so any time will do).
    After settling every instance equals the model and the digests agree."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    rng = random.Random(int(seed))
    insts = [Instance(root, n) for n in ("a", "b", "c")]
    backups = {}
    model = Model()
    trace = open(os.path.join(root, "trace"), "w")  # what happened, for a failure
    counts = {}
    unseen = [0]

    def write(i):
        ts, done = i.write(random_ops(rng))
        if ts is not None:
            model.apply(i.window, done)
        trace.write("  %s wrote at %s: %s\n" % (i.name, ts, done and [d[:3] for d in done]))

    plain_sync = Instance.sync

    def logged_sync(i, *args):  # every syncer's log kept, for a failure
        p = plain_sync(i, *args)
        with open(os.path.join(root, "log-" + i.name), "a") as f:
            f.write(p.stderr)
        return p
    Instance.sync = logged_sync

    def sync(i):
        i.sync(store)

    def sigkill(i):
        p = subprocess.Popen(i.sync_argv(store, "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
        time.sleep(rng.random() * 0.2)
        p.send_signal(signal.SIGKILL)
        p.wait()
        i.new_records()

    def second_syncer(i):
        p = subprocess.Popen(i.sync_argv(store, "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
        try:
            if A.wait_for("the syncer's lock", lambda: syncer_lock_pid(i) == str(p.pid)):
                q = subprocess.run(i.sync_argv(store, "--once"), capture_output=True, text=True,
                                   timeout=60)
                A.check(q.returncode != 0 and str(p.pid) in q.stderr,
                        "second syncer on %s refused: %s" % (i.name, q.stderr[-300:]))
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
        i.new_records()

    def backup(i):
        if not os.path.exists(os.path.join(i.env, "data.mdb")):
            return
        d = os.path.join(root, "backup-" + i.name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        p = subprocess.run(["mdb_copy", i.env, d], capture_output=True, text=True)
        A.eq(p.returncode, 0, "mdb_copy: " + p.stderr)
        backups[i.name] = d

    def restore(i):
        if i.name not in backups:
            return backup(i)
        sync(i)  # its writes are in the store
        data = os.path.join(i.env, "data.mdb")
        if rng.random() < 0.5:
            os.unlink(data)
        shutil.copyfile(os.path.join(backups.pop(i.name), "data.mdb"), data)
        i.seen = A.env_last_txnid(i.env, False)

    def wipe(i):
        sync(i)
        shutil.rmtree(i.env)
        os.makedirs(i.env)
        backups.pop(i.name, None)
        i.seen = 0

    def untapped(i):
        if not os.path.exists(os.path.join(i.env, "data.mdb")):
            return
        unseen[0] += 1
        key, val = "u%d" % unseen[0], "by-%s" % i.name
        p = subprocess.run(["mdb_load", "-T", i.env], input="%s\n%s\n" % (key, val), text=True,
                           capture_output=True)
        A.eq(p.returncode, 0, "mdb_load: " + p.stderr)
        model.el[(None, key)] = ((0, 0), val, False)

    events = [(write, 50), (sync, 20), (sigkill, 8), (second_syncer, 4), (backup, 5),
              (restore, 4), (wipe, 3), (untapped, 6)]
    # every event at least once (a restore twice: its first takes the
    # backup), then at random
    fixed = [e for e, _ in events] + [restore]
    rng.shuffle(fixed)
    for k in range(int(steps)):
        ev = fixed[k // 3] if k % 3 == 2 and k // 3 < len(fixed) else \
            rng.choices([e for e, _ in events], [w for _, w in events])[0]
        counts[ev.__name__] = counts.get(ev.__name__, 0) + 1
        inst = rng.choice(insts)
        trace.write("%s %s\n" % (ev.__name__, inst.name))
        ev(inst)
    print("events:", counts, flush=True)
    A.check(quiesce(insts, store), "digests still differ after settling")
    same_everywhere(insts, model)


def seed_env(path, code):
    """Run python3-lmdb code (env in `env`) on path, without the tap."""
    full = "import lmdb, struct\nenv = lmdb.open(%r, max_dbs=8, map_size=1 << 26)\n" % path + code
    p = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, timeout=60)
    A.eq(p.returncode, 0, "python3-lmdb: " + p.stderr)


def flags_mismatch():
    """Same-named DBIs with other flags on two instances: what does not fit
    the local DBI (DUPSORT, INTEGERKEY and DUPFIXED sizes) is refused,
    counted per DBI and instance, logged once with both names, shown by
    `mdbtap stats`; what fits is merged."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    seed_env(a.env, """
with env.begin(write=True) as t:
    t.put(b"k", b"v", db=env.open_db(b"plain", txn=t))
    t.put(struct.pack("=Q", 1), b"x", db=env.open_db(b"ik", txn=t, integerkey=True))
    t.put(b"k", b"1234", db=env.open_db(b"fx", txn=t, dupsort=True, dupfixed=True))
""")
    seed_env(b.env, """
with env.begin(write=True) as t:
    t.put(b"k", b"w", db=env.open_db(b"plain", txn=t, dupsort=True))
    ik = env.open_db(b"ik", txn=t)
    t.put(b"ab", b"y", db=ik)
    t.put(b"abc", b"y", db=ik)
    t.put(struct.pack("=Q", 2), b"ok", db=ik)
    fx = env.open_db(b"fx", txn=t, dupsort=True)
    t.put(b"k", b"1", db=fx)
    t.put(b"k", b"1234567", db=fx)
    t.put(b"k", b"5678", db=fx)
""")
    a.sync(store)
    b.sync(store)
    log = a.sync(store).stderr  # the stats count what this syncer process did
    for dbi in ("plain", "ik", "fx"):
        lines = [ln for ln in log.splitlines() if "DBI '%s'" % dbi in ln and "do not fit" in ln]
        A.eq(len(lines), 1, "refusals of DBI %s logged once: %s" % (dbi, log[-2000:]))
        A.check(lines and "'b'" in lines[0], "the log names the instance: %r" % lines)
    code = """
import json, lmdb, struct, sys
env = lmdb.open(sys.argv[1], max_dbs=8, readonly=True, lock=False)
out = {}
with env.begin() as t:
    for n, kw in ((b"plain", {}), (b"ik", {"integerkey": True}),
                  (b"fx", {"dupsort": True, "dupfixed": True})):
        db = env.open_db(n, txn=t, create=False, **kw)
        out[n.decode()] = sorted([k.hex(), v.hex()] for k, v in t.cursor(db=db))
print(json.dumps(out, sort_keys=True))
"""
    p = subprocess.run([sys.executable, "-c", code, a.env], capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "reading a: " + p.stderr)
    got = json.loads(p.stdout) if p.returncode == 0 else {}
    A.eq(got.get("plain"), [[b"k".hex(), b"v".hex()]], "a's plain DBI untouched")
    A.eq(got.get("ik"), sorted([[struct.pack("=Q", 1).hex(), b"x".hex()],
                                [struct.pack("=Q", 2).hex(), b"ok".hex()]]),
         "a's INTEGERKEY DBI: the 8-byte key merged, the 2- and 3-byte ones refused")
    A.eq(got.get("fx"), sorted([[b"k".hex(), b"1234".hex()], [b"k".hex(), b"5678".hex()]]),
         "a's DUPFIXED DBI: the 4-byte value merged, the others refused")
    p = subprocess.run([A.MDBTAP, "stats", "--json", a.env], capture_output=True, text=True,
                       timeout=60)
    st = json.loads(p.stdout) if p.returncode == 0 else {}
    A.check(st.get("elements_misfit", 0) >= 5, "stats count the refusals: %r" % st)
    for dbi in ("plain", "ik", "fx"):
        A.check("%s from b" % dbi in st.get("misfits", ""), "stats name %s and b: %r" % (dbi, st))
    p = subprocess.run([A.MDBTAP, "doctor", a.env], capture_output=True, text=True, timeout=60)
    A.check("do not fit" in p.stdout and "ik from b" in p.stdout,
            "doctor shows the refusals: " + p.stdout[-1500:])


def future():
    """An object stamped beyond max_future (the writer's clock 2 h ahead)
    is refused and logged, and applied once it is acceptable (here:
    max_future raised to 3 h; in life, the clocks agree)."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    b.extra = {"MDBTAP_TEST_CLOCK_OFFSET_NS": str(2 * 3600 * 10**9)}
    b.write([["put", None, "k", "ahead"]])
    b.sync(store)

    def sync_a(max_future):
        conf = os.path.join(root, "a.yaml")
        with open(conf, "w") as f:
            f.write("instance: a\nmax_future: %s\nenvs:\n  main:\n    path: %s\n"
                    "    store: %s\n" % (max_future, a.env, store_url(store)))
        p = subprocess.run([A.MDBTAP, "sync", "--once", "--config", conf], capture_output=True,
                           text=True, timeout=60)
        A.eq(p.returncode, 0, "sync a: " + p.stderr[-1500:])
        return p.stderr
    log = sync_a("1h")
    # The object's name is as far ahead as its elements: the object is
    # ignored from the listing (never taken as progress), said once a cycle.
    A.check("max_future" in log, "the refusal is logged: " + log[-1500:])
    A.check("k" not in kv(a), "not applied while too far ahead")
    sync_a("1h")
    A.check("k" not in kv(a), "still refused")
    sync_a("3h")
    A.eq(kv(a).get("k"), "ahead", "applied once acceptable")


def main():
    modes = {"--two-syncers": two_syncers, "--restored-new-file": lambda: restored("new-file"),
             "--restored-in-place": lambda: restored("in-place"), "--wiped": wiped,
             "--name-clash": name_clash, "--bad-input": bad_input,
             "--flags-mismatch": flags_mismatch,
             "--future": future,
             "--lifecycle": lifecycle}
    modes[sys.argv[1]](*sys.argv[2:])
    A.finish()


if __name__ == "__main__":
    main()

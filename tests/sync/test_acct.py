"""Txn-id accounting end to end (docs/DESIGN.md §1, §2, §7), with real
writers stopped or killed around LMDB's commit (tests/sync/commitstop.c,
preloaded after the tap) and writers without the tap.

  test_acct.py WRITER PROBE --dead-then-unseen
      A writer with the tap dies after its record, before LMDB's commit;
      a writer without the tap then commits that txn id. The dead record
      must not account for it: the unseen write reaches the other instance.
  test_acct.py WRITER PROBE --rescan-mid-fold
      An unseen txn between journaled ones: the rescan it causes must not
      stamp the later journaled writes with its own (later) time, or they
      beat a write made after them on another instance.
  test_acct.py WRITER PROBE --pending-export
      A writer stopped between LMDB's commit and the tap's mark while the
      syncer exports: its txn must still reach a receiver that keeps up.
  test_acct.py WRITER PROBE --pending-export-gap
      The same, after a txn id no record accounts for.
  test_acct.py WRITER PROBE --merge-defer-pending
      A writer stopped between LMDB's commit and the tap's mark while an
      object arrives, in an env over one scan chunk: the merge defers its
      in-doubt rescan once, the local step cannot do it (it waits for the
      live writer), and the merge that follows rescans in its own txn: the
      object is merged in the same run, not put off for ever.
  test_acct.py WRITER PROBE --concurrent SEED
      Three instances, writers with the tap running concurrently with each
      other, with writers without the tap and with the syncers; some
      stopped after their commit; all must converge to the latest write.
"""
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_converge as C  # noqa: E402

A = C.A
WRITER = PROBE = ""


def tapped(probe_spec=None):
    """Environment for a C writer with the tap (and the probe after it)."""
    env = A.base_env()
    env["LD_PRELOAD"] = A.PRELOAD + ((":" + PROBE) if probe_spec else "")
    if probe_spec:
        env["COMMITSTOP"] = probe_spec
    return env


def write_c(inst, txns, probe_spec=None, tap=True):
    """Run the C writer to the end; returns (rc, stdout)."""
    env = tapped(probe_spec) if tap else A.base_env()
    p = subprocess.run([WRITER, inst.env, *txns], env=env, capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def start_c(inst, txns, probe_spec):
    """Start the C writer with the tap and the probe; returns (Popen, txn id)
    once the probe says it stops at that txn's commit."""
    p = subprocess.Popen([WRITER, inst.env, *txns], env=tapped(probe_spec),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        line = p.stdout.readline()
        if not line:
            A.fail("writer ended before the probe: rc %s %s" % (p.wait(), p.stderr.read()))
            return p, None
        if line.startswith("commitstop "):
            return p, int(line.split()[1])


def wait_stopped(p):
    """Until the process is stopped (state T)."""
    def stopped():
        with open("/proc/%d/stat" % p.pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    A.wait_for("the writer to stop", stopped, 30)


def setup(root, names=("a", "b")):
    store = os.path.join(root, "store")
    insts = [C.Instance(root, n) for n in names]
    for i in insts:
        i.write([["put", None, "init-" + i.name, "1"]])
    for _ in range(2):
        for i in insts:
            i.sync(store)
    return store, insts


def plain(inst):
    return dict(map(tuple, inst.contents()["-"]))


def dead_then_unseen():
    root = A.fresh_tmp()
    store, (a, b) = setup(root)
    last = A.env_last_txnid(a.env, False)
    p, txn = start_c(a, ["dead=1"], "1:before:KILL")
    p.wait(timeout=30)
    A.eq(p.returncode, -signal.SIGKILL, "the writer killed before its commit")
    A.eq(txn, last + 1, "the dead writer's txn id")
    rc, out, err = write_c(a, ["unseen=1"], tap=False)
    A.eq((rc, out), (0, "txn %d\n" % (last + 1)), "the writer without the tap took the id: " + err)
    rc, out, err = write_c(a, ["after=1"])  # a journaled txn after it
    A.eq(rc, 0, "writer with the tap: " + err)
    for i in (a, b, a, b):
        i.sync(store)
    A.eq(plain(b).get("unseen"), "1", "b got the write of the txn id a dead record claimed")
    A.check("dead" not in plain(b), "the dead writer's put is nowhere")
    C.same_everywhere([a, b])


def dead_then_same_key():
    """The writer without the tap that takes a dead writer's id writes the
    same key as the dead record, and another: the record's change shows,
    yet it is no proof that the record's txn committed (red team)."""
    root = A.fresh_tmp()
    store, (a, b) = setup(root)
    last = A.env_last_txnid(a.env, False)
    p, txn = start_c(a, ["dead=1"], "1:before:KILL")
    p.wait(timeout=30)
    A.eq(p.returncode, -signal.SIGKILL, "the writer killed before its commit")
    A.eq(txn, last + 1, "the dead writer's txn id")
    rc, out, err = write_c(a, ["dead=2,other=1"], tap=False)
    A.eq((rc, out), (0, "txn %d\n" % (last + 1)), "the writer without the tap took the id: " + err)
    for i in (a, b, a, b):
        i.sync(store)
    got = plain(b)
    A.eq((got.get("dead"), got.get("other")), ("2", "1"),
         "b got both writes of the txn that took the dead record's id")
    C.same_everywhere([a, b])


def rescan_mid_fold():
    root = A.fresh_tmp()
    store, (a, b) = setup(root)
    rc, out, err = write_c(a, ["unseen=1"], tap=False)
    A.eq(rc, 0, "writer without the tap: " + err)
    ts_x, _ = a.write([["put", None, "x", "a"]])  # the fold's rescan starts here
    ts_a, _ = a.write([["put", None, "j", "a"]])
    time.sleep(0.01)
    ts_b, _ = b.write([["put", None, "j", "b"]])
    A.check(ts_a < ts_b, "b's write is the later one (%s < %s)" % (ts_a, ts_b))
    for i in (a, b, a, b):
        i.sync(store)
    for i in (a, b):
        got = plain(i)
        A.eq((got.get("j"), got.get("unseen"), got.get("x")), ("b", "1", "a"),
             "j (last written on b), unseen, x on " + i.name)
    C.same_everywhere([a, b])


def sync_while_stopped(store, a, b):
    """A writer with the tap puts k=x on a and stops between LMDB's commit
    and the tap's mark; a and b sync once; then it goes on, and they sync
    until done."""
    p, txn = start_c(a, ["k=x"], "1:after:STOP")
    try:
        wait_stopped(p)
        a.sync(store)  # k's record is PENDING, its writer alive
        b.sync(store)
    finally:
        p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=30)
    A.eq((p.returncode, out), (0, "txn %d\n" % txn), "the writer went on: " + err)
    for i in (a, b, a, b):
        i.sync(store)


def pending_export():
    root = A.fresh_tmp()
    store, (a, b) = setup(root)
    a.write([["put", None, "p", "1"]])  # a change to export along
    sync_while_stopped(store, a, b)
    got = plain(b)
    A.eq((got.get("p"), got.get("k")), ("1", "x"),
         "p, and k, whose txn was pending during a's export, on b")
    C.same_everywhere([a, b])


def pending_export_gap():
    """The same with a txn id no record accounts for before the pending
    one: the fold can neither rescan nor settle that id until the pending
    record is marked, so it accounts for less than it folded; what it
    folded past that must still reach the receivers."""
    root = A.fresh_tmp()
    store, (a, b) = setup(root)
    a.write([["put", None, "e", "1"]])
    a.sync(store)  # exported up to the last txn: the next object must go further
    rc, out, err = write_c(a, ["u=1"], tap=False)
    A.eq(rc, 0, "writer without the tap: " + err)
    rc, out, err = write_c(a, ["g=1"])
    A.eq(rc, 0, "writer with the tap: " + err)
    sync_while_stopped(store, a, b)
    got = plain(b)
    A.eq((got.get("u"), got.get("g"), got.get("k")), ("1", "1", "x"), "u, g, k on b")
    C.same_everywhere([a, b])


def merge_defer_pending():
    root = A.fresh_tmp()
    store, (a, b) = setup(root)
    a.write([["put", None, "a%d" % i, "1"] for i in range(10)])
    a.sync(store)
    a.extra["MDBTAP_TEST_SCAN_CHUNK"] = "3"  # a's 12 elements: over one chunk
    b.write([["put", None, "from-b", "1"]])
    b.sync(store)
    p, txn = start_c(a, ["k=x"], "1:after:STOP")
    try:
        wait_stopped(p)
        run = a.sync(store)  # k's record is PENDING, its writer alive
    finally:
        p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=30)
    A.eq((p.returncode, out), (0, "txn %d\n" % txn), "the writer went on: " + err)
    A.eq(run.stderr.count("a merge deferred"), 1, "one merge deferred: " + run.stderr[-3000:])
    A.eq(plain(a).get("from-b"), "1", "b's object merged in the same run: " + run.stderr[-3000:])
    for i in (a, b, a, b):
        i.sync(store)
    A.eq(plain(b).get("k"), "x", "k, whose txn was pending, on b")
    C.same_everywhere([a, b])


def concurrent(seed):
    """Three instances, each with `mdbtap sync` running and writers one
    after the other: with the tap, stopped between LMDB's commit and the
    tap's mark for a moment, killed before LMDB's commit, and without the
    tap. The writers of different instances run at the same time. Then:
    equal everywhere; every write without the tap (keys of their own) is
    everywhere and no killed writer's; and for each key whose last write
    began after every other write of it had ended (commit windows measured
    here, outside the product), that write's value won."""
    rng = random.Random(int(seed))
    root = A.fresh_tmp()
    store, insts = setup(root, ("a", "b", "c"))
    daemons = [subprocess.Popen(i.sync_argv(store, "--poll-interval", "700ms", "--log-file",
                                            os.path.join(root, i.name + ".log")),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i in insts]
    writes, unseen, dead = [], [], []
    lock = threading.Lock()

    def writer(inst, wrng, n_writes):
        for n in range(n_writes):
            key, val = "k%d" % wrng.randint(0, 9), "%s-%d" % (inst.name, n)
            r = wrng.random()
            t0 = time.time_ns()
            if r < 0.12:
                u = "u-%s-%d" % (inst.name, n)
                rc, _, err = write_c(inst, [u + "=1"], tap=False)
                A.eq(rc, 0, "writer without the tap: " + err)
                with lock:
                    unseen.append(u)
            elif r < 0.2:
                d = "dead-%s-%d" % (inst.name, n)
                p, _ = start_c(inst, [d + "=1"], "1:before:KILL")
                p.communicate(timeout=30)
                A.eq(p.returncode, -signal.SIGKILL, "writer killed before its commit")
                with lock:
                    dead.append(d)
            elif r < 0.35:
                p, _ = start_c(inst, ["%s=%s" % (key, val)], "1:after:STOP")
                wait_stopped(p)
                time.sleep(wrng.uniform(0, 0.5))
                p.send_signal(signal.SIGCONT)
                _, err = p.communicate(timeout=30)
                A.eq(p.returncode, 0, "writer stopped after its commit: " + err)
                with lock:
                    writes.append((key, val, t0, time.time_ns()))
            else:
                rc, _, err = write_c(inst, ["%s=%s" % (key, val)])
                A.eq(rc, 0, "writer with the tap: " + err)
                with lock:
                    writes.append((key, val, t0, time.time_ns()))
            time.sleep(wrng.uniform(0, 0.05))

    threads = [threading.Thread(target=writer, args=(i, random.Random(rng.random()), 30))
               for i in insts]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d, i in zip(daemons, insts):
            _, err = d.communicate(timeout=120)
            A.eq(d.returncode, 0, "mdbtap sync on %s after SIGTERM: %s" % (i.name, err[-500:]))
    A.check(C.quiesce(insts, store), "digests still differ after quiescing")
    C.same_everywhere(insts)
    got = plain(insts[0])
    A.eq(sorted(u for u in unseen if got.get(u) != "1"), [], "writes without the tap missing")
    A.eq(sorted(d for d in dead if d in got), [], "writes of killed writers present")
    decided = 0
    for key in sorted({w[0] for w in writes}):
        ws = [w for w in writes if w[0] == key]
        last = max(ws, key=lambda w: w[2])
        if all(last[2] > w[3] for w in ws if w is not last):
            decided += 1
            A.eq(got.get(key), last[1], "%s: its last write (begun after every other ended)" % key)
    print("writes %d (%d decided keys), without the tap %d, killed %d"
          % (len(writes), decided, len(unseen), len(dead)))


def main():
    global WRITER, PROBE
    WRITER, PROBE = sys.argv[1], sys.argv[2]
    modes = {"--dead-then-unseen": dead_then_unseen,
             "--dead-then-same-key": dead_then_same_key, "--rescan-mid-fold": rescan_mid_fold,
             "--pending-export": pending_export, "--pending-export-gap": pending_export_gap,
             "--merge-defer-pending": merge_defer_pending,
             "--concurrent": concurrent}
    modes[sys.argv[3]](*sys.argv[4:])
    A.finish()


if __name__ == "__main__":
    main()

"""Refusals of remote elements that do not fit the local DBI's flags
(docs/DESIGN.md §12) are kept in the syncer's metadata: `mdbtap stats`,
`mdbtap status` and `mdbtap doctor ENV` show them after the syncer
restarts (a SIGKILL), they are logged once whatever the restarts, and
they are cleared when the condition ends, here or there. One regression
test per mode.

  test_misfits.py --kept           a running syncer killed, then restarted
  test_misfits.py --cleared-here   the local DBI re-created with fitting flags
  test_misfits.py --cleared-there  the remote's DBI re-created with fitting flags
"""
import json
import os
import signal
import subprocess
import sys

import apputil as A
from synclib import Instance

REFUSED = "do not fit"  # the refusal's log line


def lmdb_code(path, code):
    """Run python3-lmdb code (env in `env`) on path, with the tap."""
    full = "import lmdb\nenv = lmdb.open(%r, max_dbs=8, map_size=1 << 26)\n" % path + code
    p = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD))
    A.eq(p.returncode, 0, "python3-lmdb: " + p.stderr)


def cli_json(cmd, inst):
    p = subprocess.run([A.MDBTAP, cmd, "--json", inst.env], capture_output=True, text=True,
                       timeout=60)
    return json.loads(p.stdout) if p.returncode == 0 else {}


def doctor_line(inst):
    """`mdbtap doctor ENV`'s line about refused elements."""
    p = subprocess.run([A.MDBTAP, "doctor", inst.env], capture_output=True, text=True,
                       timeout=60)
    lines = [ln for ln in p.stdout.splitlines() if "DBIs' flags" in ln]
    return lines[0] if lines else "(none) " + p.stdout[-1500:]


def x_dump(inst):
    """DBI x of inst: [[key, value], ...] (DUPSORT or not), or None."""
    code = r'''
import json, sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=8, readonly=True, lock=False)
with env.begin() as t:
    try:
        db = env.open_db(b"x", txn=t, create=False)
    except lmdb.NotFoundError:
        print("null")
    else:
        print(json.dumps(sorted([k.decode(), v.decode()] for k, v in t.cursor(db=db))))
'''
    p = subprocess.run([sys.executable, "-c", code, inst.env], capture_output=True, text=True,
                       timeout=60)
    return json.loads(p.stdout) if p.returncode == 0 else A.fail(p.stderr)


def expect_held(inst, n, what):
    """stats, status and doctor all say inst holds n refusals of DBI x
    from instance a."""
    st, ss = cli_json("stats", inst), cli_json("status", inst)
    A.eq(st.get("elements_misfit"), n, what + ": stats count the refusals: %r" % st)
    A.eq((ss.get("envs") or [ss])[0].get("elements_misfit") if ss else None, n,
         what + ": status counts them: %r" % ss)
    line = doctor_line(inst)
    if n:
        A.check("x from a: %d" % n in st.get("misfits", ""),
                what + ": stats name DBI x and instance a: %r" % st)
        A.check(line.startswith("no:") and "x from a: %d" % n in line,
                what + ": doctor shows them: " + line)
    else:
        A.eq(st.get("misfits"), "", what + ": stats name no refusal")
        A.check(line.startswith("ok:"), what + ": doctor sees none: " + line)


def setup(root):
    """a: DBI x DUPSORT (k: 1, 2); b: DBI x plain (j: x). a exports."""
    store = os.path.join(root, "store")
    a, b = Instance(root, "a"), Instance(root, "b")
    lmdb_code(a.env, "db = env.open_db(b'x', dupsort=True)\n"
              "with env.begin(write=True) as t:\n"
              "    t.put(b'k', b'1', db=db)\n    t.put(b'k', b'2', db=db)\n")
    lmdb_code(b.env, "db = env.open_db(b'x')\n"
              "with env.begin(write=True) as t:\n    t.put(b'j', b'x', db=db)\n")
    a.sync(store)
    return store, a, b


def refused_once(b, store):
    """b refuses a's two elements, once (a --once run)."""
    log = b.sync(store).stderr
    A.eq(sum(REFUSED in ln for ln in log.splitlines()), 1, "b logs the refusal once: " + log)
    expect_held(b, 2, "b refused a's elements")


def kept():
    """b's running syncer refuses a's DUPSORT elements for its plain x; it
    is SIGKILLed and restarted: stats, status and doctor still show both
    refusals (not counted again), and the restarted syncer does not log
    them again, nor a later refused element of the same pair."""
    root = A.fresh_tmp()
    store, a, b = setup(root)
    logf = open(os.path.join(root, "b.log"), "w+")
    syncer = subprocess.Popen(b.sync_argv(store, "--poll-interval", "100ms"), stderr=logf)
    try:
        A.wait_for("b's syncer refuses a's elements",
                   lambda: cli_json("stats", b).get("elements_misfit") == 2)
    finally:
        syncer.send_signal(signal.SIGKILL)
        syncer.wait()
        logf.seek(0)
        log = logf.read()
        logf.close()
    A.eq(sum(REFUSED in ln for ln in log.splitlines()), 1, "b's syncer logs the refusal once: "
         + log[-2000:])
    p = b.sync(store)  # restarted
    A.check(REFUSED not in p.stderr, "the restarted syncer does not log it again: "
            + p.stderr[-2000:])
    expect_held(b, 2, "after b's syncer restarted")
    # one more element of the pair: counted, still not logged again
    lmdb_code(a.env, "db = env.open_db(b'x', dupsort=True)\n"
              "with env.begin(write=True) as t:\n    t.put(b'k', b'3', db=db)\n")
    a.sync(store)
    p = b.sync(store)
    A.check(REFUSED not in p.stderr, "a later refusal is not logged again: " + p.stderr[-2000:])
    expect_held(b, 3, "after a later refusal")
    A.eq(x_dump(b), [["j", "x"]], "b's plain x never took a's elements")


def cleared_here():
    """b's operator re-creates x as DUPSORT, as a has it: the refusals end
    with b's old x (stats, status and doctor show none), and a's later
    elements of x are merged."""
    root = A.fresh_tmp()
    store, a, b = setup(root)
    refused_once(b, store)
    lmdb_code(b.env, "db = env.open_db(b'x')\nwith env.begin(write=True) as t:\n"
              "    t.drop(db, delete=True)\n"
              "db = env.open_db(b'x', dupsort=True)\nwith env.begin(write=True) as t:\n"
              "    t.put(b'j', b'y', db=db)\n")
    b.sync(store)
    expect_held(b, 0, "b's x re-created as DUPSORT")
    lmdb_code(a.env, "db = env.open_db(b'x', dupsort=True)\n"
              "with env.begin(write=True) as t:\n    t.put(b'k', b'3', db=db)\n")
    a.sync(store)
    p = b.sync(store)
    A.check(REFUSED not in p.stderr, "nothing refused any more: " + p.stderr[-2000:])
    A.check(["k", "3"] in (x_dump(b) or []), "b merged a's later element: %r" % x_dump(b))
    expect_held(b, 0, "after a's later element")


def cleared_there():
    """a's operator re-creates x as plain, as b has it: b's next merge of
    a's x (plain now) ends the refusals, and a's new element is merged."""
    root = A.fresh_tmp()
    store, a, b = setup(root)
    refused_once(b, store)
    lmdb_code(a.env, "db = env.open_db(b'x', dupsort=True)\n"
              "with env.begin(write=True) as t:\n    t.drop(db, delete=True)\n"
              "db = env.open_db(b'x')\nwith env.begin(write=True) as t:\n"
              "    t.put(b'm', b'v', db=db)\n")
    a.sync(store)
    p = b.sync(store)
    A.check("no longer counted" in p.stderr, "b says the refusals ended: " + p.stderr[-2000:])
    A.check(["m", "v"] in (x_dump(b) or []), "b merged a's plain element: %r" % x_dump(b))
    expect_held(b, 0, "a's x re-created as plain")


def main():
    modes = {"--kept": kept, "--cleared-here": cleared_here, "--cleared-there": cleared_there}
    modes[sys.argv[1]](*sys.argv[2:])
    A.finish()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""stress_sigkill: a preloaded writer SIGKILLed at random moments, again and
again, on the same env (docs/DESIGN.md §1, §2, §7).

    test_sigkill.py SIGKILL_WRITER

After every run:
  - the journal reads whole (no corrupt record, `mdbtap journal` quiet).
At the end:
  - every txn id in (base, env last] has a committed record or a pending one
    (in doubt: killed between its record and its commit's outcome); the in-doubt
    records are at most one per kill, and every txn id `unaccounted` lists is
    one of them;
  - no record is lossy or aborted;
  - the env's "intent" DBI says exactly what each committed txn wrote: the
    last record of that txn id has exactly those ops, in order (nothing lost,
    nothing extra); and every committed record is one of those txns;
  - every key of "plain" and every pair of "dups" in the env is in a put of
    some committed or pending record (nothing written without a record), and
    replaying the records of the committed txns gives the env's exact content.
Then a kill during the journal's creation: a journal file of the right size
whose header was never written (what a kill after the file was sized and
before its magic was written leaves). The next preloaded writer must journal
its txns again (docs/DESIGN.md §7), so `--check` passes.

STRESS_SEED picks the random sequence (printed, to replay a failure);
STRESS_KILLS the number of kills (default 60).
"""
import os
import random
import select
import signal
import subprocess
import sys
import time

import stresslib as S

S.need_env()
WRITER = sys.argv[1]
seed = int(os.environ.get("STRESS_SEED") or random.SystemRandom().randrange(1 << 30))
kills = int(os.environ.get("STRESS_KILLS") or 60)
rng = random.Random(seed)
S.note("seed %d, %d kills" % (seed, kills))

root = S.fresh_tmp()
env = os.path.join(root, "env")
os.makedirs(env)
deadline = time.monotonic() + 75  # the kill loop stops early on a slow machine


# At most 61 * 2000 txns of a few hundred bytes: the ring never fills.
JOURNAL = {"MDBTAP_JOURNAL_SIZE": "128m"}


def run_writer(args, extra=None, timeout=120):
    return subprocess.run([WRITER, env] + args, env=S.preload_env(extra), capture_output=True,
                          text=True, timeout=timeout)


# A first run that ends by itself: the env, its DBIs and the journal exist.
p = run_writer([str(seed), "50"], JOURNAL)
S.check(p.returncode == 0 and p.stdout == "" and p.stderr == "",
        "warm-up writer: rc %d, out %r, err %r" % (p.returncode, p.stdout, p.stderr))
j = S.Journal(env)
if not j.sane("after warm-up"):
    S.finish("stress_sigkill")
base = j.summary["accounted_txnid"]

done = 0
early_exits = 0
for i in range(kills):
    if time.monotonic() > deadline:
        S.note("time budget used up after %d kills" % done)
        break
    # Odd kills: the delay counts from the start (kills in env open and
    # journal open too); even ones: from when the writer is ready (so that
    # a slow start, as under ASan, does not eat the delay).
    wait_ready = i % 2 == 0
    args = [str(seed * 1000 + i + 1), "2000", "hold"] + (["nosync"] if i % 4 else [])
    args += ["ready"] if wait_ready else []
    proc = subprocess.Popen([WRITER, env] + args, env=S.preload_env(JOURNAL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if wait_ready:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            line = proc.stdout.readline() if ready else ""
            S.check(line == "ready\n", "kill %d: the writer did not get ready: %r" % (i, line))
        time.sleep(rng.uniform(0, 0.3))
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not alive:
        early_exits += 1
        S.fail("kill %d: the writer exited by itself (rc %s): %s%s"
               % (i, proc.returncode, out, err))
    elif out or err:
        S.fail("kill %d: the writer printed %r %r" % (i, out, err))
    done += 1
    # Cheap per-kill check (text output, summary only): readable, no corrupt record.
    q = subprocess.run([S.BIN, "journal", env], capture_output=True, text=True, timeout=120)
    tail = q.stdout[-2000:]
    if not S.check(q.returncode == 0 and q.stderr == "" and " 0 corrupt\n" in tail,
                   "after kill %d: mdbtap journal rc %d, stderr %r, summary %r"
                   % (i, q.returncode, q.stderr, tail[-400:])):
        break

j = S.Journal(env)
S.check(j.sane("final"), "final journal unreadable")
summ = j.summary
last = summ["env_last_txnid"]
S.note("kills %d, txn ids %d..%d, records: %d committed, %d pending, %d aborted; "
       "unaccounted %s, in doubt %s" % (done, base + 1, last, summ["committed"],
                                        summ["pending"], summ["aborted"],
                                        summ["unaccounted"], summ["in_doubt"]))
S.check(last > base + 50, "too few txns committed (%d..%d)" % (base, last))

committed = {r["txnid"] for r in j.records if r["state"] == "committed"}
pending = {r["txnid"] for r in j.records if r["state"] == "pending"}
unacc = set()
for a, b in summ["unaccounted"]:
    unacc.update(range(a, b + 1))
S.check(unacc <= pending, "txn ids with no record at all (neither committed nor in doubt): %s"
        % sorted(unacc - pending)[:20])
missing = [t for t in range(base + 1, last + 1) if t not in committed and t not in pending]
S.check(not missing, "txn ids without a record: %s" % missing[:20])
S.check(len(summ["in_doubt"]) <= done,
        "%d in-doubt records for %d kills" % (len(summ["in_doubt"]), done))
S.check(summ["aborted"] == 0, "aborted records although no commit failed: %d" % summ["aborted"])
S.check(summ["dropped"] == 0, "records dropped: %d" % summ["dropped"])
lossy = [r["txnid"] for r in j.records if r["lossy"]]
S.check(not lossy, "lossy records: %s" % lossy[:10])
S.check(not summ["ahead_of_env"], "records ahead of the env: %s" % summ["ahead_of_env"])

# The env's own account of every committed txn.
state = S.dump(env)
intents = {}
for khex, vhex in state.get("intent", []):
    txt = bytes.fromhex(vhex).decode()
    ops = list(S.parse_host_log("TXN 0 0 " + txt).values())[0][1] if txt else []
    intents[int(khex, 16)] = ops + [("intent", "put", khex, None)]
S.check(len(intents) > 50, "only %d txns in the intent DBI" % len(intents))

last_rec = {}
for r in j.records:
    if r["state"] in ("committed", "pending"):
        last_rec[r["txnid"]] = r  # a later record of the same id supersedes
bad = 0
for t, ops in sorted(intents.items()):
    if t <= base:
        continue
    r = last_rec.get(t)
    if r is None:
        bad += 1
        if bad <= 3:
            S.fail("committed txn %d (per the env) has no record" % t)
        continue
    if S.entries(r) != ops or r["events"]:
        bad += 1
        if bad <= 3:
            S.fail("txn %d: record (%s) entries %s events %s; the txn wrote %s"
                   % (t, r["state"], S.entries(r)[:5], r["events"], ops[:5]))
S.check(bad == 0, "%d txns whose record differs from what they committed" % bad)


def only_creates(r):
    return not r["entries"] and r["events"] and all(e["op"] == "create" for e in r["events"])


extra = [t for t in committed if t not in intents and not only_creates(last_rec[t])]
S.check(not extra, "committed records of txns that did not commit: %s" % sorted(extra)[:10])

# Nothing in the env without a record, and the records replay to the env.
puts = {"plain": set(), "dups": set()}
for r in j.records:
    if r["state"] not in ("committed", "pending"):
        continue
    for dbi, op, key, val in S.entries(r):
        if op == "put" and dbi in puts:
            puts[dbi].add(key if dbi == "plain" else (key, val))
plain_keys = {k for k, _ in state.get("plain", [])}
dup_pairs = set(state.get("dups", []))
orphans = sorted(plain_keys - puts["plain"]) + sorted(dup_pairs - puts["dups"])
S.check(not orphans, "%d elements in the env that no record put: %s" % (len(orphans), orphans[:5]))

model_plain, model_dups = set(), set()
for t in sorted(t for t in intents):
    r = last_rec.get(t)
    if r is None:
        continue
    for dbi, op, key, val in S.entries(r):
        if dbi == "plain":
            (model_plain.add if op == "put" else model_plain.discard)(key)
        elif dbi == "dups":
            if op == "put":
                model_dups.add((key, val))
            elif op == "del":
                model_dups.discard((key, val))
            elif op == "delall":
                model_dups = {p for p in model_dups if p[0] != key}
if base == 0:
    S.check(model_plain == plain_keys,
            "replayed plain keys differ from the env: %d only replayed, %d only in env"
            % (len(model_plain - plain_keys), len(plain_keys - model_plain)))
    S.check(model_dups == dup_pairs,
            "replayed dups pairs differ from the env: %d only replayed, %d only in env"
            % (len(model_dups - dup_pairs), len(dup_pairs - model_dups)))

rc, out, err = S.journal_check(env)
S.check(rc in (0, 3), "mdbtap journal --check: rc %d %s" % (rc, err))
S.check(rc == 0 or unacc, "--check exited 3 with nothing unaccounted")
S.check(rc == 3 or not unacc, "--check passed with unaccounted ids %s" % sorted(unacc)[:5])

# A kill while the journal was being created.
S.note("journal creation interrupted")
env = os.path.join(root, "env2")
os.makedirs(env)
p = subprocess.run([WRITER, env, str(seed), "5"], env=S.plain_env(), capture_output=True,
                   text=True, timeout=120)
S.check(p.returncode == 0, "writer without the tap: %d %s" % (p.returncode, p.stderr))
os.makedirs(os.path.join(env, "mdbtap"))
# a journal is made under a temporary name and linked to its name once
# whole: a kill leaves the temporary file, sized, its header never written
with open(os.path.join(env, "mdbtap", ".tmp.999999.0"), "wb") as f:
    f.truncate(4096 + 65536)
p = run_writer([str(seed + 1), "20"], extra={"MDBTAP_JOURNAL_SIZE": "64k"})
S.check(p.returncode == 0 and p.stderr == "", "preloaded writer: %d %s" % (p.returncode, p.stderr))
rc, out, err = S.journal_check(env)
S.check(rc == 0, "after a journal creation cut short, the next writer's txns are not journaled: "
        "`mdbtap journal --check` rc %d: %s%s" % (rc, out[-300:], err))

S.finish("stress_sigkill")

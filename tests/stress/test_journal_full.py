#!/usr/bin/python3
"""stress_journal_full: a journal nobody consumes, and transactions too big
to list (docs/DESIGN.md §2, §3).

    test_journal_full.py STRESS_HOST

1. MDBTAP_JOURNAL_SIZE=64k (the minimum) and 1500 txns: the ring fills. The
   host never notices (every commit succeeds, the env holds exactly what it
   committed); the summary's "dropped" is > 0; the txns without a record are
   exactly "dropped" many and exactly the unaccounted ids, and `--check`
   exits 3; every record that did fit is exact.
2. MDBTAP_TXN_LIMIT=64k and one txn of 20,000 puts (+3 DUPSORT puts): its
   record lists no element but a "dirty" event for each DBI it wrote; the
   host succeeds and reads all of it back; `--check` passes.
3. The same with a 64k journal and no MDBTAP_TXN_LIMIT (5,000 puts do not
   fit in half the ring): "dirty" again, nothing dropped.
4. For contrast, 20,000 puts with the defaults: all 20,003 elements listed.
"""
import os
import random
import sys

import stresslib as S

S.need_env()
HOST = sys.argv[1]
seed = int(os.environ.get("STRESS_SEED") or random.SystemRandom().randrange(1 << 30))
S.note("seed %d" % seed)
root = S.fresh_tmp()


def new_env(name):
    env = os.path.join(root, name)
    os.makedirs(env)
    S.run_host([HOST, "init", env], S.plain_env())
    return env


# 1. The ring fills up.
env = new_env("full")
log = os.path.join(root, "full.log")
if S.run_host([HOST, "write", env, log, "1500", "1", "1", str(seed)],
              S.preload_env({"MDBTAP_JOURNAL_SIZE": "64k", "STRESS_NOSYNC": "1"})):
    with open(log) as f:
        logged = S.parse_host_log(f.read())
    S.check_replay(env, logged, "full ring")
    j = S.Journal(env)
    if j.sane("full ring"):
        summ = j.summary
        base, last = summ["accounted_txnid"], summ["env_last_txnid"]
        S.note("%d txns, %d records, %d dropped" % (len(logged), len(j.records), summ["dropped"]))
        S.check(sorted(logged) == list(range(base + 1, last + 1)),
                "the logged txn ids are not exactly %d..%d" % (base + 1, last))
        S.check(summ["dropped"] > 0, "a full 64k ring dropped nothing (%d records)" % len(j.records))
        missing = S.compare_logged(j, logged, "full ring", allow_missing=True)
        unacc = []
        for a, b in summ["unaccounted"]:
            unacc.extend(range(a, b + 1))
        S.check(missing == sorted(unacc), "txns without a record %s... are not the unaccounted ids %s..."
                % (missing[:5], unacc[:5]))
        S.check(len(missing) == summ["dropped"], "%d txns without a record, %d dropped"
                % (len(missing), summ["dropped"]))
        rc, out, err = S.journal_check(env)
        S.check(rc == 3, "mdbtap journal --check with dropped records: rc %d (want 3) %s" % (rc, err))


def big(name, nputs, extra, want_dirty):
    env = new_env(name)
    log = os.path.join(root, name + ".log")
    if not S.run_host([HOST, "big", env, log, str(nputs)], S.preload_env(extra)):
        return
    with open(log) as f:
        txnid = int(f.read().split()[1])
    j = S.Journal(env)
    if not j.sane(name):
        return
    recs = [r for r in j.records if r["txnid"] == txnid]
    if not S.check(len(recs) == 1 and recs[0]["state"] == "committed",
                   "%s: records of txn %d: %s" % (name, txnid, [r["state"] for r in recs])):
        return
    r = recs[0]
    S.check(not r["lossy"], "%s: record is lossy" % name)
    if want_dirty:
        dirty = sorted(e["dbi"] for e in r["events"] if e["op"] == "dirty")
        S.check(r["entries"] == [] and dirty == ["data", "dups"] and len(r["events"]) == 2,
                "%s: want no entries and dirty events for data and dups, got %d entries, events %s"
                % (name, len(r["entries"]), r["events"]))
    else:
        want = [("data", "put", ("big%06d" % i).encode().hex(), None) for i in range(nputs)]
        want += [("dups", "put", b"bigdup".hex(), ("v%d" % i).encode().hex()) for i in range(3)]
        S.check(S.entries(r) == want and r["events"] == [],
                "%s: %d entries (want %d), events %s" % (name, len(r["entries"]), len(want),
                                                         r["events"]))
    S.check(j.summary["dropped"] == 0, "%s: %d dropped" % (name, j.summary["dropped"]))
    rc, out, err = S.journal_check(env)
    S.check(rc == 0, "%s: mdbtap journal --check: rc %d %s" % (name, rc, err))
    data = dict(S.dump(env).get("data", []))
    ok = len(data) == nputs and all(
        data.get(("big%06d" % i).encode().hex()) == ("big%06d@%d" % (i, txnid)).encode().hex()
        for i in range(nputs))
    S.check(ok, "%s: the env does not hold the %d values written" % (name, nputs))


big("txn_limit", 20000, {"MDBTAP_TXN_LIMIT": "64k"}, True)
big("small_ring", 5000, {"MDBTAP_JOURNAL_SIZE": "64k"}, True)
big("listed", 20000, {}, False)
S.finish("stress_journal_full")

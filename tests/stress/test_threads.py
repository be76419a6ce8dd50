#!/usr/bin/python3
"""stress_threads: one preloaded process, 4 writer threads (LMDB serializes
their write txns) and 3 reader threads (read txns ended by commit, abort or
reset/renew) on one env.

    test_threads.py STRESS_HOST

Asserts: the host succeeds (its readers only ever see whole values); the
journal's committed records are exactly the txns the threads committed, by
txn id, with exactly their ops in order (invariant 1: nothing lost, nothing
extra: aborted txns and aborted child txns leave nothing); no record is
pending, aborted, lossy or corrupt; the txn ids are base+1..last with none
missing (invariant 2) and `--check` passes; the env holds exactly what the
logged txns wrote.
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
env = os.path.join(root, "env")
log = os.path.join(root, "txns.log")
os.makedirs(env)

S.run_host([HOST, "init", env], S.plain_env())
if S.run_host([HOST, "write", env, log, "500", "4", "3", str(seed)], S.preload_env()):
    with open(log) as f:
        logged = S.parse_host_log(f.read())
    j = S.Journal(env)
    if j.sane("threads"):
        base, last = j.summary["accounted_txnid"], j.summary["env_last_txnid"]
        S.note("%d txns committed, ids %d..%d" % (len(logged), base + 1, last))
        S.check(len(logged) > 800, "only %d txns committed" % len(logged))
        S.check(sorted(logged) == list(range(base + 1, last + 1)),
                "the logged txn ids are not exactly %d..%d" % (base + 1, last))
        S.compare_logged(j, logged, "threads")
        S.check(j.summary["unaccounted"] == [] and j.summary["in_doubt"] == [],
                "summary: unaccounted %s, in doubt %s"
                % (j.summary["unaccounted"], j.summary["in_doubt"]))
        rc, out, err = S.journal_check(env)
        S.check(rc == 0, "mdbtap journal --check: rc %d %s" % (rc, err))
        S.check_replay(env, logged, "threads")
S.finish("stress_threads")

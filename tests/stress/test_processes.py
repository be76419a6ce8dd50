#!/usr/bin/python3
"""stress_processes: 3 preloaded processes write the same env at once (one of
them with 2 writer threads), each with a reader thread.

    test_processes.py STRESS_HOST

Asserts: every host succeeds; the journal's committed records are exactly
the txns the processes committed (each logs "txnid pid ops"), each with the
right pid and exactly its ops in order: no record lost, none extra, none
corrupt, pending, aborted or lossy; the txn ids are base+1..last with none
missing and `--check` passes; the env holds exactly what the logged txns
wrote.
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
os.makedirs(env)
S.run_host([HOST, "init", env], S.plain_env())

procs = []
try:
    for i, writers in enumerate((1, 2, 1)):
        log = os.path.join(root, "p%d.log" % i)
        procs.append((log, S.spawn(
            [HOST, "write", env, log, "400", str(writers), "1", str(seed + i)],
            env=S.preload_env())))
    results = [(log, p.communicate(timeout=150), p.returncode) for log, p in procs]
finally:
    for _, p in procs:
        if p.poll() is None:
            S.kill_group(p)

logged = {}
for log, (out, err), rc in results:
    if S.check(rc == 0 and out == "" and err == "", "host %s: rc %d %r %r" % (log, rc, out, err)):
        with open(log) as f:
            mine = S.parse_host_log(f.read())
        both = set(mine) & set(logged)
        S.check(not both, "txn ids logged by two processes: %s" % sorted(both)[:5])
        logged.update(mine)

j = S.Journal(env)
if j.sane("processes"):
    base, last = j.summary["accounted_txnid"], j.summary["env_last_txnid"]
    pids = {pid for pid, _ in logged.values()}
    S.note("%d txns committed by %d processes, ids %d..%d" % (len(logged), len(pids), base + 1, last))
    S.check(len(pids) == 3, "expected 3 writing processes, got %d" % len(pids))
    S.check(sorted(logged) == list(range(base + 1, last + 1)),
            "the logged txn ids are not exactly %d..%d" % (base + 1, last))
    S.compare_logged(j, logged, "processes")
    S.check(j.summary["unaccounted"] == [] and j.summary["in_doubt"] == [],
            "summary: unaccounted %s, in doubt %s" % (j.summary["unaccounted"], j.summary["in_doubt"]))
    rc, out, err = S.journal_check(env)
    S.check(rc == 0, "mdbtap journal --check: rc %d %s" % (rc, err))
    S.check_replay(env, logged, "processes")
S.finish("stress_processes")

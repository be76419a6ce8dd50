#!/usr/bin/python3
"""stress_fork: a preloaded process writes, forks while one of its threads
runs read txns, and then both write the same env: the child through its own
new env handle on the same path (LMDB forbids using the parent's), the
parent through its original one.

    test_fork.py STRESS_HOST

Asserts: both processes succeed; the journal's committed records are
exactly the txns each committed, with the right pid and ops (the child's
records are journaled too, and nothing the child inherited leaks into
them); no record pending, aborted, lossy or corrupt; the ids are
base+1..last and `--check` passes; the env holds exactly what was logged.
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
logs = os.path.join(root, "logs")
os.makedirs(env)
os.makedirs(logs)
S.run_host([HOST, "init", env], S.plain_env())

# Under ASan, fork while another thread allocates can leave the child
# blocked on the sanitizer allocator's lock (libsanitizer, not the tap):
# there the parent forks with no other thread running.
quiet = ["quiet"] if S.under_asan() else []
for rnd in range(3):
    S.run_host([HOST, "fork", env, logs, "150", str(seed + 10 * rnd)] + quiet, S.preload_env())

logged = {}
for name in sorted(os.listdir(logs)):
    with open(os.path.join(logs, name)) as f:
        mine = S.parse_host_log(f.read())
    S.check(mine, "log %s is empty" % name)
    both = set(mine) & set(logged)
    S.check(not both, "txn ids logged by two processes: %s" % sorted(both)[:5])
    logged.update(mine)
S.check(len(os.listdir(logs)) == 6, "expected 6 logs (3 parents, 3 children): %s" % os.listdir(logs))

j = S.Journal(env)
if j.sane("fork"):
    base, last = j.summary["accounted_txnid"], j.summary["env_last_txnid"]
    S.note("%d txns committed, ids %d..%d" % (len(logged), base + 1, last))
    S.check(sorted(logged) == list(range(base + 1, last + 1)),
            "the logged txn ids are not exactly %d..%d" % (base + 1, last))
    S.compare_logged(j, logged, "fork")
    rc, out, err = S.journal_check(env)
    S.check(rc == 0, "mdbtap journal --check: rc %d %s" % (rc, err))
    S.check_replay(env, logged, "fork")
S.finish("stress_fork")

"""writer.py ENV OPS_JSON: one write transaction of a python3-lmdb program
(run with the tap preloaded). OPS_JSON is a list of [op, dbi, key, value]:
op put/del on the unnamed DBI (dbi null) or "n"; dput/ddel on the DUPSORT
DBI "d"; drop empties "d". Prints, as JSON, what the txn did to each
element: [dbi, key, value or null (plain), deleted] with DUPSORT elements as
[dbi, key, value, deleted]; a drop lists every element it deleted."""
import json
import sys

import lmdb

env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 26)
dbs = {None: None, "n": env.open_db(b"n"), "d": env.open_db(b"d", dupsort=True)}
done = []
with env.begin(write=True) as txn:
    for op, dbi, key, val in json.loads(sys.argv[2]):
        db = dbs[dbi]
        k = key.encode()
        if op == "put":
            txn.put(k, val.encode(), db=db)
            done.append([dbi, key, val, False])
        elif op == "del":
            if txn.delete(k, db=db):
                done.append([dbi, key, None, True])
        elif op == "dput":
            txn.put(k, val.encode(), db=db, dupdata=True)
            done.append([dbi, key, val, False])
        elif op == "ddel":
            if txn.delete(k, val.encode(), db=db):
                done.append([dbi, key, val, True])
        elif op == "drop":
            for k2, v2 in txn.cursor(db=db):
                done.append([dbi, k2.decode(), v2.decode(), True])
            txn.drop(db, delete=False)
print(json.dumps(done))

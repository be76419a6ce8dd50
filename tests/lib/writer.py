"""writer.py ENV [OPS_JSON]: one write transaction of a python3-lmdb program
(run with the tap preloaded). OPS_JSON is a list of [op, dbi, key, value]:
op put/del (cput/cdel: through a cursor) on the unnamed DBI (dbi null) or
"n"; dput/ddel on the DUPSORT DBI "d" (cdel too); drop empties "d"; nest
puts in a child txn 40 levels deep (deeper than the tap follows). Prints, as JSON, what the txn did to each
element: [dbi, key, value or null (plain), deleted] with DUPSORT elements as
[dbi, key, value, deleted]; a drop lists every element it deleted."""
import json
import sys

import lmdb

env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 26)
dbs = {None: None, "n": env.open_db(b"n"), "d": env.open_db(b"d", dupsort=True)}
done = []
with env.begin(write=True) as txn:
    # the ops: argv, or stdin (large values do not fit in an argument)
    for op, dbi, key, val in json.loads(sys.argv[2] if len(sys.argv) > 2 else sys.stdin.read()):
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
        elif op == "cput":  # through a cursor
            txn.cursor(db=db).put(k, val.encode())
            done.append([dbi, key, val, False])
        elif op == "cdel":  # the cursor's current item (a DUPSORT key's first value)
            c = txn.cursor(db=db)
            if c.set_key(k):
                cur = c.value().decode()
                c.delete()
                done.append([dbi, key, cur if dbi == "d" else None, True])
        elif op == "nest":
            chain = [txn]
            for _ in range(40):
                chain.append(env.begin(write=True, parent=chain[-1]))
            chain[-1].put(k, val.encode(), db=db)
            for t in reversed(chain[1:]):
                t.commit()
            done.append([dbi, key, val, False])
        elif op == "drop":
            for k2, v2 in txn.cursor(db=db):
                done.append([dbi, k2.decode(), v2.decode(), True])
            txn.drop(db, delete=False)
print(json.dumps(done))

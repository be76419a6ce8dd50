"""An env the syncer creates and map_size (docs/DESIGN.md §21; issue 12).

  test_mapgrow.py --unmappable   a late joiner run with a map_size the
        machine cannot map (200T, beyond 47-bit user address space) fails
        naming map_size and leaves the env's directory as it found it (no
        data.mdb or lock.mdb recording that map, a file of the user's
        kept); the next run with a sane size creates the env and receives
  test_mapgrow.py --raise        a late joiner created with a map too small
        for what it receives stops with the map full, the message naming
        map_size; run again with a larger map_size, it resumes and holds
        everything; a program's own env never gets the syncer's map_size
"""
import os
import subprocess
import sys

import apputil as A
from synclib import Instance, quiesce, same_everywhere
from test_mapsize import entries, fill, recorded_map


def run(inst, store, *extra):
    """One --once cycle that may fail: (rc, stderr)."""
    p = subprocess.run(inst.sync_argv(store, "--once", *extra), capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, **inst.extra))
    return p.returncode, p.stderr


def unmappable():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    a = Instance(root, "a")
    fill(a.env, 1000)
    a.sync(store)
    b = Instance(root, "b")  # an empty directory: the syncer creates the env
    # (a directory holding other files is refused before anything is made:
    # claim_nonempty_dir)
    rc, err = run(b, store, "--map-size", "200T")
    A.check(rc != 0, "a 200T map was opened? " + err[-1500:])
    A.check("map_size" in err, "the error names map_size: " + err[-1500:])
    left = sorted(os.listdir(b.env))
    A.eq([n for n in left if n.endswith(".mdb")], [],
         "LMDB files left by the failed creation (%s)" % left)
    b.sync(store, "--map-size", "64M")
    A.eq(recorded_map(b.env), 64 << 20, "the map of the env created by the second run")
    A.eq(entries(b.env), 1000, "entries received by the late joiner")
    A.check(quiesce([a, b], store), "a and b did not converge")
    same_everywhere([a, b])


def raise_map():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    keys = 30000  # about 4 MiB of pages: a 2 MiB map cannot hold them
    a = Instance(root, "a")
    fill(a.env, keys)
    a.sync(store)
    b = Instance(root, "b")
    _, err = run(b, store, "--map-size", "2M")  # fails: a merge stopped
    A.check("is full" in err, "b's 2 MiB map did not fill: " + err[-1500:])
    A.check("map_size" in err, "the full map names map_size: " + err[-1500:])
    A.check("lmdb-map-size" not in err,
            "no program uses b, yet the message blames one: " + err[-1500:])
    A.check(entries(b.env) < keys, "b holds everything in 2 MiB?")
    p = b.sync(store, "--map-size", "64M")
    A.eq(entries(b.env), keys, "entries after raising map_size (%s)" % p.stderr[-1500:])
    A.check("is full" not in p.stderr, "still full: " + p.stderr[-1500:])
    A.eq(recorded_map(b.env), 64 << 20, "the map b's file records")
    # A smaller setting later never shrinks what the file records.
    b.sync(store, "--map-size", "8M")
    A.eq(recorded_map(b.env), 64 << 20, "the map after a smaller map_size")
    A.check(quiesce([a, b], store), "a and b did not converge")
    same_everywhere([a, b])
    # a's env is a program's: its map is the program's, whatever map_size says.
    before = recorded_map(a.env)
    a.sync(store, "--map-size", "4G")
    A.eq(recorded_map(a.env), before, "a program's map grown by the syncer")


def main():
    if sys.argv[1:] == ["--unmappable"]:
        unmappable()
    elif sys.argv[1:] == ["--raise"]:
        raise_map()
    else:
        sys.exit("usage: test_mapgrow.py --unmappable | --raise")
    A.finish()


if __name__ == "__main__":
    main()

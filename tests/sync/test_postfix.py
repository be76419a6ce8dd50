"""sync_postfix: two postfix `lmdb:` tables kept in sync through the syncer
(issue: zero-code adoption). postfix opens its tables with MDB_NOLOCK and
protects every transaction with a whole-file fcntl lock; the syncer must
follow that protocol when it reads and writes them.

Checks: `postmap` builds, `postmap -i` adds, `postmap -d` deletes and a full
`postmap` rebuild (mdb_drop of the table, then every key again) on one side
show up in `postmap -q` on the other, in both directions; while another
process holds the table's write lock (as postmap does while it writes), the
syncer's merge waits for it and changes nothing until it is released; no
lock file ever appears next to a table; digests end equal.
"""
import fcntl
import os
import subprocess
import time

import apputil as A

POSTMAP = "/usr/sbin/postmap"


class Table:
    def __init__(self, root, name):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "conf"))
        open(os.path.join(self.dir, "conf", "main.cf"), "w").close()
        self.src = os.path.join(self.dir, "access")
        self.path = self.src + ".lmdb"
        self.table = "lmdb:" + self.src

    def postmap(self, *args, stdin=None):
        r = A.run([POSTMAP, "-c", os.path.join(self.dir, "conf"), *args, self.table],
                  preload=A.PRELOAD, stdin=stdin)
        A.eq(r.rc, 0, "postmap %s on %s: %r" % (" ".join(args), self.name, r.err))
        return r.out.decode()

    def build(self, text):
        with open(self.src, "w") as f:
            f.write(text)
        self.postmap()

    def query(self, key):
        r = A.run([POSTMAP, "-c", os.path.join(self.dir, "conf"), "-q", key, self.table],
                  preload=A.PRELOAD)
        return r.out.decode().strip() if r.rc == 0 else None

    def sync_argv(self, store):
        return [A.MDBTAP, "sync", "--env", self.path, "--store", "file://" + store,
                "--instance", self.name, "--once"]

    def sync(self, store):
        p = subprocess.run(self.sync_argv(store), capture_output=True, text=True, timeout=120)
        A.eq(p.returncode, 0, "sync %s: %s" % (self.name, p.stderr[-2000:]))
        A.check(not os.path.exists(self.path + "-lock"), "a lock file next to " + self.path)

    def digest(self):
        return A.digest(self.path)


def both(a, b, store):
    a.sync(store)
    b.sync(store)
    a.sync(store)


def main():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)  # mdbtap creates none unless told
    a, b = Table(root, "a"), Table(root, "b")
    a.build("alice@example.com OK\nbob@example.com REJECT\n")
    b.build("")
    both(a, b, store)
    A.eq(b.query("alice@example.com"), "OK", "b after a's build")
    A.eq(b.query("bob@example.com"), "REJECT", "b after a's build")

    a.postmap("-i", stdin=b"carol@example.com DISCARD\n")
    b.postmap("-d", "bob@example.com")
    both(a, b, store)
    for t in (a, b):
        A.eq(t.query("carol@example.com"), "DISCARD", "postmap -i on a, seen on " + t.name)
        A.eq(t.query("bob@example.com"), None, "postmap -d on b, seen on " + t.name)

    a.build("dave@example.com HOLD\n")  # a full rebuild: mdb_drop, then every key
    both(a, b, store)
    for t in (a, b):
        A.eq(t.query("dave@example.com"), "HOLD", "the rebuild on " + t.name)
        A.eq(t.query("alice@example.com"), None, "a key the rebuild dropped, on " + t.name)
        A.eq(t.query("carol@example.com"), None, "a key the rebuild dropped, on " + t.name)

    # b's table is locked for writing, as postmap does while it writes: the
    # syncer's merge must wait, and change nothing meanwhile.
    a.postmap("-i", stdin=b"erin@example.com OK\n")
    a.sync(store)
    lock_fd = os.open(b.path, os.O_RDWR)
    fcntl.lockf(lock_fd, fcntl.LOCK_EX)
    try:
        p = subprocess.Popen(b.sync_argv(store), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        A.check(p.poll() is None, "the syncer finished while the table was locked")
        with open(b.path, "rb") as f:
            A.check(b"erin@example.com" not in f.read(), "b changed while it was locked")
    finally:
        fcntl.lockf(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
    _, err = p.communicate(timeout=60)
    A.eq(p.returncode, 0, "sync b after the lock: " + err[-2000:])
    A.eq(b.query("erin@example.com"), "OK", "b after the lock was released")

    both(a, b, store)
    A.eq(a.digest(), b.digest(), "digests")
    A.eq(a.postmap("-s"), b.postmap("-s"), "postmap -s of both tables")
    A.finish()


if __name__ == "__main__":
    main()

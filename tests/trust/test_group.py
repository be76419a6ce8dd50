"""trust_group: the companion files' group (README "Security"). Run as
root, as CI does; every program runs as an unprivileged user.

The env's data file is 0660 owner:DBG. A host running as nobody, with
primary group USERS and DBG as a supplementary group, umask 002:

- the companion dir, the journal and the syncer's files are given the data
  file's group; a user of USERS (who cannot write data.mdb) cannot write
  the journal, and truncating it is refused: the host's next commit goes on;
- a host that is not in DBG (the env's owner, primary group USERS): what it
  creates keeps no group write (nor read) bit;
- a companion dir of group USERS, group-writable (as older versions made
  it) is not used: the tap passes through, the syncer says why.
"""
import os
import stat
import subprocess

import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
OWNER = 54320
NOBODY = 65534
OTHER = 54321  # the attacker: in USERS only
DBG = 5555
USERS = 100
WRITE = r'''
import os, sys, lmdb
os.umask(0o002)
env = lmdb.open(sys.argv[1], mode=0o660)
with env.begin(write=True) as txn:
    txn.put(sys.argv[2].encode(), b"value")
print("ok")
'''


def run_as(uid, gid, groups, argv, preload=True, extra=None):
    env = A.base_env(extra)
    if preload:
        env["LD_PRELOAD"] = A.PRELOAD
    pre = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid]
    pre += ["--groups=" + ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
    return subprocess.run(["sh", "-c", 'umask 002; exec "$@"', "sh"] + pre + argv, env=env,
                          capture_output=True, text=True, timeout=120)


def make_env(path):
    os.makedirs(path)
    os.chown(path, OWNER, DBG)
    os.chmod(path, 0o775)
    r = run_as(OWNER, DBG, None, [PY, "-c", WRITE, path, "k0"], preload=False)
    A.eq(r.returncode, 0, "the owner makes the env: " + r.stderr)
    st = os.stat(os.path.join(path, "data.mdb"))
    A.eq((st.st_gid, stat.S_IMODE(st.st_mode)), (DBG, 0o660), "data.mdb is 0660 of DBG")


def host(path, key, uid=NOBODY, gid=USERS, groups=(DBG,)):
    r = run_as(uid, gid, list(groups), [PY, "-c", WRITE, path, key])
    A.eq((r.returncode, r.stdout), (0, "ok\n"), "the host writes %s: %s" % (key, r.stderr))


def entries(comp):
    return [comp] + [os.path.join(comp, f) for f in os.listdir(comp)]


def main():
    root = A.fresh_tmp()
    os.chmod(root, 0o755)
    store = os.path.join(root, "store")
    os.makedirs(store)
    os.chown(store, NOBODY, USERS)

    # 1. the host in DBG: everything gets DBG; the attacker cannot truncate
    e = os.path.join(root, "env")
    make_env(e)
    host(e, "k1")
    r = run_as(NOBODY, USERS, [DBG], [A.MDBTAP, "sync", "--env", e, "--store", "file://" + store,
                                      "--instance", "a", "--once"], preload=False)
    A.eq(r.returncode, 0, "the syncer as the host's user: " + r.stderr)
    comp = os.path.join(e, "mdbtap")
    for p in entries(comp):
        st = os.lstat(p)
        if stat.S_IMODE(st.st_mode) & 0o020:
            A.eq(st.st_gid, DBG, "%s is group-writable only for the data file's group"
                 % os.path.relpath(p, e))
    A.eq(os.lstat(os.path.join(comp, "journal")).st_gid, DBG, "the journal is DBG's")
    r = run_as(OTHER, USERS, None, [PY, "-c", "import os,sys; fd=os.open(sys.argv[1], os.O_RDWR);"
                                   " os.ftruncate(fd, 0)", os.path.join(comp, "journal")],
               preload=False)
    A.check(r.returncode != 0 and "Permission" in r.stderr,
            "a user of USERS cannot truncate the journal: %d %s" % (r.returncode, r.stderr))
    host(e, "k2")
    A.check(os.path.getsize(os.path.join(comp, "journal")) > 0, "the journal is whole")

    # 2. a host not in DBG: no group bits on what it makes
    e = os.path.join(root, "env2")
    make_env(e)
    host(e, "k1", uid=OWNER, gid=USERS, groups=())
    comp = os.path.join(e, "mdbtap")
    A.check(os.path.exists(os.path.join(comp, "journal")), "the owner's host made a journal")
    for p in entries(comp):
        st = os.lstat(p)
        if st.st_gid != DBG:
            A.eq(stat.S_IMODE(st.st_mode) & 0o070, 0, "%s of group %d gives that group nothing"
                 % (os.path.relpath(p, e), st.st_gid))

    # 3. a group-writable companion dir of another group than the data file's
    e = os.path.join(root, "env3")
    make_env(e)
    comp = os.path.join(e, "mdbtap")
    os.mkdir(comp)
    os.chown(comp, NOBODY, USERS)
    os.chmod(comp, 0o770)
    host(e, "k1")
    A.eq(os.listdir(comp), [], "the tap did not use a companion dir USERS can write")
    r = run_as(NOBODY, USERS, [DBG], [A.MDBTAP, "sync", "--env", e, "--store", "file://" + store,
                                      "--instance", "c", "--once"], preload=False)
    A.check(r.returncode != 0 and "not used" in r.stderr,
            "the syncer refuses it and says why: %d %s" % (r.returncode, r.stderr))
    A.finish()


if __name__ == "__main__":
    main()

"""trust_local: the companion directory and its files against other local
users (README "Security"). Run as root, as CI does: the programs and
syncers of the env's owner run as `nobody`, an attacker as another uid.

- a 0666 env under umask 0 gets no world-writable companion dir or file;
  a 0600 env gets a 0700 dir and 0600 files (journal, meta, objects);
- a root host on nobody's env makes the companion dir and journal
  nobody's;
- a companion dir owned by another user, or writable by others, is not
  used: the tap passes through, the syncer says why;
- a journal name pointing (symlink) at another env's data file: a root
  host leaves that file alone;
- MDBTAP_LOG naming a symlink is not followed, nor one naming a FIFO
  (the host would block in the open), nor a symlink in any directory of
  its path.
"""
import os
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
NOBODY = 65534
OTHER = 54321  # an attacker: any uid that is neither nobody nor root
WRITE = r'''
import os, sys, lmdb
os.umask(int(sys.argv[3], 8))
env = lmdb.open(sys.argv[1], mode=int(sys.argv[2], 8))
with env.begin(write=True) as txn:
    txn.put(b"key", b"value")
print("ok")
'''


def as_user(uid, argv, preload=True, extra=None, timeout=60):
    env = A.base_env(extra)
    if preload:
        env["LD_PRELOAD"] = A.PRELOAD
    pre = [] if uid == 0 else ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
                               "--clear-groups"]
    return subprocess.run(pre + argv, env=env, capture_output=True, text=True,
                          timeout=timeout)


def write(uid, env_dir, mode="0644", umask="022", extra=None):
    r = as_user(uid, [PY, "-c", WRITE, env_dir, mode, umask], extra=extra)
    A.eq((r.returncode, r.stdout), (0, "ok\n"), "the program writes %s: %s" % (env_dir, r.stderr))


def user_dir(path, uid=NOBODY, mode=0o755):
    os.makedirs(path)
    os.chown(path, uid, uid)
    os.chmod(path, mode)
    return path


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def sync_once(uid, env_dir, store):
    return as_user(uid, [A.MDBTAP, "sync", "--env", env_dir, "--store", "file://" + store,
                         "--instance", "a", "--once"], preload=False)


def main():
    root = A.fresh_tmp()
    os.chmod(root, 0o755)

    # 1. a 0666 env, umask 0: nothing world-writable
    e = user_dir(os.path.join(root, "wide"))
    write(NOBODY, e, "0666", "0")
    comp = os.path.join(e, "mdbtap")
    A.check(os.path.isdir(comp), "the tap made the companion dir")
    if os.path.isdir(comp):
        A.check(not mode_of(comp) & 0o002, "companion dir of a 0666 env under umask 0 is "
                "not world-writable: %o" % mode_of(comp))
        for f in os.listdir(comp):
            A.check(not mode_of(os.path.join(comp, f)) & 0o002,
                    "%s is not world-writable: %o" % (f, mode_of(os.path.join(comp, f))))

    # 2. a 0600 env: the companion and the syncer's files no wider
    e = user_dir(os.path.join(root, "narrow"))
    store = user_dir(os.path.join(root, "store"))
    write(NOBODY, e, "0600", "022")
    stale = os.path.join(e, "mdbtap", ".tmp.999999.0")  # a killed writer's half journal
    with open(stale, "wb") as f:
        f.truncate(65536)
    os.chown(stale, NOBODY, NOBODY)
    os.chmod(stale, 0o600)
    os.utime(stale, (1, 1))
    r = sync_once(NOBODY, e, store)
    A.check(not os.path.exists(stale), "the syncer removed a stale temporary journal")
    A.eq(r.returncode, 0, "a sync of the 0600 env: " + r.stderr)
    comp = os.path.join(e, "mdbtap")
    A.eq(mode_of(comp) & 0o077, 0, "companion dir of a 0600 env: %o" % mode_of(comp))
    for dirpath, dirs, files in os.walk(comp):
        for f in files + dirs:
            p = os.path.join(dirpath, f)
            A.eq(mode_of(p) & 0o077, 0, "%s of a 0600 env: %o" % (os.path.relpath(p, e),
                                                                 mode_of(p)))
    objs = [os.path.join(dp, f) for dp, _, fs in os.walk(store) for f in fs]
    A.check(objs, "the syncer uploaded objects")
    for p in objs:
        A.eq(mode_of(p) & 0o077, 0, "store object of a 0600 env: %s %o"
             % (os.path.relpath(p, store), mode_of(p)))

    # 3. a root host on nobody's env: the companion is nobody's
    e = user_dir(os.path.join(root, "rooted"))
    write(NOBODY, e, "0644", "022", extra={"MDBTAP_DISABLE": "1"})
    write(0, e)
    comp = os.path.join(e, "mdbtap")
    A.eq(os.lstat(comp).st_uid, NOBODY, "a root host made nobody's companion dir nobody's")
    A.eq(os.lstat(os.path.join(comp, "journal")).st_uid, NOBODY, "... and its journal")
    write(NOBODY, e)  # and nobody's own program can use it
    r = as_user(NOBODY, [A.MDBTAP, "journal", "--json", e], preload=False)
    A.eq(r.stdout.count('"txnid"'), 2, "both writers journaled: " + r.stdout + r.stderr)

    # 4. a companion dir owned by another user: not used
    shared = user_dir(os.path.join(root, "shared"), 0, 0o1777)
    e = user_dir(os.path.join(shared, "env"), NOBODY, 0o777)
    comp = user_dir(os.path.join(e, "mdbtap"), OTHER, 0o755)
    write(NOBODY, e)
    A.eq(os.listdir(comp), [], "the tap did not use another user's companion dir")
    r = sync_once(NOBODY, e, store)
    A.check(r.returncode != 0 and "not used" in r.stderr,
            "the syncer refuses another user's companion dir and says why: %d %s"
            % (r.returncode, r.stderr))

    # 5. a world-writable companion dir: not used
    e = user_dir(os.path.join(root, "open"))
    comp = user_dir(os.path.join(e, "mdbtap"), NOBODY, 0o777)
    write(NOBODY, e)
    A.eq(os.listdir(comp), [], "the tap did not use a world-writable companion dir")
    r = sync_once(NOBODY, e, store)
    A.check(r.returncode != 0 and "not used" in r.stderr,
            "the syncer refuses a world-writable companion dir and says why: %d %s"
            % (r.returncode, r.stderr))

    # 6. the env's owner points the journal at another env's data file; a
    # root host writes: that file stays as it was
    victim = os.path.join(root, "victim")
    write(0, victim, extra={"MDBTAP_DISABLE": "1"})
    vdata = os.path.join(victim, "data.mdb")
    before = open(vdata, "rb").read()
    e = user_dir(os.path.join(root, "evil"))
    write(NOBODY, e, extra={"MDBTAP_DISABLE": "1"})
    comp = os.path.join(e, "mdbtap")
    as_user(NOBODY, ["mkdir", "-m", "755", comp], preload=False)
    as_user(NOBODY, ["ln", "-s", vdata, os.path.join(comp, "journal")], preload=False)
    A.check(os.path.islink(os.path.join(comp, "journal")), "the symlink is planted")
    write(0, e)
    A.check(open(vdata, "rb").read() == before,
            "a root host left the file the journal's symlink points at alone")
    r = sync_once(0, e, store)
    A.check(r.returncode != 0 and "not used" in r.stderr, "the syncer refuses the symlinked "
            "journal and says why: %s" % r.stderr)
    A.check(open(vdata, "rb").read() == before, "... and so does the syncer")

    # 7. MDBTAP_LOG naming a symlink: not followed
    target = os.path.join(root, "precious")
    with open(target, "w") as f:
        f.write("precious\n")
    link = os.path.join(root, "log")
    os.symlink(target, link)
    e = user_dir(os.path.join(root, "logged"))
    write(NOBODY, e, extra={"MDBTAP_DISABLE": "1"})
    open(os.path.join(e, "mdbtap"), "w").close()  # no companion dir: the tap logs that
    write(0, e, extra={"MDBTAP_LOG": link})
    A.eq(open(target).read(), "precious\n", "the tap's log did not follow a symlink")

    # 8. MDBTAP_LOG naming a FIFO another user planted: not opened for
    # good (a blocking open would hang the host), nothing written
    logs = user_dir(os.path.join(root, "logs"), uid=OTHER)
    fifo = os.path.join(logs, "tap.log")
    r = as_user(OTHER, ["mkfifo", fifo], preload=False)
    A.eq(r.returncode, 0, "the attacker makes a FIFO: " + r.stderr)
    try:
        r = as_user(0, [PY, "-c", WRITE, e, "0644", "022"], extra={"MDBTAP_LOG": fifo},
                    timeout=30)
        A.eq((r.returncode, r.stdout), (0, "ok\n"), "a host logging to a FIFO: " + r.stderr)
    except subprocess.TimeoutExpired:
        A.check(False, "a host logging to a FIFO hung")

    # 9. MDBTAP_LOG through a directory another user replaced with a
    # symlink (to a root-only one): no component is followed; the same
    # log in a real directory, by a relative path too, is written
    public = user_dir(os.path.join(root, "public"), uid=0, mode=0o777)
    rootonly = os.path.join(root, "rootonly")
    os.mkdir(rootonly, 0o700)
    r = as_user(OTHER, ["ln", "-s", rootonly, os.path.join(public, "mdbtap")], preload=False)
    A.eq(r.returncode, 0, "the attacker plants the symlink: " + r.stderr)
    write(0, e, extra={"MDBTAP_LOG": os.path.join(public, "mdbtap", "tap.log")})
    A.eq(os.listdir(rootonly), [], "the tap's log did not follow a symlinked directory")
    real = os.path.join(root, "reallogs", "sub")
    os.makedirs(real)
    write(0, e, extra={"MDBTAP_LOG": os.path.join(real, "tap.log")})
    A.check(os.path.exists(os.path.join(real, "tap.log")), "the tap logs to a real directory")
    r = subprocess.run([PY, "-c", WRITE, e, "0644", "022"], cwd=root, capture_output=True,
                       text=True, timeout=60, env=dict(A.base_env({"MDBTAP_LOG":
                                                                   "reallogs/sub/rel.log"}),
                                                       LD_PRELOAD=A.PRELOAD))
    A.eq(r.returncode, 0, "a host with a relative MDBTAP_LOG: " + r.stderr)
    A.check(os.path.exists(os.path.join(real, "rel.log")), "... and by a relative path")
    A.finish()


if __name__ == "__main__":
    main()

"""One syncer per env through any path, and bad input that creates nothing
(issue 10; docs/DESIGN.md §10, §12). Every env of a run is checked and
claimed before anything is created.

  test_claim.py --hardlink | --nolock-dir | --nonempty-dir | --config-bad-store
                | --busy-create-store | --s3-no-bucket
"""
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import apputil as A  # noqa: E402

WRITE = "import lmdb, sys\n" \
        "e = lmdb.open(sys.argv[1], subdir=sys.argv[2] == 'dir', lock=sys.argv[3] == 'lock')\n" \
        "with e.begin(write=True) as t:\n    t.put(b'k', b'v')\n"


def tapped_env(path, subdir, lock):
    w = subprocess.run([sys.executable, "-c", WRITE, path, "dir" if subdir else "file",
                        "lock" if lock else "nolock"], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, LD_PRELOAD=A.PRELOAD))
    A.eq(w.returncode, 0, "python3-lmdb: " + w.stderr)


def sync_argv(env, store, instance, *extra):
    return [A.MDBTAP, "sync", "--env", env, "--store", "file://" + store, "--instance",
            instance, *extra]


def pid_in(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def second_refused(first_argv, lockfile, second_argv, what):
    """Start a syncer (first_argv) until it holds lockfile, run the second
    with --once; the second must be refused at once, the first go on.
    Returns the second's stderr."""
    first = subprocess.Popen(first_argv + ["--poll-interval", "50ms"],
                             stderr=subprocess.DEVNULL)
    try:
        A.wait_for("the first syncer's lock", lambda: pid_in(lockfile) == str(first.pid))
        p = subprocess.run(second_argv + ["--once"], capture_output=True, text=True,
                           timeout=60)
        A.check(p.returncode != 0 and "another syncer" in p.stderr,
                "%s: the second syncer is refused: %s" % (what, p.stderr))
        A.check(first.poll() is None, what + ": the first syncer still runs")
        return p.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


def hardlink():
    """A NOSUBDIR env reached through a hard link of its data file: the
    second syncer is refused (the lock follows the file, not its name),
    names the first one's PID, and makes no second companion."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)
    f, alias = os.path.join(root, "env.db"), os.path.join(root, "alias.db")
    tapped_env(f, False, True)
    os.link(f, alias)
    first = sync_argv(f, store, "a")
    err = second_refused(first, f + "-mdbtap/syncer.lock", sync_argv(alias, store, "a"),
                         "a hard link")
    A.check("another path" in err and "hard link" in err, "the refusal says why: " + err)
    A.check(not os.path.exists(alias + "-mdbtap"), "no companion beside the hard link")
    # and the other way round: the link's syncer first
    p = subprocess.run(sync_argv(alias, store, "a", "--once"), capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "a syncer runs through the link alone: " + p.stderr[-500:])
    second_refused(sync_argv(alias, store, "a"), alias + "-mdbtap/syncer.lock",
                   sync_argv(f, store, "a"), "the link's syncer first")


def nolock_dir():
    """A directory env opened with MDB_NOLOCK (no lock.mdb): DIR/data.mdb is
    refused as the env's file, while a syncer runs on DIR and when none
    does; the tap and the syncer share DIR's companion."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    env = os.path.join(root, "env")
    os.makedirs(store)
    os.makedirs(env)
    tapped_env(env, True, False)
    A.check(not os.path.exists(os.path.join(env, "lock.mdb")), "no lock.mdb (MDB_NOLOCK)")
    A.check(os.path.isdir(os.path.join(env, "mdbtap")), "the tap journals in DIR/mdbtap")
    data = os.path.join(env, "data.mdb")
    first = subprocess.Popen(sync_argv(env, store, "a", "--poll-interval", "50ms"),
                             stderr=subprocess.DEVNULL)
    try:
        A.wait_for("the first syncer's lock",
                   lambda: pid_in(os.path.join(env, "mdbtap", "syncer.lock")) == str(first.pid))
        p = subprocess.run(sync_argv(data, store, "a2", "--once"), capture_output=True,
                           text=True, timeout=60)
        A.check(p.returncode != 0, "DIR/data.mdb refused while DIR's syncer runs: " + p.stderr)
        A.check(first.poll() is None, "the first syncer still runs")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    p = subprocess.run(sync_argv(data, store, "a2", "--once"), capture_output=True, text=True,
                       timeout=60)
    A.check(p.returncode != 0 and "give the env's directory" in p.stderr,
            "DIR/data.mdb refused alone, saying what to give: " + p.stderr)
    A.eq(sorted(os.listdir(env)), ["data.mdb", "mdbtap"], "no second companion")


def nonempty_dir():
    """--env naming a directory of other files that holds no env (the env's
    parent: a typo) is refused and nothing is created there or in the
    store; the real env's syncer goes on. An empty directory, and one
    holding only what a deleted env leaves (mdbtap/), still become envs."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    app = os.path.join(root, "app")
    real = os.path.join(app, "data.lmdb")
    os.makedirs(store)
    os.makedirs(real)
    with open(os.path.join(app, "config.yaml"), "w") as f:
        f.write("some: config\n")
    tapped_env(real, True, True)
    p = subprocess.run(sync_argv(real, store, "a", "--once"), capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "the real env syncs: " + p.stderr[-500:])
    before = sorted(os.listdir(store))
    p = subprocess.run(sync_argv(app, store, "a", "--once"), capture_output=True, text=True,
                       timeout=60)
    A.check(p.returncode != 0, "a non-empty directory without an env is refused")
    A.check("not empty" in p.stderr and ("config.yaml" in p.stderr or "data.lmdb" in p.stderr),
            "the refusal says why: " + p.stderr)
    A.eq(sorted(os.listdir(app)), ["config.yaml", "data.lmdb"], "nothing created in it")
    A.eq(sorted(os.listdir(store)), before, "nothing uploaded")
    p = subprocess.run(sync_argv(real, store, "a", "--once"), capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "the real env's syncer goes on: " + p.stderr[-500:])
    # an empty directory becomes an env, as the README says
    empty = os.path.join(root, "empty")
    os.makedirs(empty)
    p = subprocess.run(sync_argv(empty, store, "b", "--once"), capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "an empty directory becomes an env: " + p.stderr[-500:])
    A.check(os.path.exists(os.path.join(empty, "data.mdb")), "its data.mdb was created")
    # its data deleted, its companion kept: still an env to start again
    for n in ("data.mdb", "lock.mdb"):
        os.remove(os.path.join(empty, n))
    p = subprocess.run(sync_argv(empty, store, "b", "--once"), capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "a directory with only mdbtap/ becomes an env: " + p.stderr[-500:])


def config_bad_store():
    """A config whose second env names a directory store that does not
    exist: refused, and the first env's empty directory stays empty."""
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    e1, e3 = os.path.join(root, "e1"), os.path.join(root, "e3")
    for d in (store, e1, e3):
        os.makedirs(d)
    conf = os.path.join(root, "c.yaml")
    with open(conf, "w") as f:
        f.write("instance: a\nenvs:\n  one:\n    path: %s\n    store: file://%s\n"
                "  three:\n    path: %s\n    store: file://%s\n"
                % (e1, store, e3, os.path.join(root, "nostore")))
    for once in (["--once"], []):
        p = subprocess.run([A.MDBTAP, "sync", "--config", conf] + once, capture_output=True,
                           text=True, timeout=60)
        A.check(p.returncode != 0 and "nostore" in p.stderr,
                "the config is refused %s: %s" % (once, p.stderr))
        A.eq(os.listdir(e1), [], "the first env's directory stays empty %s" % once)
        A.eq(os.listdir(e3), [], "the second env's directory stays empty %s" % once)
        A.eq(os.listdir(store), [], "nothing uploaded %s" % once)


def busy_create_store():
    """A second syncer on a busy env, given --create-store and a new store
    path, is refused before it creates the store."""
    root = A.fresh_tmp()
    store, typo = os.path.join(root, "store"), os.path.join(root, "typo-store")
    env = os.path.join(root, "env")
    os.makedirs(store)
    os.makedirs(env)
    tapped_env(env, True, True)
    second_refused(sync_argv(env, store, "a"), os.path.join(env, "mdbtap", "syncer.lock"),
                   sync_argv(env, typo, "a", "--create-store"), "--create-store")
    A.check(not os.path.exists(typo), "the new store was not created")


def s3_no_bucket():
    """An S3 store whose bucket does not exist (a typo: 404 NoSuchBucket),
    on an empty env dir: refused, nothing created; the real bucket works."""
    from s3server import S3Server
    root = A.fresh_tmp()
    env = os.path.join(root, "env")
    os.makedirs(env)
    creds = dict(os.environ, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER")
    with S3Server(os.path.join(root, "s3"), bucket="real") as s3:
        def run(bucket):
            url = "s3://%s/prefix?endpoint=%s&retries=0" % (bucket, s3.endpoint)
            return subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store", url,
                                   "--instance", "a"], capture_output=True, text=True,
                                  timeout=120, env=creds)
        p = run("reall")
        A.check(p.returncode != 0 and "NoSuchBucket" in p.stderr,
                "a missing bucket is refused: " + p.stderr[-800:])
        A.eq(os.listdir(env), [], "nothing created in the env dir")
        p = run("real")
        A.eq(p.returncode, 0, "the real bucket works: " + p.stderr[-800:])
        A.check(os.path.exists(os.path.join(env, "data.mdb")), "the env was created")


def main():
    modes = {"--hardlink": hardlink, "--nolock-dir": nolock_dir,
             "--nonempty-dir": nonempty_dir, "--config-bad-store": config_bad_store,
             "--busy-create-store": busy_create_store, "--s3-no-bucket": s3_no_bucket}
    modes[sys.argv[1]]()
    A.finish()


if __name__ == "__main__":
    main()

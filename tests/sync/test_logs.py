"""sync_logs: the syncer's log and signals on the real binary: --verbose
turns the debug lines on, --log-level error leaves only errors,
--log-format json writes one JSON object per line, SIGHUP reopens a
rotated log file, SIGTERM lets the cycle finish and exits 0, and a
secret given in the config never reaches the log.
"""
import json
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "apps"))
import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
SECRET = "Zq9SECRETvalue0123456789abcdefXYZ"


def write_env(path, n):
    subprocess.run([PY, "-c", "import sys, lmdb\n"
                    "e = lmdb.open(sys.argv[1], max_dbs=2)\n"
                    "with e.begin(write=True) as t:\n"
                    "    [t.put(b'k%d' % i, b'v') for i in range(int(sys.argv[2]))]\n",
                    path, str(n)], check=True, timeout=60)


def read(path):
    return open(path).read() if os.path.exists(path) else ""


def sync_once(args, env=None):
    return subprocess.run([A.MDBTAP, "sync", "--once"] + args, capture_output=True, text=True,
                          timeout=120, env=A.base_env(env))


def main():
    root = A.fresh_tmp()
    store = os.path.join(root, "store")
    os.makedirs(store)  # mdbtap creates none unless told
    a, b, c = (os.path.join(root, n) for n in "abc")
    for p, n in ((a, 3), (b, 5), (c, 2)):
        write_env(p, n)
    r = sync_once(["--env", b, "--store", store, "--instance", "b"])
    A.eq(r.returncode, 0, "b exports: " + r.stderr)

    # Levels: the default (info) has no debug line; error leaves no info.
    r = sync_once(["--env", c, "--store", store, "--instance", "c"])
    A.eq(r.returncode, 0, "c syncs: " + r.stderr)
    A.check(" info: " in r.stderr and " debug: " not in r.stderr,
            "the default level logs info and not debug: " + r.stderr)
    r = sync_once(["--env", c, "--store", store, "--instance", "c", "--log-level", "error"])
    A.eq((r.returncode, r.stderr), (0, ""), "--log-level error: nothing to say")
    r = sync_once(["--env", c, "--store", store, "--instance", "c", "--log-level", "loud"])
    A.eq(r.returncode, 2, "a bad --log-level is a usage error")

    # A long-running syncer: debug lines as JSON, rotated, then stopped.
    log = os.path.join(root, "a.log")
    p = subprocess.Popen([A.MDBTAP, "sync", "--env", a, "--store", store, "--instance", "a",
                          "--poll-interval", "100ms", "--log-file", log, "--log-format", "json",
                          "--verbose"], env=A.base_env(), stderr=subprocess.PIPE, text=True)
    try:
        A.wait_for("a debug line (b's object applied)", lambda: '"level":"debug"' in read(log))
        lines = read(log).splitlines()
        for line in lines:
            try:
                o = json.loads(line)
                A.check(set(o) == {"time", "level", "msg"}, "JSON keys: " + line)
            except ValueError:
                A.fail("not one JSON object: %r" % line)
        A.check(any("applied" in json.loads(x)["msg"] for x in lines if x.startswith("{")),
                "the debug line says what was applied")
        os.rename(log, log + ".1")
        p.send_signal(signal.SIGHUP)
        A.wait_for("the log file reopened after SIGHUP", lambda: "reopened" in read(log))
        A.check("reopened" not in read(log + ".1"), "the old file is left alone")
        write_env(a, 7)   # work for the cycle SIGTERM lets finish
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    A.eq(rc, 0, "SIGTERM: exit status 0 (stderr: %s)" % p.stderr.read())
    last = read(log).splitlines()
    A.check(bool(last) and "stopping" in json.loads(last[-1])["msg"],
            "the last line says it stopped after the cycle: %r" % last[-1:])

    # A secret in the config never reaches the log, even in debug and
    # with a store that fails.
    cfg = os.path.join(root, "s3.yaml")
    with open(cfg, "w") as f:
        f.write("instance: s\nlog_level: debug\nenvs:\n  main:\n    path: %s\n"
                "    store: s3://bucket/p\n    store_options:\n"
                "      endpoint: http://127.0.0.1:1\n      access_key: AKIDEXAMPLE\n"
                "      secret_key: $T_SECRET\n      retries: 0\n"
                "      connect_timeout: 1s\n" % c)
    r = sync_once(["-c", cfg], {"T_SECRET": SECRET})
    A.check(r.returncode != 0, "a store that refuses connections fails --once")
    A.check(" error: " in r.stderr, "the failure is logged: " + r.stderr)
    A.check(SECRET not in r.stderr and SECRET[:12] not in r.stderr,
            "the secret is not in the log: " + r.stderr)
    A.finish()


if __name__ == "__main__":
    main()

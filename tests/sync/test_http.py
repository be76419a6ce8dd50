"""sync_http: the syncer's HTTP endpoint on 127.0.0.1 (--listen):
/readyz is 503 until the initial sync is done (here: until the env's
path appears and b's data is merged into it), then 200; /healthz turns
503 with a reason while a store fails; /metrics is Prometheus text that
`promtool check metrics` accepts, with the counters moving. And the
alert rules in tools/prometheus pass `promtool test rules`.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "apps"))
import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
PROMTOOL = "/usr/bin/promtool"
SRC = os.environ.get("MDBTAP_SOURCE_DIR", os.path.join(HERE, "..", ".."))


def write_env(path, n):
    subprocess.run([PY, "-c", "import sys, lmdb\n"
                    "e = lmdb.open(sys.argv[1], max_dbs=2)\n"
                    "with e.begin(write=True) as t:\n"
                    "    [t.put(b'k%d' % i, b'v') for i in range(int(sys.argv[2]))]\n",
                    path, str(n)], check=True, timeout=60)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path):
    """(status, body), or (None, error) while nothing listens."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError) as e:
        return None, str(e)


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all('%s="%s"' % kv in line for kv in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def first_cycle(root):
    """A store that accepts connections and never answers: the first cycle
    hangs in its first request. /metrics already names the env and the
    instance (it once said env="",instance="" until a cycle ended)."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    env = A.base_env({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    port = free_port()
    write_env(os.path.join(root, "h"), 1)
    p = subprocess.Popen([A.MDBTAP, "sync", "--env", os.path.join(root, "h"), "--instance", "h",
                          "--store", "s3://bucket/p?endpoint=http://127.0.0.1:%d&retries=0"
                          "&low_speed_time=1h" % ls.getsockname()[1],
                          "--listen", str(port), "--log-file", os.path.join(root, "h.log")],
                         env=env)
    try:
        A.wait_for("the endpoint", lambda: get(port, "/metrics")[0] is not None)
        st, text = get(port, "/metrics")
        A.eq(st, 200, "/metrics during the first cycle")
        A.check('env=""' not in text and 'instance=""' not in text,
                "no empty labels during the first cycle")
        A.eq(metric(text, "mdbtap_env_up", env="main", instance="h"), 0.0,
             "the env named during the first cycle")
    finally:
        rc = stop(p)
        ls.close()
    A.eq(rc, 0, "SIGTERM during a request: exit 0")


def map_full(root):
    """Another instance's data does not fit in the env's map: the env does
    not hold the fleet's data, so the syncer is not ready, its cycles fail
    (/healthz), and no element counts as merged while every merge aborts
    (it once said ready and healthy, and counted the aborted batch's
    elements again at each cycle)."""
    store = os.path.join(root, "fullstore")
    os.makedirs(store)  # mdbtap creates none unless told
    big, small = os.path.join(root, "big"), os.path.join(root, "small")
    subprocess.run([PY, "-c", "import sys, lmdb\n"
                    "e = lmdb.open(sys.argv[1], map_size=64 << 20)\n"
                    "with e.begin(write=True) as t:\n"
                    "    [t.put(b'k%d' % i, b'x' * 1000) for i in range(2000)]\n"
                    "e = lmdb.open(sys.argv[2], map_size=128 << 10)\n"
                    "with e.begin(write=True) as t:\n"
                    "    t.put(b'z', b'1')\n", big, small], check=True, timeout=60)
    r = subprocess.run([A.MDBTAP, "sync", "--once", "--env", big, "--store", store,
                        "--instance", "big"], capture_output=True, text=True, timeout=120,
                       env=A.base_env())
    A.eq(r.returncode, 0, "big exports: " + r.stderr)
    port = free_port()
    p = subprocess.Popen([A.MDBTAP, "sync", "--env", small, "--store", store, "--instance",
                          "small", "--poll-interval", "100ms", "--listen", str(port),
                          "--log-file", os.path.join(root, "small.log")], env=A.base_env())

    def cycles():
        return metric(get(port, "/metrics")[1], "mdbtap_cycles_total") or 0

    try:
        A.wait_for("the endpoint", lambda: get(port, "/readyz")[0] is not None)
        A.wait_for("3 cycles", lambda: cycles() >= 3)
        merged = metric(get(port, "/metrics")[1], "mdbtap_elements_merged_total")
        n = cycles()
        A.wait_for("3 more cycles", lambda: cycles() >= n + 3)
        A.eq(metric(get(port, "/metrics")[1], "mdbtap_elements_merged_total"), merged,
             "no element merged by merges that abort")
        A.eq(get(port, "/readyz")[0], 503, "not ready while the fleet's data does not fit")
        A.check((metric(get(port, "/metrics")[1], "mdbtap_cycles_failed_total") or 0) >= 3,
                "the cycles fail while the fleet's data does not fit")
        A.wait_for("/healthz 503", lambda: get(port, "/healthz")[0] == 503)
    finally:
        rc = stop(p)
    A.eq(rc, 0, "SIGTERM: exit 0")


def bad_listen(root):
    """Listen addresses whose port is not 1..65535 are refused (4294967297
    once listened on port 1, 0 on a port of the kernel's choosing)."""
    env = os.path.join(root, "l")
    write_env(env, 1)
    os.makedirs(os.path.join(root, "lstore"))
    for addr in ("4294967297", "127.0.0.1:65537", "0", "127.0.0.1:00000", "000080"):
        r = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store",
                            os.path.join(root, "lstore"), "--instance", "l", "--listen", addr],
                           capture_output=True, text=True, timeout=60, env=A.base_env())
        A.check(r.returncode != 0 and "listen address" in r.stderr,
                "--listen %s refused: rc %d %s" % (addr, r.returncode, r.stderr))


def commit_lag(root):
    """The merge lag runs from the remote commit, not from the object's
    making: a commit exported 4 s later and merged at once has a lag of
    at least 4 s (it once measured the time since the export)."""
    store = os.path.join(root, "lagstore")
    os.makedirs(store)  # mdbtap creates none unless told
    a, b = os.path.join(root, "la"), os.path.join(root, "lb")
    write_env(a, 1)
    write_env(b, 1)

    def sync(env, inst):
        r = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store", store,
                            "--instance", inst], capture_output=True, text=True, timeout=120,
                           env=A.base_env())
        A.eq(r.returncode, 0, "sync %s: %s" % (inst, r.stderr))

    sync(b, "lb")
    sync(a, "la")   # a follows b's chain: the next object is b's delta
    r = A.run([PY, "-c", "import sys, lmdb\n"
               "e = lmdb.open(sys.argv[1], max_dbs=2)\n"
               "with e.begin(write=True) as t:\n"
               "    t.put(b'new', b'v')\n", b], preload=A.PRELOAD, timeout=60)
    A.eq(r.rc, 0, "a tapped commit on b: " + r.err.decode())
    time.sleep(4)
    sync(b, "lb")
    sync(a, "la")
    st = subprocess.run([A.MDBTAP, "status", "--json", a], capture_output=True, text=True,
                        timeout=60)
    d = json.loads(st.stdout)
    A.eq(d.get("lag_count"), 1, "one object applied: %r" % d)
    A.check(d.get("lag_sum_ns", 0) >= 4e9, "the lag runs from the commit: %r" % d)


def journal_dropping(root):
    """Records dropped by the tap's ring while the syncer runs make
    /healthz 503 with the reason (it said ok: only failed cycles counted)."""
    env = os.path.join(root, "drop")
    code = ("import sys, lmdb\n"
            "e = lmdb.open(sys.argv[1], max_dbs=2, map_size=1 << 28, sync=False,\n"
            "              metasync=False)\n"
            "for i in range(int(sys.argv[2])):\n"
            "    with e.begin(write=True) as t:\n"
            "        t.put(b'k%d' % i, b'x' * 40)\n")
    small = {"MDBTAP_JOURNAL_SIZE": "64k"}
    r = A.run([PY, "-c", code, env, "1"], preload=A.PRELOAD, extra_env=small, timeout=60)
    A.eq(r.rc, 0, "the env with a 64k ring: " + r.err.decode())
    port = free_port()
    os.makedirs(os.path.join(root, "dropstore"))
    p = subprocess.Popen([A.MDBTAP, "sync", "--env", env, "--store",
                          os.path.join(root, "dropstore"), "--instance", "d",
                          "--poll-interval", "2s", "--listen", str(port),
                          "--log-file", os.path.join(root, "drop.log")], env=A.base_env())
    try:
        A.wait_for("/readyz 200", lambda: get(port, "/readyz")[0] == 200)
        A.eq(get(port, "/healthz")[0], 200, "healthy before any drop")
        # 20000 records of about 60 bytes, without fsync: over 1 MB between
        # two folds 2 s apart
        r = A.run([PY, "-c", code, env, "20000"], preload=A.PRELOAD, extra_env=small,
                  timeout=120)
        A.eq(r.rc, 0, "the writer: " + r.err.decode())
        A.wait_for("/healthz 503 (dropping)", lambda: get(port, "/healthz")[0] == 503)
        st, body = get(port, "/healthz")
        A.check('"dropping"' in body and '"env":"main"' in body, "the reason: " + body)
        A.check((metric(get(port, "/metrics")[1], "mdbtap_journal_dropped_records_total")
                 or 0) > 0, "dropped records counted")
    finally:
        rc = stop(p)
    A.eq(rc, 0, "SIGTERM: exit 0")


def exported_and_conflicts(root):
    """Elements exported and merge conflicts, counted right: a writes k0..k4
    and exports them (5 elements); b then writes k0 and k1, a writes k1
    again; when a merges b's object, b's k0 (newer) wins a conflict and
    b's k1 (older than a's) loses one. Store requests carry their outcome."""
    store = os.path.join(root, "cstore")
    os.makedirs(store)  # mdbtap creates none unless told
    a, b = os.path.join(root, "ca"), os.path.join(root, "cb")

    def write(env, keys, val):
        r = A.run([PY, "-c", "import sys, lmdb\n"
                   "e = lmdb.open(sys.argv[1], max_dbs=2)\n"
                   "with e.begin(write=True) as t:\n"
                   "    [t.put(k.encode(), sys.argv[2].encode()) for k in sys.argv[3:]]\n",
                   env, val] + keys, preload=A.PRELOAD, timeout=60)
        A.eq(r.rc, 0, "a tapped commit: " + r.err.decode())

    def sync(env, inst):
        r = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store", store,
                            "--instance", inst], capture_output=True, text=True, timeout=120,
                           env=A.base_env())
        A.eq(r.returncode, 0, "sync %s: %s" % (inst, r.stderr))
        st = subprocess.run([A.MDBTAP, "status", "--json", env], capture_output=True,
                            text=True, timeout=60)
        return json.loads(st.stdout)

    write(a, ["k%d" % i for i in range(5)], "a")
    d = sync(a, "ca")
    A.eq(d.get("elements_exported"), 5, "a's 5 elements exported: %r" % d)
    write(b, ["k0", "k1"], "b")   # after a's commit: later timestamps
    d = sync(b, "cb")
    A.eq((d.get("conflicts_won"), d.get("conflicts_lost")), (0, 2),
         "b keeps its newer k0 and k1: %r" % d)
    write(a, ["k1"], "a2")        # after b's: a's k1 is the newest
    port = free_port()
    p = subprocess.Popen([A.MDBTAP, "sync", "--env", a, "--store", store, "--instance", "ca",
                          "--poll-interval", "100ms", "--listen", str(port),
                          "--log-file", os.path.join(root, "ca.log")], env=A.base_env())
    try:
        A.wait_for("b's object merged", lambda: (metric(
            get(port, "/metrics")[1], "mdbtap_objects_applied_total") or 0) >= 1)
        A.wait_for("a's k1 exported", lambda: (metric(
            get(port, "/metrics")[1], "mdbtap_elements_exported_total") or 0) >= 1)
        text = get(port, "/metrics")[1]
        A.eq(metric(text, "mdbtap_merge_conflicts_total", result="won"), 1.0,
             "b's newer k0 won")
        A.eq(metric(text, "mdbtap_merge_conflicts_total", result="lost"), 1.0,
             "b's older k1 lost")
        A.eq(metric(text, "mdbtap_elements_merged_total"), 1.0, "one element merged")
        A.eq(metric(text, "mdbtap_elements_exported_total"), 1.0, "a's new k1 exported")
        A.check((metric(text, "mdbtap_store_requests_total", type="put", outcome="ok") or 0)
                >= 1, "PUT ok counted")
        A.eq(metric(text, "mdbtap_store_requests_total", type="put", outcome="error"), 0.0,
             "no PUT failed")
        A.check((metric(text, "mdbtap_store_requests_total", type="get", outcome="ok") or 0)
                >= 1, "GET ok counted")
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        A.check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
                "promtool check metrics: " + r.stdout + r.stderr)
    finally:
        rc = stop(p)
    A.eq(rc, 0, "SIGTERM: exit 0")
    d = json.loads(subprocess.run([A.MDBTAP, "status", "--json", a], capture_output=True,
                                  text=True, timeout=60).stdout)
    A.eq((d.get("conflicts_won"), d.get("conflicts_lost")), (1, 1), "status: %r" % d)
    st = subprocess.run([A.MDBTAP, "status", a], capture_output=True, text=True, timeout=60)
    A.check("1 won by the remote version, 1 lost" in st.stdout, "status: " + st.stdout)


def main():
    root = A.fresh_tmp()
    exported_and_conflicts(root)
    journal_dropping(root)
    commit_lag(root)
    bad_listen(root)
    first_cycle(root)
    map_full(root)
    store = os.path.join(root, "store")
    os.makedirs(store)  # mdbtap creates none unless told
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    write_env(b, 20)
    r = subprocess.run([A.MDBTAP, "sync", "--once", "--env", b, "--store", store, "--instance",
                        "b"], capture_output=True, text=True, timeout=120, env=A.base_env())
    A.eq(r.returncode, 0, "b exports: " + r.stderr)

    # a does not exist yet: the syncer waits for it, and is not ready.
    port = free_port()
    p = subprocess.Popen([A.MDBTAP, "sync", "--env", a, "--store", store, "--instance", "a",
                          "--poll-interval", "100ms", "--listen", "127.0.0.1:%d" % port,
                          "--log-file", os.path.join(root, "a.log")], env=A.base_env())
    try:
        A.wait_for("the endpoint", lambda: get(port, "/readyz")[0] is not None)
        st, body = get(port, "/readyz")
        A.eq(st, 503, "/readyz before the initial sync: " + body)
        print("before: /readyz %s %s" % (st, body.strip()))
        A.eq(get(port, "/healthz")[0], 200, "/healthz while waiting for the env")
        A.eq(get(port, "/nothing")[0], 404, "an unknown path")
        write_env(a, 1)
        A.wait_for("/readyz 200", lambda: get(port, "/readyz")[0] == 200)
        print("after: /readyz %s %s" % get(port, "/readyz"))
        dump = subprocess.run([A.MDBTAP, "dump", a], capture_output=True, text=True,
                              timeout=60).stdout
        A.check(dump.count('"deleted": false') + dump.count('"deleted":false') >= 20,
                "ready: a holds b's 20 keys")
        # cycles_total counts the cycles spent waiting for the env too: wait
        # for the listings themselves
        A.wait_for("cycles after ready", lambda: (metric(get(port, "/metrics")[1],
                                                         "mdbtap_store_requests_total",
                                                         type="list") or 0) >= 3)
        st, text = get(port, "/metrics")
        A.eq(st, 200, "/metrics")
        with open(os.path.join(root, "metrics.txt"), "w") as f:
            f.write(text)
        print(text)
        # the syncer's instance label on every sample (honor_labels)
        A.eq(metric(text, "mdbtap_ready", instance="a"), 1.0, "mdbtap_ready")
        A.eq(metric(text, "mdbtap_build_info", instance="a"), 1.0, "build info's instance")
        A.check((metric(text, "mdbtap_objects_applied_total", env="main", instance="a") or 0)
                >= 1, "objects applied counted")
        A.check((metric(text, "mdbtap_store_requests_total", type="list") or 0) >= 3,
                "LIST requests counted")
        A.check(metric(text, "mdbtap_build_info") == 1.0, "build info")
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        A.check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
                "promtool check metrics: " + r.stdout + r.stderr)
    finally:
        rc = stop(p)
    A.eq(rc, 0, "SIGTERM: exit 0")

    # A store that refuses: /healthz turns 503 with a reason; never ready.
    port = free_port()
    env = A.base_env({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    p = subprocess.Popen([A.MDBTAP, "sync", "--env", a, "--instance", "a",
                          "--store", "s3://bucket/p?endpoint=http://127.0.0.1:1&retries=0",
                          "--poll-interval", "100ms", "--listen", str(port),
                          "--log-file", os.path.join(root, "fail.log")], env=env)
    try:
        A.wait_for("/healthz 503", lambda: get(port, "/healthz")[0] == 503)
        st, body = get(port, "/healthz")
        print("failing store: /healthz %s %s" % (st, body.strip()))
        A.check('"reason"' in body and '"env":"main"' in body, "the reason: " + body)
        A.eq(get(port, "/readyz")[0], 503, "not ready while the store fails")
        A.check((metric(get(port, "/metrics")[1], "mdbtap_cycles_failed_total") or 0) >= 1,
                "failed cycles counted")
    finally:
        rc = stop(p)
    A.eq(rc, 0, "SIGTERM with a failing store: exit 0")

    rules = os.path.join(SRC, "tools", "prometheus")
    r = subprocess.run([PROMTOOL, "test", "rules", "mdbtap-alerts.test.yml"], cwd=rules,
                       capture_output=True, text=True, timeout=120)
    A.check(r.returncode == 0, "promtool test rules: " + r.stdout + r.stderr)
    A.finish()


if __name__ == "__main__":
    main()

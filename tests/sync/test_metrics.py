"""What an operator watches, on real processes on 127.0.0.1.

status: `mdbtap status` before any syncer ran (the journal's backlog and
dropped records, from the files), while one runs (running, its instances
and their ages, lag, rescans by reason, tombstones) and after it stopped;
and /metrics of that syncer: histograms in Prometheus's format done
right (cumulative buckets, +Inf equal to _count, _sum, HELP and TYPE
before the samples), the merge lag, store request durations, cycle
durations, journal backlog and dropped records, rescans by reason, the
age of the remote instance's newest object, tombstones held.

prometheus: Debian's prometheus server, started on a free loopback port
with tools/prometheus/prometheus.example.yml (pointed at a running
syncer) and a temporary storage dir, scrapes it: its API shows the target
up and mdbtap's values under the syncer's own instance label; every
expression of the Grafana dashboard (tools/grafana) runs, and names only
metrics the syncer exports; the alert rules load and evaluate.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import apputil as A

PY = "/usr/bin/python3"
PROMETHEUS = "/usr/bin/prometheus"
SRC = os.environ.get("MDBTAP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(SRC, "tools", "grafana", "mdbtap-dashboard.json")
PROMDIR = os.path.join(SRC, "tools", "prometheus")

WRITE = """import sys, lmdb
e = lmdb.open(sys.argv[1], max_dbs=2)
op, n = sys.argv[2], int(sys.argv[3])
if op == "txns":   # n small txns, one key each
    for i in range(n):
        with e.begin(write=True) as t:
            t.put(b"t%d" % i, b"x" * 40)
elif op == "put":
    with e.begin(write=True) as t:
        [t.put(b"%s%d" % (sys.argv[4].encode(), i), b"v") for i in range(n)]
elif op == "del":
    with e.begin(write=True) as t:
        [t.delete(b"t%d" % i) for i in range(n)]
"""


def write(path, *args, tap=True, journal_size=None):
    extra = {"MDBTAP_JOURNAL_SIZE": journal_size} if journal_size else {}
    r = A.run([PY, "-c", WRITE, path] + [str(a) for a in args],
              preload=A.PRELOAD if tap else None, extra_env=extra, timeout=120)
    A.eq(r.rc, 0, "writer %r: %s" % (args, r.err.decode()))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return None, str(e)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def parse(text):
    """{family: type}, [(name, {labels}, value)]; checks the format's rules
    on the way (HELP and TYPE once each, before the family's samples)."""
    types, helps, samples = {}, set(), []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            A.check(name not in helps, "HELP of %s once" % name)
            helps.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            A.check(name not in types, "TYPE of %s once" % name)
            A.check(name in helps, "HELP of %s before its TYPE" % name)
            types[name] = typ
        elif line and not line.startswith("#"):
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
            if not A.check(m, "a sample line: %r" % line):
                continue
            name, lbl, val = m.group(1), m.group(2) or "", float(m.group(3))
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', lbl))
            fam = name
            for suf in ("_bucket", "_sum", "_count"):
                if name.endswith(suf) and types.get(name[:-len(suf)]) == "histogram":
                    fam = name[:-len(suf)]
            A.check(fam in types, "%s: a sample after its family's TYPE" % name)
            samples.append((name, labels, val))
    return types, samples


def value(samples, name, **labels):
    for n, lb, v in samples:
        if n == name and all(lb.get(k) == str(x) for k, x in labels.items()):
            return v
    return None


def check_histograms(types, samples):
    """Each series: buckets by ascending le, cumulative, +Inf last and equal
    to _count; _sum there. Returns how many series were seen."""
    series = {}
    for n, lb, v in samples:
        for suf in ("_bucket", "_sum", "_count"):
            fam = n[:-len(suf)]
            if n.endswith(suf) and types.get(fam) == "histogram":
                key = (fam, tuple(sorted((k, x) for k, x in lb.items() if k != "le")))
                s = series.setdefault(key, {"buckets": []})
                if suf == "_bucket":
                    s["buckets"].append((float(lb["le"]), v))
                else:
                    s[suf] = v
    for (fam, key), s in series.items():
        what = "%s%r" % (fam, dict(key))
        les = [le for le, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        A.check(les == sorted(les) and les and les[-1] == float("inf"),
                what + ": buckets by ascending le, +Inf last: %r" % les)
        A.check(all(a <= b for a, b in zip(counts, counts[1:])),
                what + ": cumulative bucket counts: %r" % counts)
        A.check("_count" in s and "_sum" in s, what + ": _sum and _count")
        A.eq(counts[-1] if counts else None, s.get("_count"), what + ": +Inf bucket = _count")
        A.check(s.get("_sum", 0) >= 0, what + ": _sum")
    return len(series)


def status(path, *more):
    r = A.run([A.MDBTAP, "status", path] + list(more), timeout=60)
    A.eq(r.rc, 0, "mdbtap status %s: %s" % (path, r.err.decode()))
    return r.out.decode()


def setup(root):
    """b: 20 keys exported; a: tapped, journal of 64k overfilled."""
    store, a, b = (os.path.join(root, x) for x in ("store", "a", "b"))
    os.makedirs(store)  # mdbtap creates no store directory unless told
    write(b, "put", 20, "b", tap=False)
    r = A.run([A.MDBTAP, "sync", "--once", "--env", b, "--store", store, "--instance", "b"],
              timeout=120)
    A.eq(r.rc, 0, "b exports: " + r.err.decode())
    # 64k of ring: 3000 records of 40-byte values overflow it (dropped).
    write(a, "txns", 3000, journal_size="64k")
    return store, a, b


def start_syncer(root, a, store, port, name):
    p = subprocess.Popen([A.MDBTAP, "sync", "--env", a, "--store", store, "--instance", "a",
                          "--poll-interval", "100ms", "--listen", "127.0.0.1:%d" % port,
                          "--log-file", os.path.join(root, name + ".log")], env=A.base_env())
    A.wait_for("/readyz 200", lambda: get("http://127.0.0.1:%d/readyz" % port)[0] == 200, 120)
    return p


def metrics(port):
    st, text = get("http://127.0.0.1:%d/metrics" % port)
    A.eq(st, 200, "/metrics")
    return text


def test_status():
    root = A.fresh_tmp()
    store, a, b = setup(root)

    # No syncer yet: what the files say, and looking makes no metadata (it
    # would be the caller's: root's, often, refused later by the syncer).
    out = status(a)
    print(out)
    A.check("NOT RUNNING" in out and "no syncer has run here" in out, "not running: " + out)
    meta = os.path.join(a, "mdbtap", "meta")
    A.check(not os.path.exists(meta), "status made the metadata dir " + meta)
    dg = subprocess.run([A.MDBTAP, "digest", a], capture_output=True, text=True, timeout=60)
    A.check(dg.returncode == 0 and "not synced yet" in dg.stderr and not dg.stdout,
            "digest before any syncer: %r %r" % (dg.stdout, dg.stderr))
    A.check(not os.path.exists(meta), "digest made the metadata dir " + meta)
    d = json.loads(status(a, "--json"))
    A.check(not d["running"] and not d["stats"], "json: no syncer")
    A.check(d["backlog_records"] > 100, "backlog before any fold: %r" % d["backlog_records"])
    A.check(d["journal_dropped"] > 0, "records dropped by a full ring: %r" % d["journal_dropped"])
    A.check(re.search(r"journal +\d+ records .* not yet folded.*; [1-9]\d* dropped", out),
            "the journal line: " + out)

    # One run to fold (the dropped ids are rescanned), then tapped deletes
    # exported: tombstones for the next syncer to count.
    r = A.run([A.MDBTAP, "sync", "--once", "--env", a, "--store", store, "--instance", "a"],
              timeout=120)
    A.eq(r.rc, 0, "a's first cycle: " + r.err.decode())
    write(a, "del", 5)
    r = A.run([A.MDBTAP, "sync", "--once", "--env", a, "--store", store, "--instance", "a"],
              timeout=120)
    A.eq(r.rc, 0, "a exports its deletes: " + r.err.decode())

    port = free_port()
    p = start_syncer(root, a, store, port, "a")
    try:
        # A writer without the tap: an unaccounted txn id, rescanned.
        write(a, "put", 3, "plain", tap=False)
        A.wait_for("an unaccounted rescan", lambda: (value(parse(metrics(port))[1],
                   "mdbtap_rescans_total", reason="unaccounted") or 0) >= 1)
        # b writes again: this syncer applies its object (the lag).
        write(b, "put", 5, "again", tap=False)
        r = A.run([A.MDBTAP, "sync", "--once", "--env", b, "--store", store, "--instance", "b"],
                  timeout=120)
        A.eq(r.rc, 0, "b exports again: " + r.err.decode())
        A.wait_for("b's object applied", lambda: (value(parse(metrics(port))[1],
                   "mdbtap_merge_lag_seconds_count") or 0) >= 1)
        text = metrics(port)
        with open(os.path.join(root, "metrics.txt"), "w") as f:
            f.write(text)
        types, samples = parse(text)
        for fam in ("mdbtap_store_request_duration_seconds", "mdbtap_merge_lag_seconds",
                    "mdbtap_cycle_duration_seconds"):
            A.eq(types.get(fam), "histogram", fam + " is a histogram")
        A.check(check_histograms(types, samples) >= 6, "histogram series: 4 store types, lag, "
                "cycle")
        lab = {"env": "main", "instance": "a"}
        A.check((value(samples, "mdbtap_merge_lag_seconds_count", **lab) or 0) >= 1,
                "the lag of b's object applied")
        lag = value(samples, "mdbtap_merge_lag_seconds_sum", **lab) or -1
        A.check(0 <= lag < 600, "lag sum in seconds: %r" % lag)
        lists = [v for n, lb, v in samples if n == "mdbtap_store_requests_total"
                 and lb.get("type") == "list" and all(lb.get(k) == x for k, x in lab.items())]
        A.eq(len(lists), 3, "LIST requests by outcome: ok, error, not_found")
        A.eq(value(samples, "mdbtap_store_request_duration_seconds_count", type="list", **lab),
             sum(lists), "a duration per LIST request, whatever its outcome")
        A.check((value(samples, "mdbtap_cycle_duration_seconds_count", **lab) or 0) >= 1,
                "cycle durations")
        age = value(samples, "mdbtap_remote_newest_object_age_seconds", remote="b", **lab)
        A.check(age is not None and 0 <= age < 3600, "remote b's newest object age: %r" % age)
        ts = value(samples, "mdbtap_remote_newest_object_timestamp_seconds", remote="b", **lab)
        A.check(ts is not None and abs(time.time() - age - ts) < 60, "b's object time: %r" % ts)
        A.check((value(samples, "mdbtap_journal_dropped_records_total", **lab) or 0) > 0,
                "dropped records")
        A.eq(value(samples, "mdbtap_journal_capacity_bytes", **lab), 65536.0, "journal ring")
        A.check(value(samples, "mdbtap_journal_backlog_records", **lab) is not None,
                "journal backlog")
        A.check((value(samples, "mdbtap_tombstones", **lab) or 0) >= 5, "5 tombstones held")
        A.check((value(samples, "mdbtap_txnid_exported", **lab) or 0) > 3000, "txn id exported")
        A.eq(value(samples, "mdbtap_rescans_total", reason="lossy", **lab), 0.0,
             "no lossy rescans")

        out = status(a)
        print(out)
        A.check(re.search(r"syncer +running, pid %d" % p.pid, out), "running, its pid: " + out)
        A.check(re.search(r"\n +b +newest object applied was made [0-9.]+ (s|min) ago", out),
                "instance b and its age: " + out)
        A.check(re.search(r"lag +\d+ objects applied", out), "the lag line: " + out)
        A.check(re.search(r"rescans +\d+ \(.*unaccounted [1-9]", out), "rescans by reason: " +
                out)
        A.check(re.search(r"tombstones +[5-9]\d* held", out), "tombstones: " + out)
        d = json.loads(status(a, "--json"))
        A.check(d["running"] and d["pid"] == p.pid, "json: running")
        A.eq([i["name"] for i in d["instances"]], ["b"], "json: instances")
        A.check(d["rescans"]["unaccounted"] >= 1 and d["lag_count"] >= 1, "json: counters")
    finally:
        A.eq(stop(p), 0, "SIGTERM: exit 0")

    out = status(a)
    print(out)
    A.check("NOT RUNNING; the last one started" in out, "stopped: " + out)
    A.check(re.search(r"\n +b +newest object applied", out), "b, from the metadata: " + out)
    # A config file: its envs by name; an unknown name is a usage error.
    cfg = os.path.join(root, "a.yaml")
    with open(cfg, "w") as f:
        f.write("instance: a\nenvs:\n  main:\n    path: %s\n    store: %s\n" % (a, store))
    r = A.run([A.MDBTAP, "status", "-c", cfg, "main"], timeout=60)
    A.check(r.rc == 0 and r.out.decode().startswith("env main: " + a), "status -c: %r" % r)
    r = A.run([A.MDBTAP, "status", "-c", cfg, "other"], timeout=60)
    A.eq(r.rc, 2, "status -c with an unknown env name")


def dashboard_exprs():
    with open(DASHBOARD) as f:
        d = json.load(f)
    exprs = []

    def walk(panels):
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []))
            walk(p.get("panels", []))
    walk(d["panels"])
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict) and "label_values" in q.get("query", ""):
            exprs.append(re.sub(r"label_values\((.*), *\w+\)$", r"\1", q["query"]))
    return exprs


def referenced(expr):
    """The metric names an expression reads (not functions or labels)."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # selectors
    expr = re.sub(r"\b(by|without) *\([^)]*\)", "", expr)
    return set(re.findall(r"\b(mdbtap_[a-z0-9_]+|up)\b", expr))


def concrete(expr):
    """A dashboard expression with Grafana's variables filled in."""
    return (expr.replace("$__rate_interval", "1m").replace("$job", "mdbtap")
            .replace("$env", ".*").replace("$instance", ".*"))


def prom_query(port, q):
    st, body = get("http://127.0.0.1:%d/api/v1/query?%s" % (port,
                   urllib.parse.urlencode({"query": q})))
    if st != 200:
        return None, body
    return json.loads(body), body


def test_prometheus():
    root = A.fresh_tmp()
    store, a, b = setup(root)
    port = free_port()
    p = start_syncer(root, a, store, port, "a")
    prom = None
    try:
        types, samples = parse(metrics(port))
        exported = set(types) | {"up"}
        for fam, typ in types.items():
            if typ == "histogram":
                exported |= {fam + "_bucket", fam + "_sum", fam + "_count"}
        exprs = dashboard_exprs()
        A.check(len(exprs) >= 20, "the dashboard's expressions: %d" % len(exprs))
        used = set().union(*(referenced(e) for e in exprs))
        A.eq(sorted(used - exported), [], "dashboard metrics the syncer does not export")
        for fam in ("mdbtap_merge_lag_seconds_bucket", "mdbtap_cycle_duration_seconds_bucket",
                    "mdbtap_store_request_duration_seconds_bucket",
                    "mdbtap_remote_newest_object_age_seconds", "mdbtap_journal_backlog_records",
                    "mdbtap_journal_dropped_records_total", "mdbtap_rescans_total",
                    "mdbtap_tombstones", "mdbtap_elements_exported_total",
                    "mdbtap_merge_conflicts_total"):
            A.check(fam in used, "the dashboard shows " + fam)
        with open(os.path.join(PROMDIR, "mdbtap-alerts.yml")) as f:
            rules = f.read()
        rule_used = set().union(*(referenced(e) for e in re.findall(r"expr: (.*)", rules)))
        A.eq(sorted(rule_used - exported), [], "alert rule metrics the syncer does not export")

        # Debian's prometheus, on the example config pointed at the syncer.
        pport = free_port()
        with open(os.path.join(PROMDIR, "prometheus.example.yml")) as f:
            cfg = f.read()
        A.check("127.0.0.1:9321" in cfg and "honor_labels: true" in cfg, "the example config")
        cfg = (cfg.replace("127.0.0.1:9321", "127.0.0.1:%d" % port)
               .replace("scrape_interval: 15s", "scrape_interval: 1s")
               .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
               .replace("- mdbtap-alerts.yml", "- " + os.path.join(PROMDIR, "mdbtap-alerts.yml")))
        cfgpath = os.path.join(root, "prometheus.yml")
        with open(cfgpath, "w") as f:
            f.write(cfg)
        plog = open(os.path.join(root, "prometheus.log"), "w")
        prom = subprocess.Popen([PROMETHEUS, "--config.file=" + cfgpath,
                                 "--storage.tsdb.path=" + os.path.join(root, "tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % pport],
                                stdout=plog, stderr=subprocess.STDOUT, env=A.base_env())

        def target_up():
            st, body = get("http://127.0.0.1:%d/api/v1/targets" % pport)
            if st != 200:
                return False
            t = json.loads(body)["data"]["activeTargets"]
            return len(t) == 1 and t[0]["health"] == "up"
        A.wait_for("prometheus: the syncer's target up", target_up, 180)

        def applied():
            r, _ = prom_query(pport, 'mdbtap_objects_applied_total{env="main",instance="a"}')
            res = r["data"]["result"] if r else []
            return len(res) == 1 and float(res[0]["value"][1]) >= 1
        A.wait_for("prometheus: mdbtap_objects_applied_total", applied, 120)
        r, _ = prom_query(pport, 'mdbtap_objects_applied_total{env="main",instance="a"}')
        print("prometheus: %s" % json.dumps(r["data"]["result"]))
        A.wait_for("prometheus: a rate over scrapes", lambda: (prom_query(
            pport, 'rate(mdbtap_cycle_duration_seconds_count{instance="a"}[1m])')[0] or
            {"data": {"result": []}})["data"]["result"], 120)
        for e in exprs:
            r, body = prom_query(pport, concrete(e))
            A.check(r and r.get("status") == "success", "dashboard query %r: %s" % (e, body))
        q = ('histogram_quantile(0.99, sum by (le) (rate(mdbtap_store_request_duration_seconds_'
             'bucket{type="list"}[1m])))')
        r, body = prom_query(pport, q)
        res = r["data"]["result"] if r else []
        A.check(res and float(res[0]["value"][1]) > 0, "a LIST latency quantile: " + body)

        def rules_evaluated():
            st, body = get("http://127.0.0.1:%d/api/v1/rules" % pport)
            if st != 200:
                return False
            rs = [x for g in json.loads(body)["data"]["groups"] for x in g["rules"]]
            return len(rs) >= 10 and all(x.get("lastEvaluation", "").startswith("2")
                                         and not x["lastEvaluation"].startswith("0001")
                                         for x in rs)
        A.wait_for("prometheus: the alert rules evaluated", rules_evaluated, 120)
        st, body = get("http://127.0.0.1:%d/api/v1/rules" % pport)
        bad = [x["name"] for g in json.loads(body)["data"]["groups"] for x in g["rules"]
               if x.get("health") != "ok"]
        A.eq(bad, [], "alert rules in error")
    finally:
        if prom:
            prom.terminate()
            try:
                prom.wait(timeout=60)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        A.eq(stop(p), 0, "SIGTERM: exit 0")
    A.wipe(os.path.join(root, "tsdb"))


def main():
    {"status": test_status, "prometheus": test_prometheus}[sys.argv[1]]()
    A.finish()


if __name__ == "__main__":
    main()

"""stresslib.py: shared helpers of the stress harnesses (stdlib only).

The harnesses run host programs with the tap preloaded ($MDBTAP_PRELOAD,
never the tap path alone: under sanitizers it starts with the ASan runtime)
and check the journal with `mdbtap journal --json` ($MDBTAP_BIN). The
env's final state is read with mdb_dump, which is statically linked to
LMDB and so never goes through the tap.
"""
import json
import os
import shutil
import signal
import subprocess
import sys

PRELOAD = os.environ.get("MDBTAP_PRELOAD")
BIN = os.environ.get("MDBTAP_BIN")
TMP = os.environ.get("MDBTAP_TEST_TMP")

_failures = []


def need_env():
    missing = [n for n, v in (("MDBTAP_PRELOAD", PRELOAD), ("MDBTAP_BIN", BIN),
                              ("MDBTAP_TEST_TMP", TMP)) if not v]
    if missing:
        sys.exit("run this through ctest (missing %s)" % ", ".join(missing))
    if not shutil.which("mdb_dump"):
        sys.exit("mdb_dump (lmdb-utils) is required")
    # A timeout's SIGTERM runs the finally blocks that kill the hosts.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def fresh_tmp(sub=None):
    """Wipe and create the scratch directory (or a subdirectory of it)."""
    path = os.path.join(TMP, sub) if sub else TMP
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def fail(msg):
    print("FAIL: " + msg, flush=True)
    _failures.append(msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def note(msg):
    print(msg, flush=True)


def finish(name):
    if _failures:
        print("%s: %d failure(s)" % (name, len(_failures)), flush=True)
        sys.exit(1)
    print("%s: ok" % name, flush=True)
    sys.exit(0)


def preload_env(extra=None, drop=()):
    """The environment of a preloaded host: ours plus LD_PRELOAD (ASAN_OPTIONS,
    when ctest sets it, is inherited unchanged)."""
    env = dict(os.environ)
    for k in drop:
        env.pop(k, None)
    env["LD_PRELOAD"] = PRELOAD
    if extra:
        env.update(extra)
    return env


def plain_env(extra=None):
    """The environment of a host run without the tap."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if extra:
        env.update(extra)
    return env


class Journal:
    """`mdbtap journal --json ENV`, parsed."""

    def __init__(self, envpath):
        p = subprocess.run([BIN, "journal", "--json", envpath], capture_output=True,
                           text=True, timeout=300)
        self.rc = p.returncode
        self.stderr = p.stderr
        self.records = []
        self.summary = None
        for line in p.stdout.splitlines():
            obj = json.loads(line)
            if "summary" in obj:
                self.summary = obj["summary"]
            else:
                self.records.append(obj)

    def sane(self, what):
        """Assert the journal was read whole: no corrupt record, no error."""
        ok = check(self.rc == 0, "%s: mdbtap journal exited %d: %s" % (what, self.rc, self.stderr))
        ok &= check(self.stderr == "", "%s: mdbtap journal stderr: %r" % (what, self.stderr))
        ok &= check(self.summary is not None, "%s: no summary line" % what)
        if self.summary is not None:
            ok &= check(self.summary["corrupt"] == 0,
                        "%s: %d corrupt record(s)" % (what, self.summary["corrupt"]))
        bad = [r["txnid"] for r in self.records if r.get("corrupt")]
        ok &= check(not bad, "%s: records with corrupt ops: %s" % (what, bad[:10]))
        return ok

    def committed(self):
        return [r for r in self.records if r["state"] == "committed"]

    def by_txnid(self, states=("committed",)):
        """txnid -> the last record with that id in one of states."""
        out = {}
        for r in self.records:
            if r["state"] in states:
                out[r["txnid"]] = r
        return out


def journal_check(envpath):
    """Exit code of `mdbtap journal --check ENV`."""
    p = subprocess.run([BIN, "journal", "--check", envpath], capture_output=True,
                       text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def entries(rec):
    """A record's element ops as comparable tuples (dbi, op, key, value)."""
    return [(e["dbi"], e["op"], e["key"], e.get("value")) for e in rec["entries"]]


def dump(envpath):
    """Every named DBI of the env: {name: [(keyhex, valhex), ...]}, read with
    mdb_dump (static LMDB: bypasses any tap). Only named DBIs are dumped."""
    p = subprocess.run(["mdb_dump", "-a", envpath], capture_output=True, text=True,
                       env=plain_env(), timeout=300)
    if p.returncode != 0:
        raise RuntimeError("mdb_dump %s: %s" % (envpath, p.stderr))
    out = {}
    name = None
    in_data = False
    pending = None
    for line in p.stdout.splitlines():
        if not in_data:
            if line.startswith("database="):
                name = line[len("database="):]
            elif line == "HEADER=END":
                in_data = True
                out.setdefault(name, [])
                pending = None
            continue
        if line == "DATA=END":
            in_data = False
            name = None
            continue
        item = line[1:]
        if pending is None:
            pending = item
        else:
            out[name].append((pending, item))
            pending = None
    return out


def env_last_txnid(envpath):
    p = subprocess.run(["mdb_stat", "-e", envpath], capture_output=True, text=True,
                       env=plain_env(), timeout=60)
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("Last transaction ID:"):
            return int(line.split(":")[1])
    raise RuntimeError("mdb_stat %s: %s" % (envpath, p.stderr))


def parse_host_log(text):
    """Lines written by the stress host: `TXN txnid pid dbi,op,key[,value] ...`.
    Returns {txnid: (pid, [(dbi, op, key, value)])}; dbi '-' is None."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] != "TXN":
            continue
        txnid, pid = int(parts[1]), int(parts[2])
        ops = []
        for p in parts[3:]:
            f = p.split(",")
            dbi = None if f[0] == "-" else f[0]
            ops.append((dbi, f[1], f[2], f[3] if len(f) > 3 else None))
        if txnid in out:
            raise RuntimeError("txn id %d logged twice" % txnid)
        out[txnid] = (pid, ops)
    return out


def compare_logged(journal, logged, what, allow_missing=False):
    """Each logged committed txn has exactly one committed record, from its pid,
    with exactly its ops in order; and the journal has nothing else. With
    allow_missing, txns without a record are allowed: returns their ids."""
    recs = {}
    dup = []
    for r in journal.records:
        if r["state"] != "committed":
            continue
        if r["txnid"] in recs:
            dup.append(r["txnid"])
        recs[r["txnid"]] = r
    check(not dup, "%s: txn ids with two committed records: %s" % (what, dup[:10]))
    missing = sorted(set(logged) - set(recs))
    extra = sorted(set(recs) - set(logged))
    if not allow_missing:
        check(not missing, "%s: %d committed txns with no committed record: %s"
              % (what, len(missing), missing[:10]))
    check(not extra, "%s: %d committed records no host logged: %s"
          % (what, len(extra), extra[:10]))
    bad = 0
    for t in sorted(set(logged) & set(recs)):
        pid, ops = logged[t]
        r = recs[t]
        if r["pid"] != pid or entries(r) != ops or r["lossy"] or r["events"]:
            bad += 1
            if bad <= 3:
                fail("%s: txn %d: record pid %d lossy %s events %s entries %s; host pid %d ops %s"
                     % (what, t, r["pid"], r["lossy"], r["events"], entries(r)[:6], pid, ops[:6]))
    check(bad == 0, "%s: %d records differ from what the host committed" % (what, bad))
    others = [r["txnid"] for r in journal.records if r["state"] != "committed"]
    check(not others, "%s: records not committed (pending/aborted): %s" % (what, others[:10]))
    return missing


def plain_value_hex(keyhex, txnid):
    """The value stress_host puts under a plain key in txn txnid."""
    key = bytes.fromhex(keyhex)
    n = int(key.decode().rsplit("k", 1)[1])
    val = key + b"@" + str(txnid).encode()
    if n % 8 == 0:
        val += b"x" * 3000
    return val.hex()


def check_replay(envpath, logged, what):
    """Replay stress_host's logged txns in txn id order; the env's "data" and
    "dups" must hold exactly the result (values of "data" included)."""
    data, dups = {}, set()
    for t in sorted(logged):
        for dbi, op, key, val in logged[t][1]:
            if dbi == "data":
                if op == "put":
                    data[key] = plain_value_hex(key, t)
                else:
                    data.pop(key, None)
            elif op == "put":
                dups.add((key, val))
            elif op == "del":
                dups.discard((key, val))
            else:
                dups = {p for p in dups if p[0] != key}
    state = dump(envpath)
    got = dict(state.get("data", []))
    gotd = set(state.get("dups", []))
    only_env = sorted(set(got) - set(data))
    only_log = sorted(set(data) - set(got))
    wrong = sorted(k for k in set(got) & set(data) if got[k] != data[k])
    check(not only_env and not only_log and not wrong,
          "%s: env 'data' differs from the committed txns: %d keys only in env, %d missing, "
          "%d wrong values (%s)" % (what, len(only_env), len(only_log), len(wrong),
                                    (only_env + only_log + wrong)[:3]))
    check(gotd == dups, "%s: env 'dups' differs from the committed txns: %d pairs only in env, "
          "%d missing" % (what, len(gotd - dups), len(dups - gotd)))
    return len(data), len(dups)


def spawn(cmd, env, **kw):
    """Start a host in a process group of its own (see kill_group)."""
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


def kill_group(p):
    """SIGKILL a spawned host and whatever it forked, then reap it."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def run_host(cmd, env, timeout=150):
    """Run a host program; it must succeed silently within timeout (else it
    and its children are killed)."""
    p = spawn(cmd, env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        fail("%s: no exit after %d s (killed)" % (" ".join(cmd[:2]), timeout))
        return False
    finally:
        if p.poll() is None:
            kill_group(p)
    check(p.returncode == 0 and out == "" and err == "",
          "%s: rc %d, stdout %r, stderr %r" % (" ".join(cmd[:2]), p.returncode, out[-500:],
                                               err[-2000:]))
    return p.returncode == 0


def under_asan():
    """Whether hosts run with the ASan runtime (the sanitizer build)."""
    return any("asan" in os.path.basename(x) for x in PRELOAD.split(":"))

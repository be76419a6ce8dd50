"""test_faults.py: two instances with running syncers keep writing while a
proxy between them and the store (fault_proxy.py) answers 500 and 503,
resets connections, stalls and cuts answers short, in turn. Then the
faults stop. Checks: the syncers kept running; every fault was made and
retried (the proxy sees the same request again next); no object was refused as corrupt (a cut-short answer is retried,
never applied); nothing written was lost; both instances end up the same
(digests and contents). Run through with_s3.py (it sets the store).
"""
import json
import os
import subprocess
import time
from urllib.parse import urlsplit

import apputil as A
from fault_proxy import FaultProxy
from synclib import Instance, PY

WRITER = os.path.join(A.LIB, "writer.py")
MODES = ("500", "503", "reset", "stall", "cut")


def is_list(method, path):
    return method == "GET" and "list-type=" in path


def around(proxies, mode):
    """The requests around each broken one of this mode (for a failure)."""
    out = []
    for f in proxies:
        reqs = list(f.requests)
        for k, r in enumerate(reqs):
            if r[3] == mode and not is_list(r[0], r[1]):
                out.append(" | ".join("%s %s %s %s" % (x[0], x[1][-60:], x[2][:8], x[3])
                                      for x in reqs[max(0, k - 1):k + 3]))
    return "\n".join(out[:10])


def write(inst, ops):
    p = subprocess.run([PY, WRITER, inst.env, json.dumps(ops)], capture_output=True, text=True,
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD), timeout=60)
    A.eq(p.returncode, 0, "writer on %s: %s" % (inst.name, p.stderr))


def stats(inst):
    p = subprocess.run([A.MDBTAP, "stats", "--json", inst.env], capture_output=True, text=True)
    return json.loads(p.stdout) if p.returncode == 0 else {}


def main():
    root = A.fresh_tmp()
    base = os.environ["MDBTAP_TEST_STORE_URL"]
    upstream = urlsplit(base.split("endpoint=", 1)[1].split("&", 1)[0]).port
    insts = [Instance(root, n) for n in ("a", "b")]
    written = {}
    # one proxy per syncer: each sees one client's requests in order, so a
    # retry is the broken request sent again as the very next one
    proxies = [FaultProxy(upstream, seed=5 + k).start() for k in range(len(insts))]

    def broken(mode):  # broken requests other than listings, on all proxies
        return sum(1 for f in proxies for r in list(f.requests)
                   if r[3] == mode and not is_list(r[0], r[1]))
    try:
        procs = [subprocess.Popen([A.MDBTAP, "sync", "--env", i.env, "--store",
                                   base.split("?", 1)[0] + "?endpoint=" + f.endpoint +
                                   # timeout bounds a request with its retries: room
                                   # for a stall (low_speed_time), backoff and a retry
                                   # on a loaded machine
                                   "&retries=2&connect_timeout=2s&timeout=30s&low_speed_time=1s",
                                   "--instance", i.name, "--poll-interval", "100ms",
                                   "--log-file", os.path.join(root, i.name + ".log")])
                 for i, f in zip(insts, proxies)]
        try:
            n = 0
            for mode in MODES:
                # each mode for 2 s and until it broke 3 requests other than
                # listings (at most 30 s)
                for f in proxies:
                    f.set(mode, rate=0.5)
                start = time.monotonic()
                while time.monotonic() - start < 2 or (
                        broken(mode) < 3 and time.monotonic() - start < 30):
                    i = insts[n % 2]
                    key = "k%03d" % n
                    write(i, [["put", None, key, i.name], ["put", "n", "shared", key]])
                    written[key] = i.name
                    n += 1
                    time.sleep(0.3)
            for f in proxies:
                f.set("none")
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if len({i.digest() for i in insts}) == 1 and all(
                        len(i.contents()["-"]) == len(written) for i in insts):
                    break
                time.sleep(0.5)
            time.sleep(1)  # a last cycle each: nothing more arrives
            for p, i in zip(procs, insts):
                A.check(p.poll() is None, "the syncer of %s exited (%s)" % (i.name, p.poll()))
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)
    finally:
        for f in proxies:
            f.stop()
    made = {m: sum(f.injected[m] for f in proxies) for m in MODES}
    not_lists = {m: broken(m) for m in MODES}
    resent = {m: sum(f.resent(is_list).get(m, 0) for f in proxies) for m in MODES}
    for mode in MODES:
        A.check(made[mode] >= 3, "too few %s faults were made: %r" % (mode, made))
        # the syncer's own counter is not evidence: the proxy must see the
        # request again (a listing is sent again by the next cycle anyway)
        A.check(resent[mode] >= 1 and 2 * resent[mode] >= not_lists[mode],
                "%s: of %d broken requests (not listings), %d sent again next: %r\n%s" % (
                    mode, not_lists[mode], resent[mode], resent, around(proxies, mode)))
    retries = 0
    for i in insts:
        s = stats(i)
        A.eq(s.get("objects_refused"), 0, "objects refused on %s (a cut answer applied?)" % i.name)
        retries += s.get("retries", 0)
        log = open(os.path.join(root, i.name + ".log")).read()
        A.check("not applied" not in log, "%s refused an object: %s" % (i.name, log[-2000:]))
    A.check(retries >= sum(resent.values()),
            "the syncers count %d retries, the proxies saw %d" % (retries, sum(resent.values())))
    want = sorted([k, v] for k, v in written.items())
    contents = [i.contents() for i in insts]
    for i, c in zip(insts, contents):
        A.eq(c["-"], want, "what %s has of everything written" % i.name)
    A.eq(contents[0], contents[1], "contents of a and b")
    A.eq(insts[0].digest(), insts[1].digest(), "digests of a and b")
    print("faults made: %r; sent again: %r; retries counted: %d" % (made, resent, retries))
    A.finish()


if __name__ == "__main__":
    main()

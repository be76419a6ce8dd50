"""test_faults.py: two instances with running syncers keep writing while a
proxy between them and the store (fault_proxy.py) answers 500 and 503,
resets connections, stalls and cuts answers short, in turn. Then the
faults stop. Checks: the syncers kept running; every fault was made and
retried; no object was refused as corrupt (a cut-short answer is retried,
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
    with FaultProxy(upstream, seed=5) as faults:
        url = (base.split("?", 1)[0] + "?endpoint=" + faults.endpoint +
               "&retries=2&connect_timeout=2s&timeout=5s&low_speed_time=1s")
        procs = [subprocess.Popen([A.MDBTAP, "sync", "--env", i.env, "--store", url,
                                   "--instance", i.name, "--poll-interval", "100ms",
                                   "--log-file", os.path.join(root, i.name + ".log")])
                 for i in insts]
        try:
            n = 0
            for mode in MODES:
                # each mode for 2 s and until it hit 3 requests (at most 20 s)
                faults.set(mode, rate=0.5)
                start = time.monotonic()
                while time.monotonic() - start < 2 or (
                        faults.injected[mode] < 3 and time.monotonic() - start < 20):
                    i = insts[n % 2]
                    key = "k%03d" % n
                    write(i, [["put", None, key, i.name], ["put", "n", "shared", key]])
                    written[key] = i.name
                    n += 1
                    time.sleep(0.3)
            faults.set("none")
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
        made = faults.injected
    for mode in MODES:
        A.check(made[mode] >= 3, "too few %s faults were made: %r" % (mode, made))
    retries = 0
    for i in insts:
        s = stats(i)
        A.eq(s.get("objects_refused"), 0, "objects refused on %s (a cut answer applied?)" % i.name)
        retries += s.get("retries", 0)
        log = open(os.path.join(root, i.name + ".log")).read()
        A.check("not applied" not in log, "%s refused an object: %s" % (i.name, log[-2000:]))
    A.check(retries > 0, "no request was retried")
    want = sorted([k, v] for k, v in written.items())
    contents = [i.contents() for i in insts]
    for i, c in zip(insts, contents):
        A.eq(c["-"], want, "what %s has of everything written" % i.name)
    A.eq(contents[0], contents[1], "contents of a and b")
    A.eq(insts[0].digest(), insts[1].digest(), "digests of a and b")
    print("faults made: %r; retries: %d" % (made, retries))
    A.finish()


if __name__ == "__main__":
    main()

"""test_multipart.py: objects larger than part_size go to s3rver as
multipart uploads, and another instance downloads them and converges.
Between the syncer and the store (with_s3.py's s3rver behind its
signature-checking proxy) a fault_proxy.py breaks one part:

1. no fault: a snapshot of several parts (part_size=5M) goes up
   (initiate, parts 1..n in order, complete); s3rver answers
   NotImplemented to listing uploads: the cleaner finds nothing to clean
   (a debug line), which is no error;
2. UploadPart of part 2 answers 500 once: that part alone is sent again,
   the upload completes;
3. it always answers 500: the upload stops at part 2, is aborted (the
   proxy sees the abort), the syncer fails with an error that names the
   part and the answer; the next cycle, the fault gone, uploads it.
After each step instance b downloads and holds what a holds.
"""
import base64
import hashlib
import json
import os
import random
import subprocess
from urllib.parse import urlsplit

import apputil as A
from fault_proxy import FaultProxy
from synclib import Instance


def big_ops(rng, prefix, n, size):
    """n puts of incompressible values (zstd cannot shrink base64 of random
    bytes below 3/4): an object of several 5 MiB parts."""
    return [["put", None, "%s%04d" % (prefix, i),
             base64.b64encode(rng.randbytes(size * 3 // 4)).decode()] for i in range(n)]


def sync(inst, url, log):
    p = subprocess.run([A.MDBTAP, "sync", "--env", inst.env, "--store", url, "--instance",
                        inst.name, "--once", "-v", "--log-file", log],
                       capture_output=True, text=True, timeout=300)
    inst.new_records()
    return p, open(log).read()


def reqs(f, since, method, what):
    return [r for r in list(f.requests)[since:] if r[0] == method and what in r[1]]


def summary(contents):
    """Keys and a hash of the values: the values are too long to show."""
    return {dbi: ([kv[0] for kv in items],
                  hashlib.sha256(json.dumps(items).encode()).hexdigest())
            for dbi, items in contents.items()}


def converge(a, b, url, root, step):
    for inst in (b, a):  # b gets a's objects, then a gets b's
        p, log = sync(inst, url, os.path.join(root, "%s%d.log" % (inst.name, 10 + step)))
        A.eq(p.returncode, 0, "step %d: sync %s: %s" % (step, inst.name, log[-2000:]))
    A.eq(summary(b.contents()), summary(a.contents()), "step %d: b holds what a holds" % step)
    A.eq(b.digest(), a.digest(), "step %d: digests of a and b" % step)


def main():
    root = A.fresh_tmp()
    rng = random.Random(7)
    base = os.environ["MDBTAP_TEST_STORE_URL"]
    upstream = urlsplit(base.split("endpoint=", 1)[1].split("&", 1)[0]).port
    a, b = Instance(root, "a"), Instance(root, "b")
    b.write([["put", None, "b0", "from b"]])
    with FaultProxy(upstream, seed=2) as f:
        url = (base.split("?", 1)[0] + "?endpoint=" + f.endpoint +
               "&region=eu-west-1&part_size=5M&retries=2")

        # 1. several parts
        a.write(big_ops(rng, "x", 160, 100 << 10))
        n = len(f.requests)
        p, log = sync(a, url, os.path.join(root, "a1.log"))
        A.eq(p.returncode, 0, "sync a: %s" % log[-2000:])
        parts = reqs(f, n, "PUT", "partNumber=")
        A.eq(len(reqs(f, n, "POST", "?uploads=")), 1, "uploads started")
        A.check(len(parts) >= 3, "parts: %d (at least 3)" % len(parts))
        A.eq([int(r[1].split("partNumber=")[1].split("&")[0]) for r in parts],
             list(range(1, len(parts) + 1)), "parts sent in order, once each")
        A.eq(len(reqs(f, n, "POST", "?uploadId=")), 1, "uploads completed")
        A.check(reqs(f, n, "GET", "uploads="), "the cleaner listed uploads")
        A.check("nothing to clean" in log, "s3rver's NotImplemented is nothing to clean:\n" +
                log[-2000:])
        A.check(" warning: " not in log and " error: " not in log, "a's log:\n" + log[-2000:])
        converge(a, b, url, root, 1)

        # 2. part 2 fails once: sent again, the upload completes
        a.write(big_ops(rng, "y", 160, 100 << 10))
        f.set("500", methods={"PUT"}, match="partNumber=2&", times=1)
        n = len(f.requests)
        p, log = sync(a, url, os.path.join(root, "a2.log"))
        A.eq(p.returncode, 0, "sync a with part 2 failing once: %s" % log[-2000:])
        A.eq(f.injected["500"], 1, "faults made")
        A.eq(f.resent().get("500"), 1, "the broken part was the next request again")
        A.eq(len(reqs(f, n, "POST", "?uploadId=")), 1, "the upload completed")
        A.eq(len(reqs(f, n, "DELETE", "uploadId=")), 0, "nothing aborted")
        converge(a, b, url, root, 2)

        # 3. part 2 always fails: aborted, a clear error; the next cycle uploads it
        a.write(big_ops(rng, "z", 160, 100 << 10))
        f.set("500", methods={"PUT"}, match="partNumber=2&")
        n = len(f.requests)
        p, log = sync(a, url, os.path.join(root, "a3.log"))
        A.check(p.returncode != 0, "sync a fails when a part keeps failing")
        A.eq(len(reqs(f, n, "PUT", "partNumber=2&")), 3, "part 2 tried 3 times (retries=2)")
        A.eq(reqs(f, n, "PUT", "partNumber=3&"), [], "no part after the failed one")
        A.eq(len(reqs(f, n, "POST", "?uploadId=")), 0, "no upload completed")
        A.eq(len(reqs(f, n, "DELETE", "uploadId=")), 1, "the upload was aborted")
        A.check("PUT PART" in log and "part 2/" in log and "HTTP 500 InternalError" in log and
                ("the upload was aborted" in log or "left for the cleaner" in log),
                "the error names the part, the answer and the abort:\n" + log[-3000:])
        f.set("none")
        p, log = sync(a, url, os.path.join(root, "a4.log"))
        A.eq(p.returncode, 0, "sync a once the fault is gone: %s" % log[-2000:])
        converge(a, b, url, root, 3)
    A.finish()


if __name__ == "__main__":
    main()

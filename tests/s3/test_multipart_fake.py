"""test_multipart_fake.py: multipart uploads, their abort and the cleaner's
listing of unfinished uploads, against a small S3 endpoint of the tests'
own (fake_s3.py: s3rver answers NotImplemented to abort and to listing
uploads), every request through sigv4_proxy.py, which checks its
signature (the queries ?uploads=, ?partNumber=N&uploadId=X, ...).

1. The store holds unfinished uploads: two of ours begun two days ago,
   one of ours begun a minute ago, one of instance b begun two days ago,
   one of another env's, and one whose key is no object name; a listing
   page holds two of them. One `sync --once` of instance a uploads a
   full snapshot of several parts (part_size=5M) and aborts exactly our
   two old uploads.
2. Every UploadPart of part 2 fails (500): the upload is retried, then
   aborted (none of ours is left), the syncer exits with a clear error,
   and the next cycle, the fault gone, uploads the object.
3. A server that answers NotImplemented to listing uploads: the cleaner
   finds nothing to clean (a debug line), which is no error.
Then instance b downloads what a uploaded and both hold the same.
"""
import base64
import os
import random
import subprocess
import time

import apputil as A
from fake_s3 import FakeS3
from sigv4_proxy import SigV4Proxy
from synclib import Instance

KEY, SECRET = "AKIDFAKE", "fake-secret"


def big_ops(rng, prefix, n, size):
    """n puts of incompressible values (zstd cannot shrink base64 of random
    bytes below 3/4): a snapshot of several 5 MiB parts."""
    return [["put", None, "%s%04d" % (prefix, i),
             base64.b64encode(rng.randbytes(size * 3 // 4)).decode()] for i in range(n)]


def sync(inst, url, log, *extra):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    for var in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "http_proxy",
                "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(var, None)
    p = subprocess.run([A.MDBTAP, "sync", "--env", inst.env, "--store", url, "--instance",
                        inst.name, "--once", "-v", "--log-file", log, *extra],
                       capture_output=True, text=True, timeout=300, env=env)
    inst.new_records()
    return p


def calls(fake, since, method=None, what=None):
    return [c for c in fake.calls[since:] if (method is None or c[0] == method) and
            (what is None or what in c[2])]


def main():
    root = A.fresh_tmp()
    rng = random.Random(12)
    a, b = Instance(root, "a"), Instance(root, "b")
    with FakeS3("test") as fake, SigV4Proxy(fake.port, KEY, SECRET) as proxy:
        url = ("s3://test/mp%%20t?endpoint=%s&region=eu-west-1&part_size=5M&retries=2"
               % proxy.endpoint)
        pfx = "mp t/"
        old, now = time.time() - 2 * 86400, time.time()
        name = "main__%s__20260101-000000-00000000%d__G00000000000000aa__F%d.pb.zst"
        mine_old = [fake.add_upload(pfx + name % ("a", k, k + 1), old) for k in range(2)]
        mine_young = fake.add_upload(pfx + name % ("a", 7, 9), now - 60)
        theirs = fake.add_upload(pfx + name % ("b", 1, 2), old)
        other_env = fake.add_upload(pfx + (name % ("a", 1, 2)).replace("main", "other"), old)
        junk = fake.add_upload(pfx + "main__a__not an object", old)
        fake.uploads_page = 2

        # 1. several parts up, our two old uploads aborted
        a.write(big_ops(rng, "x", 160, 100 << 10))
        b.write([["put", None, "b0", "from b"]])
        n0 = len(fake.calls)
        p = sync(a, url, os.path.join(root, "a1.log"))
        A.eq(p.returncode, 0, "sync a: %s" % p.stderr[-2000:])
        log = open(os.path.join(root, "a1.log")).read()
        starts = calls(fake, n0, "POST", "uploads")
        parts = calls(fake, n0, "PUT", "partNumber")
        done = calls(fake, n0, "POST", "uploadId")
        A.eq(len(starts), 1, "uploads started")
        A.check(len(parts) >= 3, "parts sent: %d (a snapshot of at least 3 parts)" % len(parts))
        A.eq(sorted(int(c[2]["partNumber"]) for c in parts), list(range(1, len(parts) + 1)),
             "part numbers")
        A.eq(len(done), 1, "uploads completed")
        A.check(all(c[3] for c in fake.calls[n0:]), "every request is signed")
        objs = [k for k in fake.objects if "__a__" in k and k.endswith(".pb.zst")]
        A.eq(len(objs), 1, "objects of a in the store: %r" % objs)
        A.check(len(fake.objects[objs[0]]) > 10 << 20, "the object is the whole snapshot")
        lists = calls(fake, n0, "GET", "uploads")
        A.check(len(lists) >= 1, "the cleaner listed the uploads")
        A.check(all(c[2].get("prefix") == pfx + "main__a__" for c in lists),
                "listed under our own prefix only: %r" % [c[2] for c in lists])
        left = set(fake.uploads)
        for uid in mine_old:
            A.check(uid not in left, "our upload of two days ago was aborted")
        for uid, what in ((mine_young, "our upload of a minute ago"),
                          (theirs, "instance b's upload"), (other_env, "another env's upload"),
                          (junk, "an upload that is no object")):
            A.check(uid in left, "%s is left" % what)
        A.eq(len(calls(fake, n0, "DELETE", "uploadId")), 2, "aborts sent")
        A.check("aborted 2 of our uploads" in log, "the log says so:\n" + log[-3000:])

        # 2. part 2 always fails: retried, aborted, a clear error; then it goes up
        a.write(big_ops(rng, "y", 160, 100 << 10))
        fake.fail_parts = {2}
        n1 = len(fake.calls)
        ours = set(fake.uploads)
        p = sync(a, url, os.path.join(root, "a2.log"))
        log = open(os.path.join(root, "a2.log")).read()
        A.check(p.returncode != 0, "sync a exits with an error when an upload fails")
        tries = calls(fake, n1, "PUT", "partNumber")
        A.eq(sum(1 for c in tries if c[2]["partNumber"] == "2"), 3,
             "part 2 sent three times (retries=2)")
        A.check(not any(c[2]["partNumber"] == "3" for c in tries), "no part after the failed one")
        A.eq(len(calls(fake, n1, "DELETE", "uploadId")), 1, "the failed upload was aborted")
        A.eq(set(fake.uploads), ours, "no new upload is left")
        A.check("part 2/" in log and "HTTP 500 InternalError" in log and
                "the upload was aborted" in log,
                "the error names the part, the answer and the abort:\n" + log[-3000:])
        fake.fail_parts = set()
        p = sync(a, url, os.path.join(root, "a3.log"))
        A.eq(p.returncode, 0, "sync a once the fault is gone: %s" % p.stderr[-2000:])
        objs = [k for k in fake.objects if "__a__" in k and k.endswith(".pb.zst")]
        A.eq(len(objs), 2, "objects of a in the store: %r" % objs)

        # 3. NotImplemented to listing uploads: nothing to clean, no error
        fake.no_abort = True
        b_log = os.path.join(root, "b.log")
        n2 = len(fake.calls)
        p = sync(b, url, b_log)
        A.eq(p.returncode, 0, "sync b: %s" % p.stderr[-2000:])
        log = open(b_log).read()
        A.check(calls(fake, n2, "GET", "uploads"), "b's cleaner listed uploads")
        A.check("nothing to clean" in log, "b's log says nothing to clean:\n" + log[-2000:])
        A.check("unfinished uploads:" not in log, "no warning of b's cleaner:\n" + log[-2000:])
        p = sync(a, url, os.path.join(root, "a4.log"))
        A.eq(p.returncode, 0, "sync a: %s" % p.stderr[-2000:])
        ca, cb = a.contents(), b.contents()
        A.check(ca == cb, "a and b hold the same (keys: %d, %d)" % (len(ca["-"]), len(cb["-"])))
        A.eq(a.digest(), b.digest(), "digests of a and b")
        print("proxy: %d signed right, %d refused %r" % (proxy.accepted, proxy.rejected,
                                                          proxy.rejections[:3]))
        A.eq(proxy.rejected, 0, "signatures refused")
    A.finish()


if __name__ == "__main__":
    main()

"""with_s3.py: run a test command against a fresh S3 store.

    with_s3.py DATADIR COMMAND [ARGS...]

Starts s3rver on loopback with the bucket "test", puts sigv4_proxy.py in
front of it, and runs COMMAND with MDBTAP_TEST_STORE_URL naming a prefix
with a space, '+', '%', '~' and a non-ASCII character in it (so every key
the store signs has them) and the AWS_* credentials set. Fails if COMMAND
fails, if the store made no request, or if a signature was refused (more
than --allow-refused N of them: tests that send a wrong secret on purpose).
"""
import argparse
import os
import shutil
import subprocess
import sys

from s3server import S3Server, ACCESS_KEY, SECRET_KEY
from sigv4_proxy import SigV4Proxy

PREFIX = "mdbtap%20t+%25~%C3%A9"   # "mdbtap t+%~é"

ap = argparse.ArgumentParser()
ap.add_argument("--allow-refused", type=int, default=0)
ap.add_argument("datadir")
ap.add_argument("command", nargs=argparse.REMAINDER)
a = ap.parse_args()
shutil.rmtree(a.datadir, ignore_errors=True)
with S3Server(os.path.join(a.datadir, "s3"), "test") as s3, \
        SigV4Proxy(s3.port, ACCESS_KEY, SECRET_KEY) as proxy:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               MDBTAP_TEST_STORE_URL="s3://test/%s?endpoint=%s&region=eu-west-1"
               % (PREFIX, proxy.endpoint))
    for var in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "http_proxy",
                "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(var, None)
    rc = subprocess.run(a.command, env=env).returncode
    alive = s3.alive()
print("with_s3: %d requests signed right, %d refused%s" % (
    proxy.accepted, proxy.rejected,
    "".join("\n  refused: " + r for r in proxy.rejections[:10])))
if not alive:
    sys.exit("with_s3: s3rver died during the test (see %s)" % s3.log)
if rc:
    sys.exit(rc)
if proxy.accepted == 0:
    sys.exit("with_s3: the test made no request to the store")
if proxy.rejected > a.allow_refused:
    sys.exit("with_s3: signatures refused")

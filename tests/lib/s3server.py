"""s3server.py: npm's s3rver on loopback for tests and benchmarks.

    with S3Server(datadir, bucket="test") as s3:
        url = "s3://test/prefix?endpoint=" + s3.endpoint

s3rver does not check signatures (sigv4_proxy.py does) and takes the access
key and secret S3RVER. It runs under `node --openssl-legacy-provider`: its
continuation tokens use DES, which OpenSSL 3 hides otherwise (every
truncated listing would fail). CLI: s3server.py DATADIR BUCKET.
"""
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ACCESS_KEY = SECRET_KEY = "S3RVER"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, seconds):
    """True once 127.0.0.1:port accepts, False if proc died or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def s3rver_js():
    path = os.environ.get("MDBTAP_S3RVER") or os.path.join(
        HERE, "..", "s3", "node_modules", "s3rver", "bin", "s3rver.js")
    if not os.path.exists(path):
        raise RuntimeError("s3rver is not installed: run tools/install-deps")
    return path


class S3Server:
    def __init__(self, datadir, bucket="test", port=0, log=None):
        self.datadir, self.bucket = datadir, bucket
        self.port = port or free_port()
        self.log = log or os.path.join(os.path.dirname(os.path.abspath(datadir)), "s3rver.log")
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.proc = None

    def start(self):
        os.makedirs(self.datadir, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["node", "--openssl-legacy-provider", s3rver_js(), "-d", self.datadir,
                 "-a", "127.0.0.1", "-p", str(self.port), "--configure-bucket", self.bucket],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not wait_listening(self.port, self.proc, 20):
            self.stop()
            with open(self.log, errors="replace") as f:
                raise RuntimeError("s3rver did not start: " + f.read()[-2000:])
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: s3server.py DATADIR BUCKET")
    with S3Server(sys.argv[1], sys.argv[2]) as s3:
        print(s3.endpoint, flush=True)
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        try:
            s3.proc.wait()
        except KeyboardInterrupt:
            pass

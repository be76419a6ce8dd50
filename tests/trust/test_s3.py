"""trust_s3: a hostile S3 endpoint and instance-metadata service (README
"Security"), served on 127.0.0.1 by this script:

- a listing whose continuation token repeats fails the cycle (no loop),
  and so does one whose tokens go round (A, B, A), that lists a key
  longer than S3's 1024 bytes (compared cut short, it hid a repeat), or
  whose fresh tokens are 20 KB each (all are kept); a listing of uploads
  whose markers go round (A, B, A) too;
- SIGTERM ends a syncer within a few seconds in the middle of a request
  that trickles a byte every 0.9 s, and `mdbtap run --sync` returns when
  its program exits;
- a session token with CR/LF from the metadata service never becomes a
  header; a slow metadata service is asked again only 5 s after a fetch
  ends, and SIGTERM ends a syncer in the middle of a metadata request;
- a prefix with a '..' segment is refused; a malformed URL option is not
  echoed.
"""
import http.server
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
LOOP_PAGE = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
             b'<IsTruncated>true</IsTruncated><NextContinuationToken>same</NextContinuationToken>'
             b'<Contents><Key>p/main__x__20260101-000000-000000000__G0000000000000001__F1.pb.zst'
             b'</Key><Size>10</Size></Contents></ListBucketResult>')
EMPTY = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
         b'<IsTruncated>false</IsTruncated></ListBucketResult>')


class State:
    mode = "loop"
    imds_delay = 0  # seconds each metadata answer takes
    imds = []       # (path, time its answer was sent)
    lists = 0
    trickling = 0
    headers = []
    objects = {}    # mode "objects": key -> body (None: 500 for ever)
    gets = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, body, code=200):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        State.headers.append(str(self.headers))
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        if self.path.startswith("/latest/api/token"):
            State.imds.append(("token", time.monotonic()))
            time.sleep(State.imds_delay)
            return self.answer(b"imds-token")
        self.answer(b"")

    def do_GET(self):
        State.headers.append(str(self.headers))
        if "uploads=" in self.path and State.mode == "upcycle":
            # ListMultipartUploads whose markers go round: A, B, A, ...
            State.lists += 1
            nxt = "B" if "key-marker=A" in self.path else "A"
            return self.answer((
                '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult>'
                '<IsTruncated>true</IsTruncated><NextKeyMarker>%s</NextKeyMarker>'
                '<NextUploadIdMarker></NextUploadIdMarker></ListMultipartUploadsResult>'
                % nxt).encode())
        if self.path.startswith("/latest/"):
            time.sleep(State.imds_delay)
        if self.path.startswith("/latest/meta-data/iam/security-credentials/role"):
            State.imds.append(("role", time.monotonic()))
            return self.answer(b'{"Code":"Success","AccessKeyId":"AKIDEXAMPLE",'
                               b'"SecretAccessKey":"secret","Token":"tok\\r\\nX-Evil: 1",'
                               b'"Expiration":"2099-01-01T00:00:00Z"}')
        if self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            return self.answer(b"role")
        if "list-type=2" in self.path:
            State.lists += 1
            if State.mode == "loop":
                return self.answer(LOOP_PAGE)
            if State.mode in ("cycle", "long", "bigtoken"):
                # cycle: tokens A, B, A, ... with keys that ascend; long:
                # fresh tokens, the same 1200-byte key on every page;
                # bigtoken: fresh 20 KB tokens (each one is kept)
                n = State.lists
                tok = ("B" if "continuation-token=A" in self.path else "A") \
                    if State.mode == "cycle" else "t%d" % n
                if State.mode == "bigtoken":
                    tok = "%06d" % n + "A" * 20000
                key = "p/main__x__20260101-000000-%09d__G0000000000000001__F1.pb.zst" % n \
                    if State.mode != "long" else "p/main__" + "x" * 1200
                return self.answer((
                    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
                    '<IsTruncated>true</IsTruncated><NextContinuationToken>%s'
                    '</NextContinuationToken><Contents><Key>%s</Key><Size>10</Size>'
                    '</Contents></ListBucketResult>' % (tok, key)).encode())
            if State.mode == "trickle":
                State.trickling += 1
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                try:
                    for _ in range(400):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.9)
                except OSError:
                    pass
                return
            if State.mode == "upcycle":
                return self.answer(EMPTY)
            if State.mode == "objects":
                return self.answer((
                    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
                    '<IsTruncated>false</IsTruncated>%s</ListBucketResult>' % "".join(
                        "<Contents><Key>%s</Key><Size>%d</Size></Contents>"
                        % (k, len(v or b"")) for k, v in sorted(State.objects.items())))
                    .encode())
            return self.answer(EMPTY)
        key = self.path.split("?")[0].lstrip("/").split("/", 1)[-1]
        if State.mode == "objects" and key in State.objects:
            State.gets[key] = State.gets.get(key, 0) + 1
            body = State.objects[key]
            if body is None:
                return self.answer(b'<?xml version="1.0"?><Error><Code>InternalError</Code>'
                                   b'<Message>broken</Message></Error>', 500)
            return self.answer(body)
        self.answer(b"", 404)


def main():
    root = A.fresh_tmp()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ep = "http://127.0.0.1:%d" % srv.server_address[1]
    url = "s3://bucket/p?endpoint=%s&region=us-east-1&force_path_style=true&retries=0" % ep
    env = os.path.join(root, "env")
    os.makedirs(env)
    r = A.run([PY, "-c", "import lmdb,sys; e=lmdb.open(sys.argv[1]); t=e.begin(write=True); "
               "t.put(b'k',b'v'); t.commit()", env])
    A.eq(r.rc, 0, "make the env")
    creds = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    base = A.base_env(creds)

    def sync_argv(store_url, *extra):
        return [A.MDBTAP, "sync", "--env", env, "--store", store_url, "--instance", "me"] + \
            list(extra)

    # 1. a listing that goes round
    State.mode = "loop"
    try:
        p = subprocess.run(sync_argv(url, "--once"), env=base, capture_output=True, text=True,
                           timeout=60)
        A.check(p.returncode != 0 and "repeat" in p.stderr,
                "a repeating continuation token fails the cycle: %d %s"
                % (p.returncode, p.stderr[-500:]))
        A.check(State.lists < 10, "it stopped at once: %d pages" % State.lists)
    except subprocess.TimeoutExpired:
        A.fail("the syncer loops on a repeating continuation token")

    for mode, says in (("cycle", "repeat"), ("long", "LIST"), ("bigtoken", "longer than"),
                       ("upcycle", "does not move on")):
        State.mode = mode
        State.lists = 0
        try:
            p = subprocess.run(sync_argv(url, "--once"), env=base, capture_output=True,
                               text=True, timeout=60)
            # the cleaner's listing of uploads only warns: the cycle goes on
            A.check((p.returncode != 0 or mode == "upcycle") and "LIST" in p.stderr
                    and says in p.stderr,
                    "a listing in mode %s fails the cycle: %d %s"
                    % (mode, p.returncode, p.stderr[-500:]))
            A.check(State.lists < 10, "it stopped at once: %d pages" % State.lists)
        except subprocess.TimeoutExpired:
            A.fail("the syncer loops on a listing in mode %s" % mode)

    # 2. SIGTERM in the middle of a trickling request
    State.mode = "trickle"
    State.trickling = 0
    q = subprocess.Popen(sync_argv(url, "--poll-interval", "100ms"), env=base,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if A.wait_for("a trickling listing", lambda: State.trickling > 0, 60):
        time.sleep(1.5)
        t0 = time.monotonic()
        q.send_signal(signal.SIGTERM)
        try:
            # the listing would trickle on for minutes (30 s at least,
            # low_speed_time): 20 s leaves a loaded machine room
            q.wait(timeout=20)
        except subprocess.TimeoutExpired:
            A.fail("the syncer is still running 20 s after SIGTERM")
    q.kill()
    q.wait()
    State.trickling = 0
    t0 = time.monotonic()
    try:
        p = subprocess.run([A.MDBTAP, "run", "--sync", "--env", env, "--store", url,
                            "--instance", "me", "--poll-interval", "100ms", "--", PY, "-c",
                            "import time; time.sleep(3)"], env=base, capture_output=True,
                           text=True, timeout=30)
        A.eq(p.returncode, 0, "mdbtap run's status: " + p.stderr[-300:])
        A.check(time.monotonic() - t0 < 25, "mdbtap run returned within seconds of its program: "
                "%.1f s" % (time.monotonic() - t0))
    except subprocess.TimeoutExpired:
        A.fail("mdbtap run hangs after its program exited")

    # 3. a session token with CR/LF from the metadata service
    State.mode = "empty"
    State.headers = []
    imds = A.base_env({"AWS_EC2_METADATA_SERVICE_ENDPOINT": ep})
    p = subprocess.run(sync_argv(url + "&instance_profile=true", "--once"), env=imds,
                       capture_output=True, text=True, timeout=60)
    A.check(not any("X-Evil" in h for h in State.headers),
            "an IMDS token with CR/LF became a header: " + p.stderr[-300:])

    # 3b. a slow metadata service (each answer whole, but seconds in
    # coming) with unusable credentials: it is asked again only a while
    # after a fetch ends, not before every request; SIGTERM in the middle
    # of a metadata request ends the syncer at once
    State.imds = []
    State.imds_delay = 2
    q = subprocess.Popen(sync_argv(url + "&instance_profile=true", "--poll-interval", "100ms"),
                         env=imds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tokens = lambda: [t for what, t in State.imds if what == "token"]  # noqa: E731
    if A.wait_for("a second fetch of credentials", lambda: len(tokens()) >= 2, 90):
        ended = [t for what, t in State.imds if what == "role"][0]
        A.check(tokens()[1] - ended > 3, "the credentials are fetched again %.1f s after a "
                "failed fetch ended (5 s from its end)" % (tokens()[1] - ended))
    State.imds_delay = 4
    n = len(tokens())
    if A.wait_for("a slow metadata request", lambda: len(tokens()) > n, 90):
        time.sleep(0.5)
        t0 = time.monotonic()
        q.send_signal(signal.SIGTERM)
        try:
            # the rest of the fetch alone would take 3.5 + 4 + 4 s
            q.wait(timeout=7)
        except subprocess.TimeoutExpired:
            A.fail("the syncer is still running 7 s after SIGTERM in a metadata request")
    q.kill()
    q.wait()
    State.imds_delay = 0

    # 4. dot segments in the prefix; a malformed option
    p = subprocess.run(sync_argv("s3://bucket/a/../../other/x?endpoint=%s&region=us-east-1" % ep,
                                 "--once"), env=base, capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0 and "'..'" in p.stderr, "a '..' prefix is refused: " + p.stderr)
    p = subprocess.run(sync_argv(url + "&SECRETVALUE123", "--once"), env=base,
                       capture_output=True, text=True, timeout=60)
    A.check(p.returncode != 0 and "SECRETVALUE123" not in p.stderr,
            "a malformed option is refused without its text: " + p.stderr)
    # 5. one object whose GET always fails (HTTP 500): the instances
    # sorted after it are still received, and it is not asked for again
    # in every cycle
    y = os.path.join(root, "y")
    os.makedirs(y)
    r = A.run([PY, "-c", "import lmdb,sys; e=lmdb.open(sys.argv[1]); t=e.begin(write=True); "
               "t.put(b'from-y',b'1'); t.commit()", y])
    A.eq(r.rc, 0, "make env y")
    ystore = os.path.join(root, "ystore")
    os.makedirs(ystore)  # mdbtap creates none unless told
    p = subprocess.run([A.MDBTAP, "sync", "--env", y, "--store", "file://" + ystore,
                        "--instance", "y", "--once"], env=base, capture_output=True, text=True,
                       timeout=60)
    A.eq(p.returncode, 0, "sync y: " + p.stderr[-300:])
    yname = os.listdir(ystore)[0]
    xname = yname.replace("__y__", "__x__")
    State.objects = {"p/" + xname: None,
                     "p/" + yname: open(os.path.join(ystore, yname), "rb").read()}
    State.mode = "objects"
    p = subprocess.Popen(sync_argv(url, "--poll-interval", "50ms"), env=base,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    A.wait_for("y's object", lambda: State.gets.get("p/" + yname, 0) > 0, 60)
    n = State.lists
    A.wait_for("ten more cycles", lambda: State.lists >= n + 10, 60)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    r = A.run([PY, "-c", "import lmdb,sys; e=lmdb.open(sys.argv[1]); "
               "print(e.begin().get(b'from-y'))", env])
    A.check(b"b'1'" in r.out, "y's object was applied past x's broken one: " + err[-600:])
    A.eq(State.gets.get("p/" + xname), 1, "x's broken object was asked for once in %d cycles"
         % (State.lists - n + 1))
    srv.shutdown()
    A.finish()


if __name__ == "__main__":
    main()

"""fake_imds.py: an EC2 instance metadata service (IMDSv2) on loopback for
the S3 tests: a session token by PUT /latest/api/token, then, with that
token only, the role name and the role's credentials as JSON, expiring
`expires_in` seconds after each fetch. mode "broken" answers the
credentials with something that is not them. Counts what it served.
"""
import datetime
import http.server
import json
import threading

ROLE = "mdbtap-role"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, ctype="text/plain"):
        body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        imds = self.server.imds
        if self.path != "/latest/api/token" or \
                not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self._send(400, "bad token request")
        with imds.lock:
            imds.served["token"] += 1
            token = "token-%d" % imds.served["token"]
            imds.tokens.add(token)
        self._send(200, token)

    def do_GET(self):
        imds = self.server.imds
        if self.headers.get("X-aws-ec2-metadata-token") not in imds.tokens:
            with imds.lock:
                imds.served["refused"] += 1
            return self._send(401, "no token")
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            return self._send(200, ROLE + "\n")
        if self.path != base + ROLE:
            return self._send(404, "not found")
        with imds.lock:
            imds.served["credentials"] += 1
            n = imds.served["credentials"]
            broken = imds.mode == "broken"
        if broken:
            return self._send(200, "{\"Code\": \"Success\", \"AccessKeyId\": 7}",
                              "application/json")
        expires = datetime.datetime.now(datetime.timezone.utc) + \
            datetime.timedelta(seconds=imds.expires_in)
        self._send(200, json.dumps({
            "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": imds.access,
            "SecretAccessKey": imds.secret, "Token": "session-token-%d" % n,
            "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}), "application/json")


class FakeIMDS:
    def __init__(self, access, secret, expires_in):
        self.access, self.secret, self.expires_in = access, secret, expires_in
        self.mode = "ok"
        self.lock = threading.Lock()
        self.tokens = set()
        self.served = {"token": 0, "credentials": 0, "refused": 0}
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.imds = self
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

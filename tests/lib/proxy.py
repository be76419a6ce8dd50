"""proxy.py: a loopback HTTP/1.1 reverse proxy for the S3 tests. It forwards
each request as received (method, raw path and query, every header, Host
too, body) to 127.0.0.1:upstream and relays the answer. Subclasses
override intercept() to answer a request themselves (sigv4_proxy.py,
fault_proxy.py). Keeps connections alive, as the store does.
"""
import hashlib
import http.client
import http.server
import threading

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection", "expect"}


def s3_error(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
            "<Message>%s</Message></Error>" % (code, message)).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, *args):
        pass

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.server.owner.record(self, body)
        if not self.server.owner.intercept(self, body):
            self.forward(body)

    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = handle_one

    def forward(self, body, cut=False):
        """Send the request upstream and relay the answer; with cut, send
        only half of its body (and close), keeping the full Content-Length.
        Returns whether it cut an answer short (an empty one cannot be)."""
        up = http.client.HTTPConnection("127.0.0.1", self.server.owner.upstream, timeout=60)
        try:
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP and k.lower() != "content-length":
                    up.putheader(k, v)
            up.putheader("Content-Length", str(len(body)))
            up.endheaders(body)
            r = up.getresponse()
            data = r.read()
        finally:
            up.close()
        self.server.owner.count("forwarded")
        self.send_response_only(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            if cut and data:
                self.wfile.write(data[:len(data) // 2])
                self.close_connection = True
                return True
            self.wfile.write(data)
        return False

    def answer(self, status, body, extra=()):
        self.send_response_only(status)
        self.send_header("Content-Type", "application/xml")
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class Proxy:
    def __init__(self, upstream_port, port=0):
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.counts = {}
        # every request in the order it arrived: [method, path and query,
        # sha256 of the body, how it was broken (None: forwarded)]
        self.requests = []
        self.local = threading.local()
        self.httpd = Server(("127.0.0.1", port), Handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = None

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def record(self, handler, body):
        with self.lock:
            self.local.entry = [handler.command, handler.path,
                                hashlib.sha256(body).hexdigest(), None]
            self.requests.append(self.local.entry)

    def mark(self, how):
        """Note how the request being handled (in this thread) was broken."""
        with self.lock:
            self.local.entry[3] = how

    def resent(self, ignore=lambda method, path: False):
        """Broken requests the client sent again, the same (method, path,
        query, body), as its very next request, by how they were broken;
        ignore(method, path) leaves a request out (one a client sends again
        anyway, retried or not)."""
        out = {}
        with self.lock:
            reqs = list(self.requests)
        for prev, nxt in zip(reqs, reqs[1:]):
            if prev[3] and not ignore(prev[0], prev[1]) and prev[:3] == nxt[:3]:
                out[prev[3]] = out.get(prev[3], 0) + 1
        return out

    def intercept(self, handler, body):
        """Answer the request and return True, or return False to forward it."""
        return False

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

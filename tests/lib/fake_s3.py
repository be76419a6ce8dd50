"""fake_s3.py: a small S3 endpoint of the tests' own, in memory, on
loopback, for what s3rver does not do: it lists and aborts multipart
uploads. Path-style requests only (/BUCKET/KEY). It implements objects
(PUT, GET, DELETE, ListObjectsV2, unpaged) and multipart uploads
(initiate, upload part, complete, abort, ListMultipartUploads, paged by
`uploads_page`). It checks no signature (put sigv4_proxy.py in front), but
records whether each request carried one.

    with FakeS3("test") as s3:
        s3.add_upload("prefix/key", initiated=time.time() - 86400)
        s3.fail_parts = {2}        # UploadPart of part 2 answers 500, always
        s3.calls                   # [(method, key, {query}, signed), ...]
        s3.uploads                 # {upload id: {"key", "initiated", "parts"}}
"""
import hashlib
import http.server
import re
import threading
import time
import uuid
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
PART_MIN = 5 << 20


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def error(code, msg):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>%s"
            "</Message></Error>" % (code, escape(msg))).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response_only(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = urlsplit(self.path)
        q = dict(parse_qsl(parts.query, keep_blank_values=True))
        segs = parts.path.lstrip("/").split("/", 1)
        bucket, key = unquote(segs[0]), unquote(segs[1]) if len(segs) > 1 else ""
        s3 = self.server.owner
        with s3.lock:
            s3.calls.append((self.command, key, q, "Authorization" in self.headers))
        if bucket != s3.bucket:
            return self.reply(404, error("NoSuchBucket", bucket))
        status, out, headers = s3.serve(self.command, key, q, body)
        self.reply(status, out, headers)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class FakeS3:
    def __init__(self, bucket="test"):
        self.bucket = bucket
        self.lock = threading.Lock()
        self.objects = {}       # key -> bytes
        self.uploads = {}       # id -> {"key", "initiated", "parts": {n: bytes}}
        self.calls = []
        self.fail_parts = set()  # part numbers whose UploadPart answers 500
        self.no_abort = False    # abort and list-uploads answer NotImplemented (as s3rver)
        self.uploads_page = 1000
        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def add_upload(self, key, initiated):
        uid = uuid.uuid4().hex + "/+=x"  # characters the client must %-encode
        with self.lock:
            self.uploads[uid] = {"key": key, "initiated": initiated, "parts": {}}
        return uid

    def serve(self, method, key, q, body):
        with self.lock:
            if not key:
                if method == "GET" and "uploads" in q:
                    return self.list_uploads(q)
                if method == "GET" and q.get("list-type") == "2":
                    return self.list_objects(q)
                return 405, error("MethodNotAllowed", "bucket " + method), ()
            if method == "POST" and "uploads" in q:
                uid = uuid.uuid4().hex + "/+=x"
                self.uploads[uid] = {"key": key, "initiated": time.time(), "parts": {}}
                return 200, ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                             "<InitiateMultipartUploadResult xmlns=\"%s\"><Bucket>%s</Bucket>"
                             "<Key>%s</Key><UploadId>%s</UploadId>"
                             "</InitiateMultipartUploadResult>" % (
                                 NS, self.bucket, escape(key), escape(uid))).encode(), ()
            if "uploadId" in q:
                up = self.uploads.get(q["uploadId"])
                if method == "DELETE" and self.no_abort:
                    return 501, error("NotImplemented", "abort"), ()
                if not up or up["key"] != key:
                    return 404, error("NoSuchUpload", q["uploadId"]), ()
                if method == "PUT" and "partNumber" in q:
                    n = int(q["partNumber"])
                    if n in self.fail_parts:
                        return 500, error("InternalError", "part %d fails" % n), ()
                    up["parts"][n] = body
                    return 200, b"", [("ETag", '"%s"' % hashlib.md5(body).hexdigest())]
                if method == "POST":
                    return self.complete(q["uploadId"], up, key, body)
                if method == "DELETE":
                    del self.uploads[q["uploadId"]]
                    return 204, b"", ()
                return 405, error("MethodNotAllowed", method), ()
            if method == "PUT":
                self.objects[key] = body
                return 200, b"", [("ETag", '"%s"' % hashlib.md5(body).hexdigest())]
            if method in ("GET", "HEAD"):
                if key not in self.objects:
                    return 404, error("NoSuchKey", key), ()
                return 200, self.objects[key], ()
            if method == "DELETE":
                self.objects.pop(key, None)
                return 204, b"", ()
            return 405, error("MethodNotAllowed", method), ()

    def complete(self, uid, up, key, body):
        got = re.findall(rb"<Part><PartNumber>(\d+)</PartNumber><ETag>([^<]*)</ETag></Part>",
                         body)
        if not got or not body.startswith(b"<CompleteMultipartUpload"):
            return 400, error("MalformedXML", "no parts"), ()
        nums = [int(n) for n, _ in got]
        if nums != sorted(set(nums)):
            return 400, error("InvalidPartOrder", "parts out of order"), ()
        data = []
        for k, (n, etag) in enumerate(got):
            part = up["parts"].get(int(n))
            if part is None or etag.replace(b"&quot;", b'"') != (
                    '"%s"' % hashlib.md5(part).hexdigest()).encode():
                return 400, error("InvalidPart", "part %s" % n.decode()), ()
            if k + 1 < len(got) and len(part) < PART_MIN:
                return 400, error("EntityTooSmall", "part %s" % n.decode()), ()
            data.append(part)
        self.objects[key] = b"".join(data)
        del self.uploads[uid]
        return 200, ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult "
                     "xmlns=\"%s\"><Key>%s</Key><ETag>\"x-%d\"</ETag>"
                     "</CompleteMultipartUploadResult>" % (NS, escape(key), len(got))).encode(), ()

    def list_objects(self, q):
        enc = q.get("encoding-type") == "url"
        keys = sorted(k for k in self.objects if k.startswith(q.get("prefix", "")))
        out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"%s\">"
               "<Name>%s</Name><IsTruncated>false</IsTruncated>" % (NS, self.bucket)]
        if enc:
            out.append("<EncodingType>url</EncodingType>")
        for k in keys:
            out.append("<Contents><Key>%s</Key><Size>%d</Size></Contents>" % (
                quote(k, safe="/") if enc else escape(k), len(self.objects[k])))
        out.append("</ListBucketResult>")
        return 200, "".join(out).encode(), ()

    def list_uploads(self, q):
        if self.no_abort:
            return 501, error("NotImplemented", "list uploads"), ()
        enc = q.get("encoding-type") == "url"
        allu = sorted((u["key"], uid, u["initiated"]) for uid, u in self.uploads.items()
                      if u["key"].startswith(q.get("prefix", "")))
        km, um = q.get("key-marker"), q.get("upload-id-marker", "")
        if km is not None:
            allu = [u for u in allu if (u[0], u[1]) > (km, um) and (um or u[0] > km)]
        page = min(self.uploads_page, int(q.get("max-uploads", 1000)))
        shown, more = allu[:page], len(allu) > page

        def e(s):
            return quote(s, safe="/") if enc else escape(s)
        out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult "
               "xmlns=\"%s\"><Bucket>%s</Bucket><IsTruncated>%s</IsTruncated>" % (
                   NS, self.bucket, "true" if more else "false")]
        if enc:
            out.append("<EncodingType>url</EncodingType>")
        if more:
            out.append("<NextKeyMarker>%s</NextKeyMarker><NextUploadIdMarker>%s"
                       "</NextUploadIdMarker>" % (e(shown[-1][0]), escape(shown[-1][1])))
        for key, uid, t in shown:
            out.append("<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated>"
                       "<StorageClass>STANDARD</StorageClass></Upload>" % (
                           e(key), escape(uid), iso(t)))
        out.append("</ListMultipartUploadsResult>")
        return 200, "".join(out).encode(), ()

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

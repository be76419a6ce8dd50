"""sigv4_proxy.py: a proxy in front of s3rver (which checks no signature)
that checks each request's AWS Signature V4 the way S3 does, with an
implementation independent of ours (Debian's botocore), and answers 403
SignatureDoesNotMatch to a wrong one. The canonical request is built from
the request as it arrived: the path decoded and encoded again, the query
parameters decoded, encoded again and sorted (a client that signs them
unsorted or encodes them differently fails), the signed headers, and the
body's SHA-256, which must also match x-amz-content-sha256.

    with SigV4Proxy(s3.port, "S3RVER", "S3RVER") as p: ... p.counts
CLI: sigv4_proxy.py LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET_KEY
"""
import hashlib
import re
import sys
import time
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from proxy import Proxy, s3_error

AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?"
                  r"SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$")


def canonical_query(raw):
    pairs = []
    for part in raw.split("&") if raw else []:
        k, _, v = part.partition("=")
        pairs.append((unquote(k), unquote(v)))
    return S3SigV4Auth(Credentials("x", "x"), "s3", "x")._canonical_query_string_params(pairs)


def expected_signature(method, raw_path, headers, secret, access, region, amz_date):
    auth = S3SigV4Auth(Credentials(access, secret), "s3", region)
    parts = urlsplit(raw_path)
    signed = HTTPHeaders()
    for name, value in headers:
        signed[name] = value
    path = quote(unquote(parts.path), safe="/~")
    cr = "\n".join([method, path, canonical_query(parts.query),
                    auth.canonical_headers(signed) + "\n", auth.signed_headers(signed),
                    headers_dict(headers)["x-amz-content-sha256"]])
    req = AWSRequest(method=method, url="http://x" + raw_path)
    req.context["timestamp"] = amz_date
    return auth.signature(auth.string_to_sign(req, cr), req)


def headers_dict(headers):
    return {k: v for k, v in headers}


class SigV4Proxy(Proxy):
    def __init__(self, upstream_port, access_key, secret_key, port=0):
        super().__init__(upstream_port, port)
        self.access, self.secret = access_key, secret_key
        self.rejections = []

    @property
    def accepted(self):
        return self.counts.get("accepted", 0)

    @property
    def rejected(self):
        return self.counts.get("rejected", 0)

    def refuse(self, handler, why):
        self.count("rejected")
        with self.lock:
            self.rejections.append("%s %s: %s" % (handler.command, handler.path, why))
        handler.answer(403, s3_error("SignatureDoesNotMatch", why))
        return True

    def intercept(self, handler, body):
        h = handler.headers
        m = AUTH.match(h.get("Authorization", ""))
        if not m:
            return self.refuse(handler, "no or malformed Authorization")
        access, day, region, names, sig = m.groups()
        if access != self.access:
            return self.refuse(handler, "unknown access key")
        sha = h.get("x-amz-content-sha256")
        if sha is None:
            return self.refuse(handler, "no x-amz-content-sha256")
        if sha != "UNSIGNED-PAYLOAD" and sha != hashlib.sha256(body).hexdigest():
            return self.refuse(handler, "x-amz-content-sha256 is not the body's")
        amz_date = h.get("x-amz-date", "")
        if not amz_date.startswith(day):
            return self.refuse(handler, "x-amz-date and the credential's day differ")
        try:
            t = time.mktime(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) - time.timezone
        except ValueError:
            return self.refuse(handler, "bad x-amz-date")
        if abs(t - time.time()) > 900:
            return self.refuse(handler, "x-amz-date more than 15 minutes off")
        signed = []
        for name in names.split(";"):
            values = h.get_all(name)
            if values is None:
                return self.refuse(handler, "signed header %s is missing" % name)
            signed.extend((name, v) for v in values)
        if "host" not in names.split(";") or "x-amz-content-sha256" not in names.split(";"):
            return self.refuse(handler, "host or x-amz-content-sha256 not signed")
        want = expected_signature(handler.command, handler.path, signed, self.secret, access,
                                  region, amz_date)
        if want != sig:
            return self.refuse(handler, "signature mismatch")
        self.count("accepted")
        return False


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: sigv4_proxy.py LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET_KEY")
    p = SigV4Proxy(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[1]))
    print(p.endpoint, flush=True)
    try:
        p.httpd.serve_forever()
    except KeyboardInterrupt:
        pass

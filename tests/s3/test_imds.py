"""test_imds.py: instance_profile=true takes the credentials of an EC2
instance's role from the instance metadata service (fake_imds.py on
loopback, IMDSv2: every request with the session token) and renews them
before they expire. The store's proxy checks every signature made with
them. When the service then answers nonsense, the syncer says so once and
goes on with the credentials it holds while they are valid. No secret in
the log. Run through with_s3.py.
"""
import os
import subprocess

import apputil as A
from fake_imds import FakeIMDS

PY = "/usr/bin/python3"
WRITER = os.path.join(A.LIB, "writer.py")


def write(env, key):
    p = subprocess.run([PY, WRITER, env, '[["put", null, "%s", "v"]]' % key],
                       capture_output=True, text=True,
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD), timeout=60)
    A.eq(p.returncode, 0, "writer: " + p.stderr)


def main():
    root = A.fresh_tmp()
    env, log = os.path.join(root, "env"), os.path.join(root, "sync.log")
    os.makedirs(env)
    write(env, "k1")
    access, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    url = os.environ["MDBTAP_TEST_STORE_URL"]
    clean = {k: v for k, v in os.environ.items()
             if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    # the hosts' leaks are not ours, the syncer's are (ASan builds)
    clean["ASAN_OPTIONS"] = clean.get("ASAN_OPTIONS", "").replace("detect_leaks=0",
                                                                  "detect_leaks=1")

    def logged(text):
        return lambda: os.path.exists(log) and text in open(log).read()

    # expire 4 min + 4 s from each fetch: the syncer renews 4 min ahead
    with FakeIMDS(access, secret, 244) as imds:
        clean["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.endpoint
        sync = subprocess.Popen([A.MDBTAP, "sync", "--env", env, "--store",
                                 url + "&instance_profile=true&retries=0", "--instance", "ec2",
                                 "--poll-interval", "200ms", "--log-file", log], env=clean)
        try:
            A.wait_for("an upload", logged("uploaded main__ec2__"))
            A.check(logged("credentials of the instance's role")(),
                    "the log says where the credentials come from")
            A.wait_for("renewed credentials", lambda: imds.served["credentials"] >= 2)
            A.check(imds.served["token"] >= 1, "an IMDSv2 session token was asked for")
            A.eq(imds.served["refused"], 0, "requests without the session token")
            imds.mode = "broken"
            n = imds.served["credentials"]
            write(env, "k2")
            A.wait_for("the syncer to ask again", lambda: imds.served["credentials"] > n)
            before = open(log).read().count("uploaded main__ec2__")
            write(env, "k3")
            A.wait_for("an upload with the credentials held",
                     lambda: open(log).read().count("uploaded main__ec2__") > before)
            text = open(log).read()
            A.eq(text.count("expected AccessKeyId"), 1, "the broken answer is logged once")
            A.check(secret not in text and "session-token-" not in text,
                    "a secret or session token in the log")
            A.check(sync.poll() is None, "the syncer still runs")
        finally:
            sync.terminate()
            # 0 after SIGTERM (under ASan: and no leak at exit)
            A.eq(sync.wait(timeout=30), 0, "the syncer's exit status")
    listed = subprocess.run([A.MDBTAP, "snapshots", "list", url], capture_output=True,
                            text=True, timeout=60).stdout
    A.check(" ec2 " in listed, "the objects are in the store:\n" + listed)

    # refused at start: other credentials with it; the service disabled
    for extra, says in (("&instance_profile=true&access_key=AK", "give no access_key"),):
        p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store", url + extra,
                            "--instance", "ec2"], env=clean, capture_output=True, text=True,
                           timeout=60)
        A.eq(p.returncode, 1, "sync with %s: %s" % (extra, p.stderr))
        A.check(says in p.stderr, "%s: %s" % (extra, p.stderr))
    p = subprocess.run([A.MDBTAP, "sync", "--once", "--env", env, "--store",
                        url + "&instance_profile=true", "--instance", "ec2"],
                       env=dict(clean, AWS_EC2_METADATA_DISABLED="true"), capture_output=True,
                       text=True, timeout=60)
    A.eq(p.returncode, 1, "sync with the service disabled: " + p.stderr)
    A.check("AWS_EC2_METADATA_DISABLED" in p.stderr, p.stderr)
    A.finish()


if __name__ == "__main__":
    main()

"""test_rotate.py: credentials rotated in their files are picked up by a
running syncer. It starts with a wrong secret in its secret_key_file: the
store refuses every request (the SigV4 proxy checks), the syncer keeps
running and says why. Then the right secret is written into the file (by
rename, as rotations do): the syncer's next requests are signed with it
and its objects arrive. The env is adopted once, not again after each
failed upload. Run through with_s3.py --allow-refused N.
"""
import os
import subprocess

import apputil as A

PY = "/usr/bin/python3"


def put_file(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.rename(path + ".tmp", path)


def main():
    root = A.fresh_tmp()
    env, log = os.path.join(root, "env"), os.path.join(root, "sync.log")
    os.makedirs(env)
    p = subprocess.run([PY, os.path.join(A.LIB, "writer.py"), env,
                        '[["put", null, "k", "v"]]'], capture_output=True, text=True,
                       env=dict(os.environ, LD_PRELOAD=A.PRELOAD), timeout=60)
    A.eq(p.returncode, 0, "writer: " + p.stderr)
    ak, sk = os.path.join(root, "ak"), os.path.join(root, "sk")
    put_file(ak, os.environ["AWS_ACCESS_KEY_ID"])
    put_file(sk, "not-the-secret")
    url = os.environ["MDBTAP_TEST_STORE_URL"]
    cfg = os.path.join(root, "sync.yaml")
    with open(cfg, "w") as f:
        f.write("instance: rot\npoll_interval: 100ms\nlog_file: %s\nenvs:\n  main:\n"
                "    path: %s\n    store: '%s&retries=0'\n    store_options:\n"
                "      access_key_file: %s\n      secret_key_file: %s\n"
                % (log, env, url, ak, sk))
    clean = {k: v for k, v in os.environ.items()
             if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    # the hosts' leaks are not ours, the syncer's are (ASan builds)
    clean["ASAN_OPTIONS"] = clean.get("ASAN_OPTIONS", "").replace("detect_leaks=0",
                                                                  "detect_leaks=1")
    sync = subprocess.Popen([A.MDBTAP, "sync", "-c", cfg], env=clean)
    try:
        def logged(text):
            return lambda: os.path.exists(log) and text in open(log).read()

        A.wait_for("a refused request in the log", logged("403"))
        A.check(sync.poll() is None, "the syncer runs on while refused")
        put_file(sk, os.environ["AWS_SECRET_ACCESS_KEY"])
        A.wait_for("the syncer to read its credentials again",
                 logged("credentials read again from their files"))
        A.wait_for("an upload", logged("uploaded main__rot__"))
        listed = subprocess.run([A.MDBTAP, "snapshots", "list", url], capture_output=True,
                                text=True, timeout=60).stdout
        A.check(" rot " in listed, "the object is in the store:\n" + listed)
        A.check(os.environ["AWS_SECRET_ACCESS_KEY"] not in open(log).read(),
                "the secret is in the log")
        A.check(sync.poll() is None, "the syncer still runs")
        # a failed upload undoes only the export, not the adoption before it
        A.eq(open(log).read().count("adopting the env"), 1, "adoptions while refused")
    finally:
        sync.terminate()
        # 0 after SIGTERM (under ASan: and no leak at exit)
        A.eq(sync.wait(timeout=30), 0, "the syncer's exit status")
    A.finish()


if __name__ == "__main__":
    main()

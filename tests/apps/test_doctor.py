"""apps_doctor: `mdbtap doctor` on real programs, files, envs and processes:
dynamic liblmdb through python3-lmdb (ok), LMDB compiled into mdb_load (no),
a setuid program (no), scripts (followed to their interpreter), a file that
is no program (no), a postfix table (MDB_NOLOCK and the lock protocol), a
running program with and without the tap.
"""
import os
import shutil
import signal
import subprocess
import sys

import apputil as A


def doctor(what, rc, *says):
    # Debian's python3 (with python3-lmdb) first in PATH, for scripts
    env = dict(os.environ, PATH="/usr/bin:/bin:/usr/sbin:/sbin")
    p = subprocess.run([A.MDBTAP, "doctor", what], capture_output=True, text=True, timeout=60,
                       env=env)
    A.eq(p.returncode, rc, "doctor %s: exit code (%s)" % (what, p.stdout + p.stderr))
    for s in says:
        A.check(s in p.stdout, "doctor %s says %r:\n%s" % (what, s, p.stdout))


def main():
    root = A.fresh_tmp()
    doctor("/usr/bin/python3", 0, "uses the system's liblmdb", "the tap can see its writes")
    doctor("mdb_load", 1, "has LMDB compiled in")
    suid = os.path.join(root, "suid-true")
    shutil.copy("/usr/bin/true", suid)
    os.chmod(suid, 0o4755)
    doctor(suid, 1, "is setuid")
    script = os.path.join(root, "tool")
    with open(script, "w") as f:
        f.write("#!/usr/bin/env python3\nimport lmdb\n")
    os.chmod(script, 0o755)
    doctor(script, 0, "is a script run by python3", "uses the system's liblmdb")
    junk = os.path.join(root, "junk")
    with open(junk, "w") as f:
        f.write("hello\n")
    doctor(junk, 1, "neither a program")
    doctor(os.path.join(root, "nothing-here"), 1, "no such program")
    doctor("/usr/lib/x86_64-linux-gnu/pdns/liblmdbbackend.so", 0,
           "a library linked against liblmdb")

    os.makedirs(os.path.join(root, "pf", "conf"))
    open(os.path.join(root, "pf", "conf", "main.cf"), "w").close()
    src = os.path.join(root, "pf", "access")
    with open(src, "w") as f:
        f.write("a@example.com OK\n")
    r = A.run(["/usr/sbin/postmap", "-c", os.path.join(root, "pf", "conf"), "lmdb:" + src],
              preload=A.PRELOAD)
    A.eq(r.rc, 0, "postmap: %r" % r.err)
    doctor(src + ".lmdb", 0, "MDB_NOSUBDIR", "MDB_NOLOCK", "fcntl lock", "has journaled it")

    env = os.path.join(root, "env")
    prog = "import lmdb, time; e = lmdb.open(%r)\nwith e.begin(write=True) as t: t.put(b'k', b'v')\n" \
           "print('ready', flush=True); time.sleep(30)" % env
    for preload, rc, says in ((A.PRELOAD, 0, "the tap is loaded"), (None, 1, "the tap is not loaded")):
        p = subprocess.Popen(["/usr/bin/python3", "-c", prog], stdout=subprocess.PIPE, text=True,
                             env=A.base_env({"LD_PRELOAD": preload} if preload else None))
        try:
            A.eq(p.stdout.readline().strip(), "ready", "the program started")
            doctor(str(p.pid), rc, says, "it has the env %s open" % env)
        finally:
            p.kill()
            p.wait()
        shutil.rmtree(env)
    # ctypes calls liblmdb through its own handle, past the tap
    p = subprocess.Popen(["/usr/bin/python3", "-c", "import ctypes, time; "
                          "ctypes.CDLL('liblmdb.so.0'); print('ready', flush=True); "
                          "time.sleep(30)"], stdout=subprocess.PIPE, text=True,
                         env=A.base_env({"LD_PRELOAD": A.PRELOAD}))
    try:
        A.eq(p.stdout.readline().strip(), "ready", "the ctypes program started")
        doctor(str(p.pid), 1, "the tap is loaded", "ctypes or cffi")
    finally:
        p.kill()
        p.wait()
    A.finish()


def readers_in_namespaces(root):
    """A reader of the env in another PID namespace (a container): doctor
    ENV and doctor PID warn; a reader in ours does not make it warn."""
    env = os.path.join(root, "nsenv")
    os.makedirs(env)
    prog = ("import lmdb, time; e = lmdb.open(%r)\nwith e.begin(write=True) as t: "
            "t.put(b'k', b'v')\nt = e.begin(); t.get(b'k'); print('ready', flush=True); "
            "time.sleep(30)" % env)
    here = subprocess.Popen(["/usr/bin/python3", "-c", prog], stdout=subprocess.PIPE, text=True)
    try:
        A.eq(here.stdout.readline().strip(), "ready", "the reader here started")
        p = subprocess.run([A.MDBTAP, "doctor", env], capture_output=True, text=True, timeout=60)
        A.check("warn:" not in p.stdout, "a reader in our namespace is no warning:\n" + p.stdout)
    finally:
        here.kill()
        here.wait()
    if subprocess.run(["unshare", "-p", "-f", "--mount-proc", "true"],
                      capture_output=True).returncode != 0:
        print("SKIP: a reader in another PID namespace (unshare is not permitted here)")
        sys.exit(77)
    inner = None
    there = subprocess.Popen(["unshare", "-p", "-f", "--mount-proc", "/usr/bin/python3", "-c",
                              prog], stdout=subprocess.PIPE, text=True)
    try:
        A.eq(there.stdout.readline().strip(), "ready", "the reader in a namespace started")
        doctor(env, 0, "the reader with PID 1 is process", "another PID namespace",
               "read transactions fail (EAGAIN)")
        with open("/proc/%d/task/%d/children" % (there.pid, there.pid)) as f:
            inner = int(f.read().split()[0])  # the python process, as we see it
        doctor(str(inner), 1, "runs in another PID namespace than this one",
               "the tap is not loaded")
    finally:
        if inner:
            os.kill(inner, signal.SIGKILL)
        there.kill()
        there.wait()


if __name__ == "__main__":
    if sys.argv[1:] == ["--pidns"]:  # apps_doctor_pidns: may be skipped (77)
        readers_in_namespaces(A.fresh_tmp())
        A.finish()
    main()

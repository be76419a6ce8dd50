"""trust_run: `mdbtap run` refuses a --tap path that the loader cannot
preload (a space or a colon: LD_PRELOAD splits on them and would drop it
silently; a '$': the loader expands $LIB, $ORIGIN, $PLATFORM), and Ctrl-C on a terminal reaches the program once.
"""
import os
import pty
import select
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
import apputil as A  # noqa: E402

PY = "/usr/bin/python3"
COUNT = r'''
import signal, time
n = 0
def h(s, f):
    global n
    n += 1
signal.signal(signal.SIGINT, h)
print("ready", flush=True)
end = time.time() + 60
while n == 0 and time.time() < end:
    time.sleep(0.05)
time.sleep(1.0)  # room for a second copy
print("count=%d" % n, flush=True)
'''


def main():
    root = A.fresh_tmp()
    tap = A.PRELOAD.rsplit(":", 1)[-1]
    pre = A.PRELOAD.rsplit(":", 1)[0] if ":" in A.PRELOAD else ""
    env = A.base_env({"LD_PRELOAD": pre} if pre else None)
    for bad in ("with space", "with:colon", "t$LIB", "t$ORIGIN"):
        d = os.path.join(root, bad)
        os.makedirs(d)
        t = os.path.join(d, "libmdbtap.so")
        shutil.copy(tap, t)
        r = subprocess.run([A.MDBTAP, "run", "--tap", t, "--", "true"], env=env,
                           capture_output=True, text=True, timeout=60)
        A.check(r.returncode == 2 and "a colon or a '$'" in r.stderr,
                "a tap path %s is refused: %d %s" % (bad, r.returncode, r.stderr))

    # Ctrl-C on a terminal: the terminal signals the foreground group
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(A.MDBTAP, [A.MDBTAP, "run", "--tap", tap, "--", PY, "-c", COUNT], env)
    out = b""
    deadline = time.monotonic() + 60
    sent = False
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not sent and b"ready" in out:
            os.write(fd, b"\x03")
            sent = True
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    A.check("count=1" in text, "Ctrl-C reached the program once: " + text)
    A.finish()


if __name__ == "__main__":
    main()

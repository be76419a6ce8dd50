"""unit_man: the man pages cannot drift from the CLI: every command of
`mdbtap help` has its section in mdbtap(1) (and no section names a command
that is gone), every long option a command's help names is in the page,
and `mandoc -Tlint` finds nothing in any page."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

MDBTAP = sys.argv[1]
MAN = os.path.join(sys.argv[2], "man")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg)


def run(*args):
    return subprocess.run([MDBTAP] + list(args), capture_output=True, text=True,
                          timeout=30).stdout


page = open(os.path.join(MAN, "mdbtap.1")).read()
listed = re.findall(r"^  ([a-z]+) ", run("help").split("commands:\n", 1)[1], re.M)
check(len(listed) >= 5, "mdbtap help lists the commands: %r" % listed)
sections = re.findall(r"^\.Ss (\S+)$", page, re.M)
check(sections == listed, "mdbtap(1) has one section per command, in the help's order:\n"
      "  help: %r\n  page: %r" % (listed, sections))
# Options as the page writes them: ".Fl -name" (also after "Fl c ,").
in_page = set(re.findall(r"Fl -([a-z][a-z-]*)", page))
for cmd in listed:
    for opt in sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)(?![\w=-])",
                                     run("help", cmd)))):
        if opt != "help":
            check(opt in in_page, "mdbtap(1) describes %s's --%s" % (cmd, opt))
# Every key the config file takes (as the syncer's own error lists them,
# at the top and in an env) has its entry in mdbtap.yaml(5).
yaml5 = open(os.path.join(MAN, "mdbtap.yaml.5")).read()
in_yaml5 = set(re.findall(r"^\.It Ic (\w+)(?: , Ic (\w+))?", yaml5, re.M))
in_yaml5 = {k for pair in in_yaml5 for k in pair if k}
for text in ("bogus_key: 1\n", "envs:\n  main:\n    bogus_key: 1\n"):
    fd, cfg = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    err = subprocess.run([MDBTAP, "sync", "--config", cfg], capture_output=True, text=True,
                         timeout=30).stderr
    os.unlink(cfg)
    known = re.search(r"\(known: ([a-z_, ]+)\)", err)
    check(known, "the config error lists the known keys: " + err)
    for key in (known.group(1).split(", ") if known else []):
        check(key in in_yaml5, "mdbtap.yaml(5) describes the key %s" % key)
if shutil.which("mandoc"):
    for name in ("mdbtap.1", "mdbtap.yaml.5", "libmdbtap.7"):
        # (from the pages' folder: their references to each other resolve)
        r = subprocess.run(["mandoc", "-Tlint", "-Wall", name], capture_output=True, text=True,
                           cwd=MAN)
        check(r.returncode == 0 and not r.stdout and not r.stderr,
              "mandoc -Tlint %s: %s%s" % (name, r.stdout, r.stderr))
else:
    check(False, "mandoc is not installed (tools/install-deps installs it)")
if failures:
    sys.exit("%d check(s) failed" % len(failures))
print("all checks passed")

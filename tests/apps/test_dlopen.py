#!/usr/bin/python3
"""apps_dlopen_local / apps_dlopen_deepbind: a host that gets liblmdb only
through a plugin it dlopen()s (deephost.c + deepplugin.c).

usage: test_dlopen.py local|deepbind HOST PLUGIN

local:    the plugin is loaded RTLD_LOCAL (as postfix and pdns load theirs):
          liblmdb is not in the global scope, dlsym(RTLD_NEXT) finds nothing
          and the tap must fall back to the library the host loaded. Both
          taps must journal it exactly.
deepbind: the plugin is loaded RTLD_DEEPBIND (as PHP loads its extensions):
          it binds mdb_* to its own liblmdb, so the plain tap sees nothing
          and `mdbtap journal --check` reports exactly those txn ids; the
          deepbind tap (soname liblmdb.so.0) must journal it exactly.
Every run's output must equal the same run's without the tap.
"""
import os
import sys

import apputil as A

put = lambda db, k, v=None: ("put", db, k, v)
dele = lambda db, k, v=None: ("del", db, k, v)
N = None
# What one deepplugin run commits into a fresh env (see deepplugin.c) ...
FIRST = [
    [("create", "items", 0x4), put("items", b"k1", b"a"), put("items", b"k1", b"b"), put(N, b"alpha")],
    [dele("items", b"k1", b"a"), put(N, b"beta"), put(N, b"kept")],
    [put(N, b"delta"), put(N, b"epsilon"), dele(N, b"delta")],
]
# ... and a second run into the same env: "items" exists already, and puts
# of the same bytes again are recorded too.
SECOND = [FIRST[0][1:]] + FIRST[1:]


def runs(host, plugin, envdir, modes, preload):
    """Run the host once per mode on a fresh env; list of Results."""
    A.wipe(envdir)
    os.makedirs(envdir)
    return [A.run([host, m, plugin, envdir], preload=preload) for m in modes]


def compare(plain, tapped, what):
    for i, (a, b) in enumerate(zip(plain, tapped)):
        A.eq(a.rc, 0, "%s: run %d without the tap: exit code (out %r err %r)" % (what, i, a.out, a.err))
        A.same_result(a, b, "%s: run %d" % (what, i))


def exact(envdir, expected, what):
    recs, summary = A.journal(envdir)
    A.expect_records(recs, expected, what)
    last = A.env_last_txnid(envdir, False)
    A.eq(last, len(expected), what + ": env last txn id")
    A.expect_summary_clean(summary, last, what)
    A.expect_check_ok(envdir, what)


def main():
    mode, host, plugin = sys.argv[1:4]
    tmp = A.fresh_tmp()
    envdir = os.path.join(tmp, "env")

    if mode == "local":
        modes = ["local", "local"]
        plain = runs(host, plugin, envdir, modes, None)
        for name, preload in (("plain tap", A.PRELOAD), ("deepbind tap", A.PRELOAD_DEEPBIND)):
            tapped = runs(host, plugin, envdir, modes, preload)
            compare(plain, tapped, "RTLD_LOCAL plugin, " + name)
            exact(envdir, FIRST + SECOND, "RTLD_LOCAL plugin, " + name)
        A.finish()

    if "libasan" in A.PRELOAD:
        print("SKIP: ASan's dlopen interceptor refuses RTLD_DEEPBIND (it would abort the host)")
        sys.exit(77)

    # The plain tap: a first run loads the plugin RTLD_LOCAL (journaled), the
    # second RTLD_DEEPBIND (invisible to it).
    modes = ["local", "deepbind"]
    plain = runs(host, plugin, envdir, modes, None)
    tapped = runs(host, plugin, envdir, modes, A.PRELOAD)
    compare(plain, tapped, "RTLD_DEEPBIND plugin, plain tap")
    recs, summary = A.journal(envdir)
    A.expect_records(recs, FIRST, "RTLD_DEEPBIND plugin, plain tap: only the RTLD_LOCAL run's txns")
    last = A.env_last_txnid(envdir, False)
    A.eq(last, len(FIRST + SECOND), "env last txn id after both runs")
    A.eq(summary.get("unaccounted"), [[len(FIRST) + 1, len(FIRST + SECOND)]],
         "the RTLD_DEEPBIND run's txn ids are unaccounted, exactly")
    chk = A.journal_check(envdir)
    A.eq(chk.rc, 3, "mdbtap journal --check exit code with a writer the tap cannot see")

    # The deepbind tap sees both.
    plain = runs(host, plugin, envdir, ["deepbind", "deepbind"], None)
    tapped = runs(host, plugin, envdir, ["deepbind", "deepbind"], A.PRELOAD_DEEPBIND)
    compare(plain, tapped, "RTLD_DEEPBIND plugin, deepbind tap")
    exact(envdir, FIRST + SECOND, "RTLD_DEEPBIND plugin, deepbind tap")
    tapped = runs(host, plugin, envdir, ["local", "deepbind"], A.PRELOAD_DEEPBIND)
    compare(plain, tapped, "RTLD_LOCAL then RTLD_DEEPBIND plugin, deepbind tap")
    exact(envdir, FIRST + SECOND, "RTLD_LOCAL then RTLD_DEEPBIND plugin, deepbind tap")
    A.finish()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""apps_pdns: PowerDNS 4.7 pdnsutil (LMDB backend, dlopen'd) under the tap.

pdnsutil keeps two NOSUBDIR envs: pdns.lmdb (domains, metadata, keydata, tsig
with their DUPSORT name indexes *_0, and pdns) and pdns.lmdb-0 (records, shard
0). It opens every DBI in its own write txn, and inside its write txns it
begins child txns that it aborts.

The same command sequence runs on a fresh config dir twice per id mode
(lmdb-random-ids=no and =yes): plain and with the tap. Outputs (and, with
sequential ids, the data) must be identical; the journal of each env must hold
exactly the expected records, from the right pdnsutil process, with keys
decoded from what mdb_dump shows; every element that changed between two
commands must be in the journal; `mdbtap journal --check` must pass.
"""
import os
import sys

import apputil as A

PDNSUTIL = "/usr/bin/pdnsutil"
TSIG_SECRET = "kp4/24gyYsEzbuTVJRUMoqGFmN3LYgVDzJ/3oRSP7ys="
ZONE_NET = """$ORIGIN example.net.
@ 3600 IN SOA ns1.example.net. hostmaster.example.net. 1 10800 3600 604800 3600
@ 3600 IN NS ns1.example.net.
www 60 IN A 192.0.2.7
mail 60 IN MX 10 mx.example.net.
"""
COMMANDS = [
    "create-zone example.org ns1.example.org",
    "add-record example.org www A 3600 192.0.2.10",
    "add-record example.org multi.sub A 60 192.0.2.1 192.0.2.2",
    "replace-rrset example.org www A 3600 192.0.2.99",
    "delete-rrset example.org multi.sub A",
    "set-kind example.org primary",
    "set-meta example.org ALLOW-AXFR-FROM 192.0.2.0/24",
    "import-tsig-key k1 hmac-sha256 " + TSIG_SECRET,
    "load-zone example.net {dir}/zone.txt",
    "delete-zone example.org",
    # read-only: must leave nothing in the journal
    "list-all-zones",
    "list-zone example.net",
    "list-tsig-keys",
    "get-meta example.net",
    "check-zone example.net",
]
DUPSORT = {"domains_0", "metadata_0", "keydata_0", "tsig_0"}
MAIN_DBIS = [("domains", 0x8), ("domains_0", 0x14), ("metadata", 0x8), ("metadata_0", 0x14),
             ("keydata", 0x8), ("keydata_0", 0x14), ("tsig", 0x8), ("tsig_0", 0x14),
             ("pdns", 0)]


def write_conf(d, random_ids):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "pdns.conf"), "w") as f:
        f.write("\n".join([
            "launch=lmdb",
            "lmdb-filename=%s/pdns.lmdb" % d,
            "lmdb-shards=1",
            "lmdb-random-ids=%s" % ("yes" if random_ids else "no"),
            "lmdb-sync-mode=sync",
            "socket-dir=%s" % d,
            "disable-syslog=yes",
            "security-poll-suffix=",
            "loglevel=3",
        ]) + "\n")
    with open(os.path.join(d, "zone.txt"), "w") as f:
        f.write(ZONE_NET)


def run_sequence(d, random_ids, preload=None, probe=None):
    """Run COMMANDS; returns ([Result], [(main dump, shard dump) after each])."""
    A.wipe(d)
    write_conf(d, random_ids)
    results, dumps = [], []
    extra = {"TXNPROBE_LOG": probe} if probe else None
    for c in COMMANDS:
        argv = [PDNSUTIL, "--config-dir=" + d] + c.format(dir=d).split()
        results.append(A.run(argv, preload=preload, extra_env=extra))
        dumps.append(dump_both(d))
    return results, dumps


def dump_both(d):
    main, shard = os.path.join(d, "pdns.lmdb"), os.path.join(d, "pdns.lmdb-0")
    return (A.dump_hex(main, True) if os.path.exists(main) else {},
            A.dump_hex(shard, True) if os.path.exists(shard) else {})


def name_key(*labels):
    """The name index key: labels in reverse order, each followed by NUL."""
    return b"".join(l.encode() + b"\0" for l in reversed(labels))


def find_id(dump, dbi, key):
    """The ids (4 bytes, host order) the DUPSORT index `dbi` maps key to."""
    return [v for k, v in dump.get(dbi, ({}, []))[1] if k == key]


def rkey(zid, rel, qtype):
    """A `records` key as pdns 4.7 lays it out: domain id (big endian), the
    labels of the name relative to the zone in reverse order, each followed
    by NUL (the apex: one NUL), a NUL, the qtype (big endian). The test
    checks every key built here against mdb_dump's output."""
    labels = rel.split(".") if rel else []
    mid = b"".join(l.encode() + b"\0" for l in reversed(labels)) if labels else b"\0"
    return int.from_bytes(zid, sys.byteorder).to_bytes(4, "big") + mid + b"\0" + qtype.to_bytes(2, "big")


A_, NS, SOA, MX = 1, 2, 6, 15


def expected(dumps):
    """Per env, a list of (command index, ops) for every record expected,
    with ids decoded from the dumps."""
    after = lambda i: dumps[i]
    org, net = name_key("example", "org"), name_key("example", "net")
    z = find_id(after(0)[0], "domains_0", org)
    n = find_id(after(8)[0], "domains_0", net)
    m = find_id(after(6)[0], "metadata_0", org)
    t = find_id(after(7)[0], "tsig_0", name_key("k1"))
    ok = A.eq(len(z), 1, "domains_0 maps example.org to one id") & \
        A.eq(len(n), 1, "domains_0 maps example.net to one id") & \
        A.eq(len(m), 1, "metadata_0 has one entry for example.org") & \
        A.eq(len(t), 1, "tsig_0 has one entry for k1")
    if not ok:
        return None
    z, n, m, t = z[0], n[0], m[0], t[0]
    A.eq([k for k, _ in after(0)[0]["domains"][1]], [z], "domains holds example.org's id")
    A.eq(len({z, n}), 2, "zone ids differ")

    def have(i, key, present=True):
        keys = [k for k, _ in after(i)[1].get("records", ({}, []))[1]]
        A.check((key in keys) == present, "after %r: records key %r %s in mdb_dump (keys %r)"
                % (COMMANDS[i], key, "not" if present else "still", keys))
        return key

    put = lambda db, k, v=None: ("put", db, k, v)
    dele = lambda db, k, v=None: ("del", db, k, v)
    main = [(0, [("create", name, fl)]) for name, fl in MAIN_DBIS] + [
        (0, [put("pdns", b"schemaversion"), put("pdns", b"shards"), put("pdns", b"uuid")]),
        (0, [put("domains", z), put("domains_0", org, z)]),
        # set-kind rewrites the object and its index entry (the same bytes again)
        (5, [put("domains", z), put("domains_0", org, z)]),
        (6, [put("metadata", m), put("metadata_0", org, m)]),
        (7, [put("tsig", t), put("tsig_0", name_key("k1"), t)]),
        (8, [put("domains", n), put("domains_0", net, n)]),
        # delete-zone: the zone's metadata index entry (pdns 4.7 leaves the
        # metadata object itself), then the zone
        (9, [dele("metadata_0", org, m)]),
        (9, [dele("domains", z), dele("domains_0", org, z)]),
    ]
    shard = [
        (0, [("create", "records", 0)]),
        (0, [put("records", have(0, rkey(z, "", SOA))), put("records", have(0, rkey(z, "", NS)))]),
        (1, [put("records", have(1, rkey(z, "www", A_)))]),
        (2, [put("records", have(2, rkey(z, "multi.sub", A_)))]),
        (3, [dele("records", rkey(z, "www", A_)), put("records", have(3, rkey(z, "www", A_)))]),
        (4, [dele("records", have(4, rkey(z, "multi.sub", A_), False))]),
        (8, [put("records", have(8, rkey(n, "", SOA))), put("records", have(8, rkey(n, "", NS))),
             put("records", have(8, rkey(n, "www", A_))), put("records", have(8, rkey(n, "mail", MX)))]),
        # delete-zone: a cursor walk over the zone's keys, in key order
        (9, [dele("records", have(9, k, False)) for k in
             sorted([rkey(z, "", SOA), rkey(z, "", NS), rkey(z, "www", A_)])]),
    ]
    # delete-zone leaves the metadata object (seen in the dump, not assumed)
    A.eq([k for k, _ in after(9)[0]["metadata"][1]], [m], "metadata after delete-zone")
    return main, shard


def check_env(path, recs, summary, exp, results, what):
    """recs must be exp (list of (command index, ops)), each from the right pid."""
    A.expect_records(recs, [ops for _, ops in exp], what)
    for r, (i, _) in zip(recs, exp):
        A.eq(r["pid"], results[i].pid, "%s: txn %d comes from the pdnsutil process of %r"
             % (what, r["txnid"], COMMANDS[i]))
    last = A.env_last_txnid(path, True)
    A.eq(last, len(exp), what + ": env last txn id")
    A.expect_summary_clean(summary, last, what)
    A.expect_check_ok(path, what)


def phase(tmp, random_ids):
    tag = "random-ids=%s" % ("yes" if random_ids else "no")
    d = os.path.join(tmp, "pdns")
    plain, plain_dumps = run_sequence(d, random_ids)
    for c, r in zip(COMMANDS, plain):
        A.eq(r.rc, 0, "%s plain: pdnsutil %s exit code (stderr %r)" % (tag, c, r.err))
    tapped, dumps = run_sequence(d, random_ids, preload=A.PRELOAD)
    for c, a, b in zip(COMMANDS, plain, tapped):
        A.same_result(a, b, "%s: pdnsutil %s" % (tag, c))
    if not random_ids:
        # Same data, except the instance's random uuid.
        strip = lambda dm: {k: v for k, v in dm[0].items() if k != "pdns"}
        for c, a, b in zip(COMMANDS, plain_dumps, dumps):
            A.eq(strip(b), strip(a), "%s: main env data after %s, with the tap vs without" % (tag, c))
            A.eq(b[1], a[1], "%s: shard env data after %s, with the tap vs without" % (tag, c))
    else:
        A.eq(len(set(find_id(dumps[0][0], "domains_0", name_key("example", "org"))
                     + find_id(plain_dumps[0][0], "domains_0", name_key("example", "org")))), 2,
             "random ids: the two runs chose different zone ids")

    exp = expected(dumps)
    if exp is None:
        return
    main_path, shard_path = os.path.join(d, "pdns.lmdb"), os.path.join(d, "pdns.lmdb-0")
    mrecs, msum = A.journal(main_path)
    srecs, ssum = A.journal(shard_path)
    check_env(main_path, mrecs, msum, exp[0], tapped, tag + " pdns.lmdb")
    check_env(shard_path, srecs, ssum, exp[1], tapped, tag + " pdns.lmdb-0")

    # Independently of the expected lists: each command's real changes
    # (mdb_dump before vs after) are all in that command's records.
    prev = ({}, {})
    for i, c in enumerate(COMMANDS):
        for env_i, recs in ((0, mrecs), (1, srecs)):
            mine = [A.ops(r) for r in recs if r["pid"] == tapped[i].pid]
            ch = A.element_changes(prev[env_i], dumps[i][env_i], DUPSORT)
            # A DBI's creation changes the unnamed DB (its record): a "create" event.
            ch.pop(None, None)
            A.expect_changes_journaled(ch, mine, DUPSORT, "%s: %s env %d" % (tag, c, env_i))
            if i >= 10:
                A.eq(mine, [], "%s: read-only %s leaves no record" % (tag, c))
        prev = dumps[i]
    A.check(os.path.isdir(main_path + "-mdbtap") and os.path.isdir(shard_path + "-mdbtap"),
            "companion directories next to both NOSUBDIR envs")


def probe_phase(tmp):
    """pdnsutil really nests: child write txns inside its write txns, which it
    aborts. The tap's journal (above) has nothing from them."""
    d = os.path.join(tmp, "probe")
    probe = sys.argv[1] if len(sys.argv) > 1 else ""
    if not A.check(os.path.exists(probe), "the probe library is given as argument 1"):
        return
    log = os.path.join(tmp, "probe.log")
    res, _ = run_sequence(d, True, preload=probe, probe=log)
    for c, r in zip(COMMANDS, res):
        A.eq(r.rc, 0, "probe run: pdnsutil %s exit code" % c)
    txns = A.probe_txns(log)
    children = [t for t in txns if t["parent"]]
    print("probe: %d write txns, %d of them children (%d aborted)" % (
        len(txns), len(children), sum(t["state"] == "abort" for t in children)))
    A.check(len(children) >= 3, "pdnsutil began child write txns (%d)" % len(children))
    A.check(any(t["state"] == "abort" for t in children), "pdnsutil aborted child txns")
    failed = [w for t in txns if t["state"] == "commit" for w in t["writes"] if w[1] != 0]
    A.eq(failed, [], "no failed write calls inside committed txns in this sequence")


def main():
    tmp = A.fresh_tmp()
    probe_phase(tmp)
    phase(tmp, False)
    phase(tmp, True)
    A.finish()


if __name__ == "__main__":
    main()

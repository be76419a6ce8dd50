#!/bin/bash
# apps_unseen_writer: writers the tap cannot see are noticed (docs/DESIGN.md §2).
#
# A python3-lmdb writer runs with the tap; between its runs, lmdb-utils'
# mdb_load (LMDB linked statically: no mdb_* call reaches the tap) and the
# same python writer started without the preload write into the same env.
# `mdbtap journal --check` must exit 3, and the summary's "unaccounted" must be
# exactly the txn ids those writers committed (mdb_stat -e before and after
# each), no more and no fewer; the text output must name them.
set -u
: "${MDBTAP_PRELOAD:?run this through ctest}" "${MDBTAP_BIN:?}" "${MDBTAP_TEST_TMP:?}"
PY=/usr/bin/python3
T=$MDBTAP_TEST_TMP
rm -rf "$T" && mkdir -p "$T"
ENV=$T/env
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

last_txnid() { mdb_stat -e "$ENV" | sed -n 's/^ *Last transaction ID: *//p'; }

# writer PRELOAD TAG N: N txns, each puts two keys and deletes one
# (python3-lmdb), preloaded with PRELOAD unless it is empty.
writer() {
	env ${1:+LD_PRELOAD="$1"} "$PY" - "$ENV" "$2" "$3" <<'EOF'
import lmdb, sys
env = lmdb.open(sys.argv[1], max_dbs=4, map_size=1 << 24)
data = env.open_db(b"data")
tag, n = sys.argv[2], int(sys.argv[3])
for i in range(n):
    with env.begin(write=True) as t:
        t.put(("%s-%d" % (tag, i)).encode(), b"v", db=data)
        t.put(("%s-u%d" % (tag, i)).encode(), b"w")
        t.delete(("%s-u%d" % (tag, i)).encode())
EOF
}
range() { if [ "$1" = "$2" ]; then echo "$1"; else echo "$1-$2"; fi; }

# mdb_load LABEL FROM COUNT: COUNT keys into "data" (it commits every 100).
load() {
	for ((i = $2; i < $2 + $3; i++)); do printf '%s%d\nloaded %d\n' "$1" "$i" "$i"; done |
		mdb_load -T -s data "$ENV" || fail "mdb_load exit code $?"
}

mkdir -p "$ENV"
writer "$MDBTAP_PRELOAD" a 3 || fail "tapped writer a: exit code $?"
l0=$(last_txnid)
[ "$l0" = 4 ] || fail "after the first tapped writer: last txn id $l0, want 4 (create + 3)"
"$MDBTAP_BIN" journal --check "$ENV" >/dev/null || fail "--check after only tapped writes: exit code $?"

load key 0 250
l1=$(last_txnid)
[ $((l1 - l0)) = 3 ] || fail "mdb_load of 250 keys: $((l1 - l0)) txns, want 3"

writer "$MDBTAP_PRELOAD" b 2 || fail "tapped writer b: exit code $?"
l2=$(last_txnid)
writer "" c 2 || fail "plain writer c: exit code $?"   # not preloaded: unseen too
l3=$(last_txnid)
writer "$MDBTAP_PRELOAD" d 1 || fail "tapped writer d: exit code $?"
l4=$(last_txnid)
load more 0 10
l5=$(last_txnid)
echo "txn ids: tapped 1-$l0, mdb_load $((l0 + 1))-$l1, tapped $((l1 + 1))-$l2, plain $((l2 + 1))-$l3, tapped $((l3 + 1))-$l4, mdb_load $((l4 + 1))-$l5"

"$MDBTAP_BIN" journal --check "$ENV" >"$T/check.out" 2>"$T/check.err"
rc=$?
[ "$rc" = 3 ] || fail "mdbtap journal --check: exit code $rc, want 3"

"$MDBTAP_BIN" journal --json "$ENV" >"$T/journal.json" 2>"$T/journal.err" ||
	fail "mdbtap journal --json: exit code $?"
want_unacc="[[$((l0 + 1)),$l1],[$((l2 + 1)),$l3],[$((l4 + 1)),$l5]]"
want_recs="[$(seq -s, 1 "$l0"),$(seq -s, $((l1 + 1)) "$l2"),$(seq -s, $((l3 + 1)) "$l4")]"
"$PY" - "$T/journal.json" "$want_unacc" "$want_recs" "$l5" <<'EOF' || failures=$((failures + 1))
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
s = lines[-1]["summary"]
recs = lines[:-1]
bad = 0
def eq(a, b, what):
    global bad
    if a != b:
        print("FAIL: %s: %r, want %r" % (what, a, b)); bad = 1
eq(s["unaccounted"], json.loads(sys.argv[2]), "summary unaccounted")
eq(s["env_last_txnid"], int(sys.argv[4]), "summary env_last_txnid")
eq(s["in_doubt"], [], "summary in_doubt")
eq([r["txnid"] for r in recs], json.loads(sys.argv[3]), "txn ids of the records")
eq({r["state"] for r in recs}, {"committed"}, "record states")
# Nothing of what the unseen writers wrote is in the journal.
keys = {bytes.fromhex(e["key"]) for r in recs for e in r["entries"]}
eq(sorted(k for k in keys if k.startswith((b"key", b"more", b"c-"))), [], "unseen writers' keys in the journal")
eq(sorted(k for k in keys if k.startswith(b"b-")), [b"b-0", b"b-1", b"b-u0", b"b-u1"], "tapped writer b's keys")
sys.exit(bad)
EOF

# The text output names the unaccounted ids.
want_text="# unaccounted txn ids: $(range $((l0 + 1)) "$l1"), $(range $((l2 + 1)) "$l3"), $(range $((l4 + 1)) "$l5")"
grep -qxF "$want_text" "$T/check.out" ||
	fail "text output lacks the line '$want_text'; it says: $(grep unaccounted "$T/check.out")"
# mdb_load's writes are really there (mdb_dump, also static).
n=$(mdb_dump -p -s data "$ENV" | grep -c '^ key')
[ "$n" = 250 ] || fail "mdb_dump: $n keys from mdb_load, want 250"

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"

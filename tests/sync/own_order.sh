#!/bin/sh
# own_order.sh HOST: a DBI the host orders with its own comparator is left
# alone by the syncer (neither exported nor merged: its byte order is not
# the host's), said once, kept, and named by `mdbtap doctor`; the plain DBI
# next to it syncs. Before the fix the keys of "r" were merged out of the
# host's order (see own_order.c).
set -eu
host="$1"
t="$MDBTAP_TEST_TMP"
rm -rf "$t" && mkdir -p "$t/a" "$t/b" "$t/store"
sync1() {
	$MDBTAP_BIN sync --once --env "$t/$1" --store "file://$t/store" --instance "$1" \
		>> "$t/$1.log" 2>&1
}
fail() { echo "FAIL: $*"; for i in a b; do echo "--- $i.log"; cat "$t/$i.log"; done; exit 1; }

LD_PRELOAD="$MDBTAP_PRELOAD" "$host" "$t/b" put zzz
sync1 b
LD_PRELOAD="$MDBTAP_PRELOAD" "$host" "$t/a" put k1 k2
sync1 a; sync1 b; sync1 a; sync1 b
"$host" "$t/a" list > "$t/a.out"
"$host" "$t/b" list > "$t/b.out"
cat "$t/a.out" "$t/b.out"
printf 'r: k2 k1\np: p-k1 p-k2 p-zzz\n' | cmp -s - "$t/a.out" || fail "a holds $(cat "$t/a.out")"
printf 'r: zzz\np: p-k1 p-k2 p-zzz\n' | cmp -s - "$t/b.out" || fail "b holds $(cat "$t/b.out")"
for i in a b; do
	n=$(grep -c "DBI 'r' has the host's own order" "$t/$i.log" || true)
	[ "$n" = 1 ] || fail "$i said it $n times, want once"
	grep -qx 72 "$t/$i/mdbtap/own-order" || fail "$i: no 'r' (72) in own-order"
	$MDBTAP_BIN doctor "$t/$i" > "$t/$i.doctor" || true
	grep -q "warn: *DBI 'r' has the program's own order" "$t/$i.doctor" ||
		fail "$i: doctor: $(cat "$t/$i.doctor")"
done
echo ok

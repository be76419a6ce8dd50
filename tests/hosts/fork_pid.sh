#!/bin/sh
# fork_pid.sh FORK_PID: the journal's records carry the pids fork_pid
# printed, in commit order (see fork_pid.c).
set -eu
t="$MDBTAP_TEST_TMP"
rm -rf "$t" && mkdir -p "$t/env"
LD_PRELOAD="$MDBTAP_PRELOAD" "$1" "$t/env" > "$t/pids"
$MDBTAP_BIN journal --json "$t/env" |
	sed -n 's/.*"pid":\([0-9]*\),.*/\1/p' > "$t/records"
echo "writers:"; cat "$t/pids"
echo "records:"; cat "$t/records"
test "$(wc -l < "$t/pids")" -eq 3
cmp "$t/pids" "$t/records"
echo ok

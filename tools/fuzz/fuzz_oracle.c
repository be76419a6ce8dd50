/* fuzz_oracle.c: libFuzzer entry of the tap oracle (tests/oracle): each
 * input is a program's bytes, run with and without the tap; a mismatch
 * (invisibility or completeness, see oracle.h) aborts with the input kept
 * by libFuzzer. Slow (two processes per input): run it on demand, with
 * MDBTAP_ORACLE_TAP naming the tap (tools/fuzz/run oracle does). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char work[] = "/tmp/mdbtap-fuzz-oracle-XXXXXX";
	static int ready;
	struct oracle_cfg cfg = { ORACLE_CHILD, getenv("MDBTAP_ORACLE_TAP"), work };
	struct oracle_stats st = { 0 };
	char msg[1024];
	int rc;

	if (!ready) {
		if (!cfg.preload) {
			fprintf(stderr, "set MDBTAP_ORACLE_TAP to a libmdbtap.so\n");
			abort();
		}
		if (!mkdtemp(work))
			abort();
		ready = 1;
	}
	if (size > 1 << 16)
		return 0;
	rc = oracle_check(&cfg, data, size, &st, msg, sizeof(msg));
	if (rc != 0) {
		fprintf(stderr, "oracle: %s\n", msg);
		abort();
	}
	return 0;
}

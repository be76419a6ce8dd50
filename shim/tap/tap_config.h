/* tap_config.h: the tap's settings (MDBTAP_* variables) and its log file.
 *
 * The tap is configured by the environment only, read once, and every
 * setting has a default. It never writes to stdout or stderr: diagnostics
 * go to the file named by MDBTAP_LOG, and nowhere when that is unset.
 */
#ifndef MDBTAP_TAP_CONFIG_H
#define MDBTAP_TAP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct tap_config {
	int disabled;           /* MDBTAP_DISABLE=1: pure pass-through */
	uint64_t journal_size;  /* MDBTAP_JOURNAL_SIZE: ring bytes of a new journal */
	size_t txn_limit;       /* MDBTAP_TXN_LIMIT: bytes of ops kept per transaction */
};

#define TAP_DEFAULT_TXN_LIMIT (8u << 20)

/* The settings, parsed on first use. */
const struct tap_config *tap_config(void);

/* Parse "123", "64k", "8M", "1G". Returns 0, or EINVAL. */
int tap_parse_size(const char *s, uint64_t *out);

/* Append a line to MDBTAP_LOG, if set; at most a few hundred lines per
 * process, so a broken setup cannot fill a disk. Keeps errno. */
void tap_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

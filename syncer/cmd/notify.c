/* notify.c: see notify.h. */
#include "notify.h"

#ifdef MDBTAP_HAVE_SYSTEMD
#include <stdint.h>
#include <systemd/sd-daemon.h>

/* Failures to notify are not the syncer's: the manager says what it
 * missed (a unit that never gets ready times out). */
void notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

unsigned long long notify_watchdog_ns(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? (unsigned long long)usec * 1000u : 0;
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping after the cycle");
}
#else
void notify_ready(const char *status)
{
	(void)status;
}

void notify_watchdog(void)
{
}

unsigned long long notify_watchdog_ns(void)
{
	return 0;
}

void notify_stopping(void)
{
}
#endif

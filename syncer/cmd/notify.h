/* notify.h: telling the service manager how the syncer is doing
 * (systemd's sd_notify, Type=notify): ready once the initial sync is
 * done, alive after each cycle, stopping. Does nothing when not started
 * by systemd (no NOTIFY_SOCKET) or when built without libsystemd. */
#ifndef MDBTAP_NOTIFY_H
#define MDBTAP_NOTIFY_H

/* READY=1 with a STATUS line: every env holds the fleet's data. */
void notify_ready(const char *status);

/* WATCHDOG=1: a cycle over every env ended (WatchdogSec= in the unit). */
void notify_watchdog(void);

/* The service manager's watchdog period in ns (WATCHDOG_USEC), 0 when
 * there is none: a sleep between cycles longer than half of it (a
 * poll_interval above WatchdogSec=/2) sends WATCHDOG=1 on the way. */
unsigned long long notify_watchdog_ns(void);

/* STOPPING=1: SIGTERM came, the cycle under way finishes. */
void notify_stopping(void);

#endif

/* tap_lock.h: the tap's one mutex, for what is not on the write path
 * (tracking envs, naming DBI handles). Made safe across fork. */
#ifndef MDBTAP_TAP_LOCK_H
#define MDBTAP_TAP_LOCK_H

void tap_lock(void);
void tap_unlock(void);

#endif

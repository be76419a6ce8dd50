/* tap_lock.c: the tap's mutex, held across fork so that a child never
 * inherits it locked by a thread that does not exist there. */
#include "tap_lock.h"

#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void unlock_after_fork(void) { pthread_mutex_unlock(&lock); }
static void lock_before_fork(void) { pthread_mutex_lock(&lock); }

/* At load, before the host can have threads: registered lazily, a fork
 * racing with the registration could still inherit the lock held. */
__attribute__((constructor)) static void register_atfork(void)
{
	pthread_atfork(lock_before_fork, unlock_after_fork, unlock_after_fork);
}

void tap_lock(void)
{
	pthread_mutex_lock(&lock);
}

void tap_unlock(void) { pthread_mutex_unlock(&lock); }

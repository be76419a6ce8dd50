/* progress.h: a progress bar on stderr for long work (adopting an env,
 * rescans, full snapshots), drawn only when stderr is a terminal and the
 * work is large enough to be worth it. One at a time. */
#ifndef MDBTAP_PROGRESS_H
#define MDBTAP_PROGRESS_H

#include <stdint.h>

/* Start: what is being done and how many elements, about, it covers. */
void progress_start(const char *what, uint64_t total);
/* One more element done. */
void progress_tick(void);
/* Done: the bar is erased. */
void progress_end(void);

#endif

/* progress.c: see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_MIN 100000   /* smaller work is over before a bar helps */

static struct {
	const char *what;
	uint64_t total, done, next;
	int on;
} bar;

static void draw(void)
{
	unsigned pct = bar.total ? (unsigned)(bar.done * 100 / bar.total) : 0;
	char line[41];

	if (pct > 100)
		pct = 100;
	for (unsigned i = 0; i < 40; i++)
		line[i] = i < pct * 40 / 100 ? '#' : '.';
	line[40] = 0;
	fprintf(stderr, "\r%s [%s] %3u%% %llu/%llu", bar.what, line, pct,
		(unsigned long long)bar.done, (unsigned long long)bar.total);
	fflush(stderr);
}

void progress_start(const char *what, uint64_t total)
{
	bar.what = what;
	bar.total = total;
	bar.done = 0;
	bar.next = total / 100 + 1;
	bar.on = total >= PROGRESS_MIN && isatty(STDERR_FILENO);
	if (bar.on)
		draw();
}

void progress_tick(void)
{
	if (!bar.on || ++bar.done < bar.next)
		return;
	bar.next = bar.done + bar.total / 100 + 1;
	draw();
}

void progress_end(void)
{
	if (bar.on)
		fprintf(stderr, "\r\033[K");
	bar.on = 0;
}

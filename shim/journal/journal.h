/* journal.h: the journal file of one env: create, map, append, read.
 *
 * Shared by the tap (append) and the syncer (read, consume). The format is
 * defined in include/mdbtap.h. Functions return 0, a positive errno value
 * or an MDBTAP_E_* code, and never print.
 */
#ifndef MDBTAP_JOURNAL_H
#define MDBTAP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "mdbtap.h"

struct journal;

/* Companion directory of an env: "DIR/mdbtap" or "FILE-mdbtap", with
 * DIR or FILE resolved (realpath) when it exists, so that every path to
 * one env names one companion. Returns 0, or ENAMETOOLONG if it does not fit in cap bytes. */
int journal_companion_dir(const char *env_path, int nosubdir, char *buf, size_t cap);

/* Options for journal_open. */
struct journal_open_opts {
	int writable;          /* map read-write (tap, syncer) or read-only */
	int create;            /* create the directory and file if missing */
	mode_t mode;           /* file mode when creating, if env_data is NULL */
	const struct stat *env_data; /* the env's data file (jdir_env_stat): the
				companion's owner and widest mode (jdir.h);
				NULL: ours and mode */
	uint64_t capacity;     /* ring size when creating; 0 = the default */
	uint64_t base_txnid;   /* the env's last txn id, when creating */
};

/* Open (and maybe create) the journal in companion directory dir, under
 * the rules of jdir.h (EPERM: refused by them). A journal that exists is
 * never rewritten: one whose header does not validate is refused
 * (MDBTAP_E_FORMAT, _VERSION or _CORRUPT). On success *out owns an fd and
 * a mapping; release with journal_close. */
int journal_open(const char *dir, const struct journal_open_opts *opts, struct journal **out);

/* Replace the journal in dir, if it is an older version of ours (our
 * magic, a version below MDBTAP_JOURNAL_VERSION, and it passes the jdir.h
 * rules under opts), by a fresh journal made under a temporary name and
 * renamed over it. Processes that still map the old file keep writing
 * there; their txn ids are unaccounted in the new one (the syncer
 * rescans). Only the syncer calls this (one per env). Returns 0
 * (replaced), MDBTAP_E_VERSION (not older: left alone), MDBTAP_E_FORMAT
 * (not a journal), or another code (refused, I/O). */
int journal_replace_older(const char *dir, const struct journal_open_opts *opts);

/* 0 if a header read from a file of file_size bytes may be mapped and
 * written into (magic, version, capacity against the size, alignment and
 * bounds of head and tail), else an MDBTAP_E_* code. */
int journal_check_header(const struct mdbtap_journal_header *h, uint64_t file_size);

/* Unmap and close; NULL is fine. */
void journal_close(struct journal *j);

/* The mapped header (fields marked atomic must be read with
 * journal_load()). Valid until journal_close. */
struct mdbtap_journal_header *journal_header(struct journal *j);

/* Atomic 64-bit load (acquire) of a header field. */
static inline uint64_t journal_load(const uint64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_ACQUIRE);
}

/* Hybrid logical clock: the next timestamp for a local commit, shared by
 * every process of the env. */
uint64_t journal_clock_next(struct journal *j);

/* Raise the clock to at least ts (after merging a remote write). */
void journal_clock_observe(struct journal *j, uint64_t ts);

/* What a writer appends. names and ops are encoded with record.h. */
struct journal_append_in {
	uint64_t txnid;
	uint64_t ts;
	uint32_t flags;        /* MDBTAP_REC_* */
	uint32_t nnames;
	uint32_t nops;
	const void *names;
	size_t names_len;
	const void *ops;
	size_t ops_len;
};

/* A published record waiting for its commit's outcome. */
struct journal_slot {
	uint64_t *state;       /* NULL: nothing to finish */
	uint64_t pos;
	struct mdbtap_journal_header *hdr; /* for journal_notify; NULL: none */
};

/* The largest body a record can have in this journal. */
size_t journal_max_body(const struct journal *j);

/* Append a PENDING record. The caller must hold the env's writer lock
 * (all appends of an env are serialized by it). Returns 0, or
 * MDBTAP_E_FULL (counted in the header's `dropped`) or MDBTAP_E_CORRUPT. */
int journal_append(struct journal *j, const struct journal_append_in *in, struct journal_slot *slot);

/* Mark a record COMMITTED or ABORTED. Safe from any thread, without the
 * writer lock, and a no-op if the slot was reused meanwhile. */
void journal_finish(const struct journal_slot *slot, int committed);

/* After the host's commit returned (and journal_finish): wake the
 * syncer if one waits on this journal (include/mdbtap.h, "Waking the
 * syncer"). Never blocks and never fails; when no syncer waits it costs
 * a fence and a load. Keeps errno. */
void journal_notify(const struct journal_slot *slot);

/* Where the tap's records stand, for a syncer deciding whether to sleep:
 * `last` is the end of the newest tap record (the syncer's own records do
 * not count), `pending` how many tap records in [tail, head) are still
 * PENDING. Two marks differ when a tap record was appended or settled in
 * between (or was consumed while pending). */
struct journal_mark {
	uint64_t last;
	uint64_t pending;
};

/* Take a mark. `last` is kept from m when nothing newer is in the ring
 * (the records were consumed), and reset when the journal is a new one. */
void journal_mark(struct journal *j, struct journal_mark *m);

/* The syncer is about to sleep until deadline_ns (CLOCK_MONOTONIC): ask
 * the taps for a wake. Returns the value of the futex word to wait on;
 * call journal_mark after this, and sleep only if it did not change.
 * journal_disarm when awake. */
uint32_t journal_arm(struct journal *j, uint64_t deadline_ns);
void journal_disarm(struct journal *j);

/* The futex word the taps wake (shared, in the file's mapping). */
uint32_t *journal_wake_word(struct journal *j);

/* The syncer has folded every record before pos and accounted for every
 * txn id up to accounted_txnid: free their space. Only the syncer calls
 * this, one process per env. */
void journal_consume(struct journal *j, uint64_t pos, uint64_t accounted_txnid);

/* One record as read: a private copy. */
struct journal_entry {
	uint64_t pos;          /* where it starts */
	uint64_t next;         /* where the next one starts */
	int pad;               /* a pad record: no content */
	unsigned state;        /* MDBTAP_STATE_* at the time of reading */
	struct mdbtap_record hdr;
	const uint8_t *body;   /* hdr.body_len bytes, in the reader's buffer */
};

/* A reader's buffer, grown as needed; zero-initialise, free with
 * journal_reader_free. */
struct journal_reader {
	uint8_t *buf;
	size_t cap;
};

void journal_reader_free(struct journal_reader *r);

/* Read the record at pos into r. Returns 1 (e filled), 0 (pos is the head:
 * nothing more), MDBTAP_E_CORRUPT (a record that is not whole; e->next is
 * unknown), EAGAIN (the syncer consumed it while we read), or ENOMEM. */
int journal_read(struct journal *j, uint64_t pos, struct journal_reader *r, struct journal_entry *e);

#endif

/* store.h: where objects go. One small interface over the backends: a
 * local directory (store_dir.c) and S3 (store_s3.c).
 *
 * An object is a name and its bytes. Names are flat: [A-Za-z0-9._-],
 * 1..255 bytes, not starting with '.' (store_valid_name), so that they are
 * safe as file names and S3 keys alike. Writes are atomic: a reader sees a
 * whole object or none, never part of one, whatever other processes put or
 * delete at the same time.
 *
 * Functions return 0 or a positive errno value (EINVAL: a bad name or
 * argument; see each backend for the rest), and store_error says more
 * about the last failure. A store is used by one thread at a time;
 * several processes may use the same store at once. Nothing here prints.
 */
#ifndef MDBTAP_STORE_H
#define MDBTAP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* Longest object name. */
#define STORE_NAME_MAX 255

/* Requests made, by type, since store_open. `errors` counts requests that
 * failed; a get of a missing object is an answer (ENOENT), not an error. */
enum store_op { STORE_OP_PUT, STORE_OP_GET, STORE_OP_LIST, STORE_OP_DEL, STORE_NOPS };

/* How a request ended: answered, failed, or (get and delete only) the
 * object was missing. */
enum store_outcome { STORE_OK, STORE_ERROR, STORE_NOT_FOUND, STORE_NOUTCOMES };

struct store_stats {
	uint64_t put, get, list, del, errors;
	uint64_t outcomes[STORE_NOPS][STORE_NOUTCOMES]; /* the same requests, by
							   type and outcome */
	uint64_t retries;           /* attempts repeated after a transient failure */
	uint64_t bytes_in, bytes_out;   /* object bytes got and put */
	struct hist latency[STORE_NOPS]; /* each call's wall time, retries and
					    every page of a listing included */
};

/* A store option from a config file's store_options (s3conf.h). */
struct store_opt {
	const char *key, *value;
};

/* store_list calls this once per object; a nonzero return stops the
 * listing, and store_list returns that value. */
typedef int (*store_list_fn)(void *ctx, const char *name, uint64_t size);

/* store_abort_uploads calls this once per upload begun and never
 * completed (an S3 multipart upload) of an object name: 1 aborts it, 0
 * leaves it, another value stops the pass and is returned. */
typedef int (*store_upload_fn)(void *ctx, const char *name, uint64_t initiated_ns);

/* store_watch_read calls this once per object that arrived; name NULL:
 * objects may have arrived unseen (the watch overflowed). */
typedef void (*store_watch_fn)(void *ctx, const char *name);

struct store;

/* What a backend implements. Names and prefixes are valid when these are
 * called (store.c checks them and counts the requests); list may pass
 * any name, store.c passes on only valid ones. */
struct store_ops {
	int (*put)(struct store *s, const char *name, int fd);
	int (*get)(struct store *s, const char *name, int fd);
	int (*list)(struct store *s, const char *prefix, store_list_fn fn, void *ctx);
	int (*del)(struct store *s, const char *name);
	void (*close)(struct store *s);   /* frees the backend's struct too */
	/* NULL: the backend leaves no unfinished uploads (a directory) */
	int (*abort_uploads)(struct store *s, const char *prefix, store_upload_fn pick,
			     void *ctx, unsigned *aborted);
};

/* What a backend that can tell when objects arrive implements
 * (store_watch, store_watch_read). */
struct store_watch_ops {
	int (*watch)(struct store *s, int *fd);
	int (*watch_read)(struct store *s, store_watch_fn fn, void *ctx);
};

/* The part every backend starts its own struct with. */
struct store {
	const struct store_ops *ops;
	const struct store_watch_ops *watch_ops; /* NULL: polled only */
	char *url;                  /* owned; for logs, never holds secrets */
	struct store_stats stats;
	char error[512];            /* the last failure, for logs; no secrets */
	uint64_t max_get;           /* store_get's bound on an object (0: none) */
	unsigned file_mode;         /* objects a directory store makes: no more
				       readable than the env's data (0: 0644) */
};

/* Open the store at url:
 *  - "file:///abs/dir" (also "file://localhost/abs/dir"; %XX escapes are
 *    decoded, '?' and '#' refused) or an absolute path "/abs/dir": the
 *    directory store. A missing directory is refused (ENOENT: a typo must
 *    not split the fleet) unless the option create is true; then it is
 *    created (with its parents, mode 0755 less the umask). Temp files
 *    older than an hour that a killed writer left there are removed;
 *  - "s3://BUCKET/PREFIX?OPTIONS": an S3 bucket (s3conf.h), with
 *    opts[0..nopts) from the config file as more options;
 *  - anything else: EINVAL.
 * The option create ("true"/"1"/"yes" or "false"/"0"/"no") is taken by
 * every kind (an S3 prefix needs no creating); a directory store takes no
 * other. On success *out is the store,
 * to be released with store_close. On error err (errlen bytes, may be 0)
 * says why. Opening checks the settings, not that the store answers. */
int store_open(const char *url, const struct store_opt *opts, size_t nopts,
	       struct store **out, char *err, size_t errlen);

/* Open the store at url (as store_open does) and check that it can be
 * used, creating nothing: opened without the option create, then listed
 * up to its first object (a request the stats do not count). Returns 0:
 * usable (*out the store), or a missing directory that create says to
 * make (*out NULL: store_open creates it); else store_open's or the
 * listing's error, and err says why. *answered: 1 when the error says the
 * URL or options are wrong (store_open's errors; ENOENT: no such bucket or
 * directory), *out NULL; 0 when it may pass (no connection, a server
 * failure, credentials refused: they may be rotated), *out the store. */
int store_check(const char *url, const struct store_opt *opts, size_t nopts,
		struct store **out, int *answered, char *err, size_t errlen);

/* Close and free; NULL is fine. */
void store_close(struct store *s);

/* Bound what store_get takes of one object: a larger object fails with
 * EFBIG while it streams, before more than max bytes reach the fd (a
 * directory store checks the size first). 0: no bound. */
void store_set_max_get(struct store *s, uint64_t max);

/* The mode of the objects a directory store creates from now on (less the
 * umask): the env's data file's, so that the store is no more readable
 * than the data. S3 ignores it. */
void store_set_file_mode(struct store *s, unsigned mode);

/* Store fd's content, from offset 0 to its end, as the object name,
 * replacing any object of that name. fd must be seekable (ESPIPE
 * otherwise); its offset is not changed. Atomic: readers see the old
 * object or the new one, whole. Durable when it returns 0. */
int store_put(struct store *s, const char *name, int fd);

/* Write the object name at fd's current offset (its end, for a fresh
 * file or an O_APPEND fd). ENOENT if there is no such object. On error
 * nothing of it is left in fd when fd is seekable (it is truncated back);
 * EIO if the object changed size while being read. */
int store_get(struct store *s, const char *name, int fd);

/* Call fn(ctx, name, size) for each object whose name starts with prefix
 * ("" for all), in byte order of names (strcmp). Objects put or deleted
 * while listing may or may not be seen. Returns 0, an errno value, or
 * fn's nonzero return. */
int store_list(struct store *s, const char *prefix, store_list_fn fn, void *ctx);

/* Delete the object name. A missing object is success. */
int store_del(struct store *s, const char *name);

/* Look for uploads begun and never completed (S3: multipart uploads a
 * killed or failed writer left, which cost storage until aborted) of
 * objects whose name starts with prefix, call pick for each whose key is
 * an object name, and abort those it picks. *aborted counts the aborted
 * ones. Returns 0 (also for a directory store, which has none, and for a
 * server that cannot list uploads: it answers NotImplemented, and nothing
 * is left to clean then), an errno value, or pick's stopping value.
 * Requests count as a listing and deletes. */
int store_abort_uploads(struct store *s, const char *prefix, store_upload_fn pick, void *ctx,
			unsigned *aborted);

/* A descriptor that becomes readable (poll(2)) when objects may have
 * arrived in the store, so that a receiver need not poll the listing:
 * a directory store watches its directory with inotify. ENOTSUP when the
 * backend cannot (S3: list at the poll interval). The store owns the fd;
 * store_close closes it. A second call returns the same fd. */
int store_watch(struct store *s, int *fd);

/* Read what the watch fd holds, without blocking: fn(ctx, name) for each
 * valid object name put since the last read (a name may come more than
 * once; deletions are not told). Unlike every other call here, it may be
 * called from another thread while the store is in use: it touches only
 * the watch. Returns 0 or an errno value. */
int store_watch_read(struct store *s, store_watch_fn fn, void *ctx);

/* The store's URL, for logs: "file:///abs/dir" for a directory store.
 * Never contains secrets. Valid until store_close. */
const char *store_url(const struct store *s);

/* What the last failed request said (e.g. "GET s3://b/p/x: HTTP 403
 * AccessDenied: Access Denied"), or "" if none failed. No secrets. Valid
 * until the next call on s. */
const char *store_error(const struct store *s);

/* Requests made so far. Valid until store_close. */
const struct store_stats *store_stats(const struct store *s);

/* Count one request of type op that ended with rc (0, ENOENT or another
 * error): its type's total, its outcome and, when it failed, errors. A
 * get or delete of a missing object is not found, not an error. For the
 * backends' own requests; the store_* calls count theirs. */
void store_count(struct store_stats *st, enum store_op op, int rc);

/* Make every request in progress, and every later one, of every store in
 * this process fail soon (within about a second) with EINTR, without
 * retries: for a SIGTERM handler (async-signal-safe). */
void store_interrupt(void);

/* Whether store_interrupt was called. */
int store_interrupted(void);

/* 1 if name is a valid object name ([A-Za-z0-9._-], 1..255 bytes, not
 * starting with '.'), else 0. */
int store_valid_name(const char *name);

/* Backends, for store_open. dir is an absolute path; err as above. */
int store_dir_open(const char *dir, int create, struct store **out, char *err, size_t errlen);
int store_s3_open(const char *url, const struct store_opt *opts, size_t nopts,
		  struct store **out, char *err, size_t errlen);

#endif

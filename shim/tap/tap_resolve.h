/* tap_resolve.h: the real LMDB functions, found at run time.
 *
 * The tap is never linked against liblmdb: it finds the library the host
 * loaded, wherever the host loaded it from (see tap_resolve.c).
 */
#ifndef MDBTAP_TAP_RESOLVE_H
#define MDBTAP_TAP_RESOLVE_H

#include <lmdb.h>

/* X(return type, name, parameters): every LMDB function the tap calls.
 * The first group is wrapped (the tap defines them); the rest are only
 * called, and must be called through these pointers too, because the tap
 * has no liblmdb in its own scope when the host dlopen'ed it. */
#define TAP_WRAPPED_FUNCS(X)                                                    \
	X(int, mdb_env_open, (MDB_env *, const char *, unsigned int, mdb_mode_t)) \
	X(void, mdb_env_close, (MDB_env *))                                       \
	X(int, mdb_txn_begin, (MDB_env *, MDB_txn *, unsigned int, MDB_txn **))   \
	X(int, mdb_txn_commit, (MDB_txn *))                                       \
	X(void, mdb_txn_abort, (MDB_txn *))                                       \
	X(int, mdb_dbi_open, (MDB_txn *, const char *, unsigned int, MDB_dbi *))  \
	X(void, mdb_dbi_close, (MDB_env *, MDB_dbi))                              \
	X(int, mdb_drop, (MDB_txn *, MDB_dbi, int))                               \
	X(int, mdb_put, (MDB_txn *, MDB_dbi, MDB_val *, MDB_val *, unsigned int)) \
	X(int, mdb_del, (MDB_txn *, MDB_dbi, MDB_val *, MDB_val *))               \
	X(int, mdb_cursor_put, (MDB_cursor *, MDB_val *, MDB_val *, unsigned int)) \
	X(int, mdb_cursor_del, (MDB_cursor *, unsigned int))                      \
	X(int, mdb_set_compare, (MDB_txn *, MDB_dbi, MDB_cmp_func *))             \
	X(int, mdb_set_dupsort, (MDB_txn *, MDB_dbi, MDB_cmp_func *))

#define TAP_CALLED_FUNCS(X)                                                     \
	X(MDB_env *, mdb_txn_env, (MDB_txn *))                                    \
	X(size_t, mdb_txn_id, (MDB_txn *))                                        \
	X(MDB_txn *, mdb_cursor_txn, (MDB_cursor *))                              \
	X(MDB_dbi, mdb_cursor_dbi, (MDB_cursor *))                                \
	X(int, mdb_cursor_get, (MDB_cursor *, MDB_val *, MDB_val *, MDB_cursor_op)) \
	X(int, mdb_cursor_open, (MDB_txn *, MDB_dbi, MDB_cursor **))              \
	X(int, mdb_get, (MDB_txn *, MDB_dbi, MDB_val *, MDB_val *))               \
	X(void, mdb_cursor_close, (MDB_cursor *))                                 \
	X(int, mdb_dbi_flags, (MDB_txn *, MDB_dbi, unsigned int *))               \
	X(int, mdb_stat, (MDB_txn *, MDB_dbi, MDB_stat *))                        \
	X(int, mdb_env_get_flags, (MDB_env *, unsigned int *))                    \
	X(int, mdb_env_get_path, (MDB_env *, const char **))                      \
	X(int, mdb_env_info, (MDB_env *, MDB_envinfo *))

#define TAP_DECLARE_REAL(ret, name, args) extern ret(*real_##name) args;
TAP_WRAPPED_FUNCS(TAP_DECLARE_REAL)
TAP_CALLED_FUNCS(TAP_DECLARE_REAL)
#undef TAP_DECLARE_REAL

/* Resolve every real_* pointer. Returns 1 when they are all set. Cheap
 * after the first success; retried on each call until then, because
 * liblmdb may be loaded after the tap (dlopen). */
int tap_resolve(void);

/* Indexes of the wrapped functions, for tap_own_def. */
#define TAP_FN_INDEX(ret, name, args) TAP_FN_##name,
enum { TAP_WRAPPED_FUNCS(TAP_FN_INDEX) TAP_NFUNCS };
#undef TAP_FN_INDEX

/* When the object that holds caller (a return address) defines its own
 * mdb_* functions (LMDB compiled into a module that exports them: its
 * calls to them reach the tap through the global scope), its definition
 * of name (index idx); else NULL. Such a caller must reach its own LMDB
 * whatever else is loaded, and is not journaled. Each object is looked
 * up once (dl_iterate_phdr, dlsym) and kept in a small table of address
 * ranges: the usual cost is a few compares. */
void *tap_own_def(const void *caller, unsigned idx, const char *name);

/* The object that holds caller has no mdb_* of its own (the tap may
 * journal it). Cheap: see tap_own_def. */
int tap_caller_plain(const void *caller);

#endif

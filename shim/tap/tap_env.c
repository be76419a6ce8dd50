/* tap_env.c: the table of tracked envs and their DBI names. */
#include "tap_env.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "tap_lock.h"

/* Enough for any sane host (PowerDNS opens one env per shard plus one);
 * an env beyond this is not tracked, which the syncer sees as unaccounted
 * txn ids (docs/DESIGN.md §2). */
#define TAP_MAX_ENVS 256

static struct tap_env *envs[TAP_MAX_ENVS]; /* atomic pointers */
static unsigned nenvs;                      /* atomic high-water mark */

struct tap_env *tap_env_find(MDB_env *env)
{
	unsigned n = __atomic_load_n(&nenvs, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++) {
		struct tap_env *e = __atomic_load_n(&envs[i], __ATOMIC_ACQUIRE);

		if (e && e->env == env)
			return e;
	}
	return NULL;
}

static void free_env(struct tap_env *e)
{
	struct tap_name *n = e->names;

	while (n) {
		struct tap_name *next = n->next;

		free(n->name);
		free(n);
		n = next;
	}
	for (unsigned i = 0; i < e->nretired; i++)
		free(e->retired[i]);
	free(e->retired);
	free(e->slots);
	free(e->ops);
	free(e->namebuf);
	free(e->deep);
	journal_close(e->jnl);
	free(e);
}

struct tap_env *tap_env_add(MDB_env *env, struct journal *j)
{
	struct tap_env *e = calloc(1, sizeof(*e));
	unsigned free_slot = TAP_MAX_ENVS;

	if (!e) {
		journal_close(j);
		return NULL;
	}
	e->env = env;
	e->jnl = j;
	/* The unnamed DBI is handle 1 (MAIN_DBI) without any dbi_open. */
	if (tap_env_name_dbi(e, 1, NULL) != 0) {
		free_env(e);
		return NULL;
	}
	tap_lock();
	for (unsigned i = 0; i < TAP_MAX_ENVS; i++) {
		struct tap_env *old = envs[i];

		if (old && old->env == env) { /* a missed close: env reused */
			__atomic_store_n(&envs[i], NULL, __ATOMIC_RELEASE);
			free_env(old);
		}
		if (!envs[i] && free_slot == TAP_MAX_ENVS)
			free_slot = i;
	}
	if (free_slot < TAP_MAX_ENVS) {
		__atomic_store_n(&envs[free_slot], e, __ATOMIC_RELEASE);
		if (free_slot >= nenvs)
			__atomic_store_n(&nenvs, free_slot + 1, __ATOMIC_RELEASE);
	}
	tap_unlock();
	if (free_slot == TAP_MAX_ENVS) {
		free_env(e);
		return NULL;
	}
	return e;
}

void tap_env_remove(MDB_env *env)
{
	struct tap_env *e = NULL;

	tap_lock();
	for (unsigned i = 0; i < nenvs; i++) {
		if (envs[i] && envs[i]->env == env) {
			e = envs[i];
			__atomic_store_n(&envs[i], NULL, __ATOMIC_RELEASE);
			break;
		}
	}
	tap_unlock();
	if (e)
		free_env(e);
}

/* Intern a name; caller holds tap_lock. */
static struct tap_name *intern(struct tap_env *e, const char *name)
{
	struct tap_name *n;

	for (n = e->names; n; n = n->next)
		if ((!name && !n->name) || (name && n->name && strcmp(name, n->name) == 0))
			return n;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	if (name) {
		n->len = strlen(name);
		n->name = strdup(name);
		if (!n->name) {
			free(n);
			return NULL;
		}
	}
	n->next = e->names;
	e->names = n;
	return n;
}

/* Make room for handle dbi; caller holds tap_lock. */
static int grow_slots(struct tap_env *e, MDB_dbi dbi)
{
	unsigned n = e->nslots ? e->nslots : 8;
	struct tap_name **ns, ***nr;

	while (n <= dbi)
		n *= 2;
	ns = calloc(n, sizeof(*ns));
	nr = realloc(e->retired, (e->nretired + 1) * sizeof(*nr));
	if (!ns || !nr) {
		free(ns);
		if (nr)
			e->retired = nr;
		return ENOMEM;
	}
	e->retired = nr;
	if (e->slots) {
		memcpy(ns, e->slots, e->nslots * sizeof(*ns));
		e->retired[e->nretired++] = e->slots;
	}
	/* Publish the array before its size, so a reader that sees the new
	 * size also sees the new array. */
	__atomic_store_n(&e->slots, ns, __ATOMIC_RELEASE);
	__atomic_store_n(&e->nslots, n, __ATOMIC_RELEASE);
	return 0;
}

int tap_env_name_dbi(struct tap_env *e, MDB_dbi dbi, const char *name)
{
	struct tap_name *n;
	int rc = 0;

	tap_lock();
	n = intern(e, name);
	if (!n)
		rc = ENOMEM;
	else if (dbi >= e->nslots)
		rc = grow_slots(e, dbi);
	if (rc == 0)
		__atomic_store_n(&e->slots[dbi], n, __ATOMIC_RELEASE);
	tap_unlock();
	return rc;
}

struct tap_name *tap_env_intern(struct tap_env *e, const char *name)
{
	struct tap_name *n;

	tap_lock();
	n = intern(e, name);
	tap_unlock();
	return n;
}

void tap_env_unname_dbi(struct tap_env *e, MDB_dbi dbi)
{
	tap_lock();
	if (dbi < e->nslots && dbi != 1)
		__atomic_store_n(&e->slots[dbi], NULL, __ATOMIC_RELEASE);
	tap_unlock();
}

struct tap_name *tap_env_dbi_name(struct tap_env *e, MDB_dbi dbi)
{
	unsigned n = __atomic_load_n(&e->nslots, __ATOMIC_ACQUIRE);
	struct tap_name **s = __atomic_load_n(&e->slots, __ATOMIC_ACQUIRE);

	return dbi < n ? __atomic_load_n(&s[dbi], __ATOMIC_ACQUIRE) : NULL;
}

int tap_env_level(struct tap_env *e, MDB_txn *txn)
{
	unsigned n = __atomic_load_n(&e->nlevels, __ATOMIC_ACQUIRE);

	if (!txn)
		return -1;
	for (unsigned i = n; i-- > 0;)
		if (__atomic_load_n(&e->levels[i].txn, __ATOMIC_ACQUIRE) == txn)
			return (int)i;
	return -1;
}

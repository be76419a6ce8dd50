/* cmd_doctor.c: `mdbtap doctor`: can the tap see this program's writes,
 * and what does the syncer need to know about its envs. */
#define _GNU_SOURCE /* asprintf */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "err.h"
#include "senv.h"
#include "statfile.h"
#include "elfinfo.h"
#include "env.h"
#include "ownorder.h"
#include "tapfind.h"

static int verdict_no;

static void say(const char *tag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *tag, const char *fmt, ...)
{
	va_list ap;

	printf("%-5s ", tag);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!strcmp(tag, "no:"))
		verdict_no = 1;
}

/* path of a command as execvp would find it. */
static int which(const char *cmd, char *out, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return access(out, F_OK) ? errno : 0;
	}
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(out, len, "%.*s/%s", (int)n, n ? p : ".", cmd);
		if (access(out, X_OK) == 0)
			return 0;
		p += n + (p[n] == ':');
	}
	return ENOENT;
}

/* python's lmdb module: bundled LMDB (pip wheels) or the system's? */
static void python_module(const char *python)
{
	char cmd[PATH_MAX + 128], line[PATH_MAX];
	struct elfinfo e;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s' -c 'import lmdb, glob, os; "
		 "print(*glob.glob(os.path.dirname(lmdb.__file__) + \"/*.so\"), sep=\"\\n\")' "
		 "2>/dev/null", python);
	if (strchr(python, '\'') || !(f = popen(cmd, "r"))) {
		say("?", "could not ask %s for its lmdb module", python);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (elfinfo_read(line, &e) || !e.is_elf)
			continue;
		if (e.defines_lmdb)
			say("no:", "python's lmdb module %s has LMDB compiled in (a pip wheel?): "
			    "the tap cannot see its writes; use Debian's python3-lmdb, or "
			    "LMDB_FORCE_SYSTEM=1 when installing it", line);
		else if (e.needs_lmdb)
			say("ok:", "python's lmdb module %s uses the system's liblmdb", line);
		else
			say("?", "python's lmdb module %s: a cffi build? it loads liblmdb at run "
			    "time (the tap finds it then) or bundles it", line);
	}
	if (pclose(f) != 0)
		say("?", "%s has no lmdb module", python);
}

static void check_program(const char *path, int depth)
{
	struct elfinfo e;
	struct stat st;
	char shebang[PATH_MAX], tap[PATH_MAX];
	const char *base = tapfind_basename(path);
	FILE *f;
	int rc;

	if (stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
		say("no:", "%s is set%cid: the loader ignores LD_PRELOAD for it", path,
		    (st.st_mode & S_ISUID) ? 'u' : 'g');
	rc = elfinfo_read(path, &e);
	if (rc) {
		say("no:", "%s: %s", path, err_str(rc));
		return;
	}
	if (!e.is_elf) {
		f = fopen(path, "re");
		if (f && fgets(shebang, sizeof(shebang), f) && !strncmp(shebang, "#!", 2) &&
		    depth < 2) {
			char *interp = shebang + 2, *end;

			while (*interp == ' ')
				interp++;
			end = interp + strcspn(interp, " \t\n");
			if (*end == ' ' && end - interp >= 4 && !strncmp(end - 4, "/env", 4)) {
				/* #!/usr/bin/env NAME: the program is NAME */
				char *name = end + 1 + strspn(end + 1, " ");

				name[strcspn(name, " \t\n")] = 0;
				fclose(f);
				say("ok:", "%s is a script run by %s", path, name);
				if (which(name, shebang, sizeof(shebang)) == 0)
					check_program(shebang, depth + 1);
				return;
			}
			*end = 0;
			say("ok:", "%s is a script run by %s", path, interp);
			fclose(f);
			check_program(interp, depth + 1);
			return;
		}
		if (f)
			fclose(f);
		say("no:", "%s is neither a program of this machine nor a script", path);
		return;
	}
	if (!e.dynamic)
		say("no:", "%s is statically linked: LD_PRELOAD does nothing to it", path);
	else if (!e.interp[0] && e.needs_lmdb)
		say("ok:", "%s is a library linked against liblmdb: the tap sees the writes "
		    "of programs that load it", path);
	else if (e.defines_lmdb)
		say("no:", "%s has LMDB compiled in (linked statically or bundled): the tap "
		    "cannot see its writes; the syncer still finds them by rescanning, slowly",
		    path);
	else if (e.needs_lmdb)
		say("ok:", "%s is linked against liblmdb: the tap sees its writes", path);
	else
		say("ok:", "%s does not link liblmdb itself; if it loads it at run time "
		    "(plugins, modules, ctypes) the tap finds it at its first LMDB call", path);
	if (e.own_order)
		say("warn:", "%s orders some DBIs with its own comparator (mdb_set_compare or "
		    "mdb_set_dupsort): the syncer leaves those DBIs alone (not synced)", path);
	if (!strncmp(base, "python", 6))
		python_module(path);
	if (!strncmp(base, "php", 3))
		say("ok:", "PHP loads its extensions with RTLD_DEEPBIND: the tap's deepbind "
		    "variant is needed (`mdbtap run` picks it for php*)");
	if (depth == 0) {
		rc = tapfind(!strncmp(base, "php", 3), tap, sizeof(tap));
		say(rc ? "no:" : "ok:", "%s%s", rc ? "" : "the tap: ", tap);
	}
}

/* An LMDB data file: its first meta page carries LMDB's magic. */
static int is_lmdb_file(const char *path)
{
	unsigned char buf[32];
	uint32_t magic;
	FILE *f = fopen(path, "re");
	int ok = 0;

	if (f && fread(buf, 1, sizeof(buf), f) == sizeof(buf)) {
		memcpy(&magic, buf + 16, 4);
		ok = magic == 0xBEEFC0DE;
	}
	if (f)
		fclose(f);
	return ok;
}

#define NS_WARNING "LMDB's reader table knows processes by PID number, and equal numbers " \
	"in two PID namespaces collide: the second one's read transactions fail (EAGAIN). " \
	"Run `mdbtap sync` in the program's PID namespace (its container)"

/* Reader slots of processes in another PID namespace, where equal PIDs
 * collide. */
static void check_readers(const char *path, const struct env_where *w)
{
	struct env_reader v[64];
	char err[512] = "";
	size_t n;
	int foreign = 0;

	if (env_readers(path, w, v, 64, &n, err, sizeof(err)) != 0) {
		say("?", "%s", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].holder == v[i].pid || v[i].holder < 0)
			continue; /* this namespace's, or a dead one's (LMDB clears it) */
		if (v[i].holder)
			say("warn:", "the reader with PID %ld is process %ld here: it runs in "
			    "another PID namespace (a container)", v[i].pid, v[i].holder);
		else
			say("warn:", "the reader with PID %ld runs in a PID namespace this one "
			    "cannot see (the host's, or another container's)", v[i].pid);
		foreign = 1;
	}
	if (foreign)
		say("warn:", NS_WARNING);
}

/* Is process pid in our PID namespace? */
static void check_pid_namespace(const char *pid)
{
	char path[64], theirs[64], ours[64];
	ssize_t a, b;

	snprintf(path, sizeof(path), "/proc/%s/ns/pid", pid);
	a = readlink(path, theirs, sizeof(theirs) - 1);
	b = readlink("/proc/self/ns/pid", ours, sizeof(ours) - 1);
	if (a < 0 || b < 0)
		return; /* not ours to read: said nothing */
	theirs[a] = ours[b] = 0;
	if (strcmp(theirs, ours))
		say("warn:", "process %s runs in another PID namespace than this one (a "
		    "container). " NS_WARNING, pid);
}

/* Remote elements the syncer refused for not fitting a local DBI's flags
 * (same-named DBIs created differently on two instances), as its
 * metadata holds them: over every syncer run, until the condition ends
 * (meta.h, struct meta_misfit). */
static void check_misfits(const char *path, const struct env_where *w)
{
	struct statfile_data d;
	struct senv s;
	char err[1024], meta[sizeof(w->companion) + 16];
	int rc;

	/* Checked first: a read-only open makes the metadata's private
	 * directory, which would be ours (root's), not the syncer's. */
	snprintf(meta, sizeof(meta), "%s/meta/data.mdb", w->companion);
	if (access(meta, F_OK) != 0) {
		say("ok:", "no syncer has run on this env yet: it refused no element");
		return;
	}
	rc = senv_open(&s, path, NULL, 1, err, sizeof(err));
	memset(&d, 0, sizeof(d));
	if (!rc) {
		rc = statfile_gather(&s, &d);
		senv_close(&s);
		if (rc)
			snprintf(err, sizeof(err), "the syncer's metadata: %s", err_str(rc));
	}
	if (rc)
		say("?", "%s", err);
	else if (d.misfits_held)
		say("no:", "the syncer refused %" PRIu64 " elements that do not fit this env's "
		    "DBIs' flags (%.*s): the DBIs differ between instances; counted until the "
		    "DBI is re-created here or there", d.misfits_held, (int)sizeof(d.misfits),
		    d.misfits);
	else
		say("ok:", "the syncer refused no element for its DBIs' flags");
}

struct own_order_list {
	int n;
};

static void print_own_order(void *ctx, const char *name, size_t len)
{
	struct own_order_list *l = ctx;
	int printable = len > 0;

	for (size_t i = 0; i < len; i++)
		printable &= isprint((unsigned char)name[i]) != 0;
	l->n++;
	if (!len)
		say("warn:", "the unnamed DBI has the program's own order (mdb_set_compare or "
		    "mdb_set_dupsort): the syncer leaves it alone (not synced)");
	else
		say("warn:", "DBI '%.*s' has the program's own order (mdb_set_compare or "
		    "mdb_set_dupsort): the syncer leaves it alone (not synced)",
		    printable ? (int)len : 9, printable ? name : "(binary)");
}

/* DBIs the syncer leaves alone because the program orders them itself. */
static void check_own_order(const struct env_where *w)
{
	struct own_order_list l = { 0 };
	int rc = ownorder_each(w->companion, print_own_order, &l);

	if (rc)
		say("?", "%s/%s: %s", w->companion, OWNORDER_FILE, err_str(rc));
	else if (!l.n)
		say("ok:", "no DBI seen with a comparator of the program's own (those are not synced)");
}

static void check_env(const char *path)
{
	struct env_where w;
	char jpath[sizeof(w.companion) + 16];
	int rc = env_where(path, &w);

	if (rc) {
		say("no:", "%s: %s", path, err_str(rc));
		return;
	}
	say("ok:", "%s is an LMDB env (%s)", path,
	    w.nosubdir ? "a file: MDB_NOSUBDIR" : "a directory");
	if (w.nolock)
		say("ok:", "its program uses MDB_NOLOCK (no lock file), as postfix does: the "
		    "syncer protects each of its txns with a whole-file fcntl lock on the data "
		    "file, shared to read and exclusive to write, the program's own protocol");
	check_readers(path, &w);
	snprintf(jpath, sizeof(jpath), "%s/journal", w.companion);
	if (access(jpath, F_OK) == 0)
		say("ok:", "the tap has journaled it (%s); `mdbtap journal --check %s` lists txn "
		    "ids nobody accounts for", jpath, path);
	else
		say("?", "no journal yet: no program has written to it with the tap");
	check_misfits(path, &w);
	check_own_order(&w);
}

static void check_pid(const char *pid)
{
	char path[64], exe[PATH_MAX], line[PATH_MAX + 256];
	ssize_t n;
	int tap = 0, lib = 0, pymod = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0) {
		say("no:", "process %s: %s", pid, err_str(errno));
		return;
	}
	exe[n] = 0;
	check_program(exe, 1);
	check_pid_namespace(pid);
	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	f = fopen(path, "re");
	if (!f) {
		say("no:", "%s: %s", path, err_str(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *file = strchr(line, '/');
		static char seen[16][sizeof(line)];
		static int nseen;
		int dup = 0;

		if (!file)
			continue;
		file[strcspn(file, "\n")] = 0;
		if (strstr(file, "/lmdb/cpython") || strstr(file, "/lmdb/_config"))
			pymod = 1; /* python3-lmdb's module */
		if (strstr(file, "libmdbtap"))
			tap = 1;
		else if (strstr(tapfind_basename(file), "liblmdb.so"))
			lib = 1;
		else if (strstr(file, ".so") || !is_lmdb_file(file))
			continue;
		for (int i = 0; i < nseen; i++)
			dup |= !strcmp(seen[i], file);
		if (dup || nseen == 16)
			continue;
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", file);
		if (!strstr(file, ".so")) {
			char env[sizeof(line)];
			size_t len = strlen(file);

			snprintf(env, sizeof(env), "%s", file);
			if (len > 9 && !strcmp(env + len - 9, "/data.mdb"))
				env[len - 9] = 0;
			say("ok:", "it has the env %s open", env);
			check_env(env);
		}
	}
	fclose(f);
	say(tap ? "ok:" : "no:", "the tap is %sloaded in process %s%s", tap ? "" : "not ", pid,
	    tap ? "" : ": start it with `mdbtap run -- COMMAND`");
	if (!lib)
		say("?", "no liblmdb is loaded in it (yet, or LMDB is compiled in)");
	else if (!strncmp(tapfind_basename(exe), "python", 6) && !pymod)
		say("no:", "liblmdb is loaded but not through python3-lmdb: ctypes or cffi "
		    "call it through its own handle, past the tap; the syncer finds those "
		    "writes by rescanning");
}

static int all_digits(const char *s)
{
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int cmd_doctor(int argc, char **argv)
{
	char path[PATH_MAX];
	struct stat st;

	static const struct option opts[] = { CLI_OPTS_END };
	const char *what;
	struct cli cl;
	int rc;

	cli_begin(&cl, "doctor");
	while (cli_next(&cl, argc, argv, "", opts) != -1)
		;
	rc = cli_done(&cl, argc, 1, 1);
	if (rc != CLI_GO)
		return rc;
	what = argv[optind];
	if (!what[0])
		return cli_bad(&cl, "empty operand");
	if (all_digits(what))
		check_pid(what);
	else if (stat(what, &st) == 0 && (S_ISDIR(st.st_mode) || is_lmdb_file(what)))
		check_env(what);
	else if (which(what, path, sizeof(path)) == 0)
		check_program(path, 0);
	else
		say("no:", "%s: no such program, process or env", what);
	printf("verdict: %s\n", verdict_no ? "the tap cannot see (all of) its writes" :
	       "the tap can see its writes");
	return verdict_no ? MDBTAP_EXIT_FAIL : MDBTAP_EXIT_OK;
}

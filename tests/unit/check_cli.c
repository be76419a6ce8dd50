/* check_cli.c: every command of the mdbtap CLI follows one convention
 * (syncer/cmd/cli.h): `mdbtap help CMD` and `CMD --help` print the same
 * help, whose first lines are the usage and the summary `mdbtap help`
 * lists; -h counts wherever it is; a bad option is named on stderr and
 * exits 2. Runs the real binary (argv[1]). */
#define _GNU_SOURCE
#include <check.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX 65536
#define CLI_EXIT_USAGE 2 /* MDBTAP_EXIT_USAGE */

static const char *bin;

struct result {
	int status; /* exit code, or 128 + signal */
	char out[OUT_MAX], err[OUT_MAX];
};

/* All of fd into buf (NUL-terminated, cut at OUT_MAX - 1). */
static void slurp(int fd, char *buf)
{
	size_t n = 0;
	ssize_t r;

	while ((r = read(fd, buf + n, OUT_MAX - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
}

/* Run mdbtap with args (NULL-terminated) and collect what it says. The
 * commands tested print little, so reading stdout whole before stderr
 * cannot fill a pipe. */
static struct result *run(const char *const *args)
{
	static struct result r;
	const char *argv[16] = { bin };
	int out[2], err[2];
	pid_t pid;

	for (size_t i = 0; args[i]; i++)
		argv[i + 1] = args[i];
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(bin, (char **)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	slurp(out[0], r.out);
	slurp(err[0], r.err);
	close(out[0]);
	close(err[0]);
	ck_assert_int_eq(waitpid(pid, &r.status, 0), pid);
	r.status = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 128 + WTERMSIG(r.status);
	return &r;
}

#define RUN(...) run((const char *const[]){ __VA_ARGS__, NULL })

/* The commands `mdbtap help` lists: "  NAME  summary" after "commands:". */
static char names[32][32], summaries[32][128];
static int ncommands;

static void read_list(void)
{
	struct result *r = RUN("help");
	char *p, *line, *save = NULL;
	int in = 0;

	ck_assert_int_eq(r->status, 0);
	ncommands = 0;
	for (line = strtok_r(r->out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "commands:")) {
			in = 1;
			continue;
		}
		if (!in || strncmp(line, "  ", 2))
			continue;
		if (ncommands == 32)
			break;
		p = line + 2;
		sscanf(p, "%31s", names[ncommands]);
		p += strlen(names[ncommands]);
		while (*p == ' ')
			p++;
		snprintf(summaries[ncommands], sizeof(summaries[0]), "%s", p);
		ncommands++;
	}
	ck_assert_int_ge(ncommands, 8);
}

START_TEST(help_is_one_text)
{
	char first[160], second[160], help[OUT_MAX];

	read_list();
	for (int i = 0; i < ncommands; i++) {
		const char *name = names[i];
		struct result *r = RUN("help", name);

		ck_assert_msg(r->status == 0, "mdbtap help %s: exit %d", name, r->status);
		snprintf(first, sizeof(first), "usage: mdbtap %s ", name);
		ck_assert_msg(!strncmp(r->out, first, strlen(first)), "help %s starts '%.40s'",
			      name, r->out);
		/* the second line is the summary the list shows */
		snprintf(second, sizeof(second), "\n%c%s.\n",
			 toupper((unsigned char)summaries[i][0]), summaries[i] + 1);
		ck_assert_msg(strstr(r->out, second) != NULL, "help %s lacks its summary", name);
		snprintf(help, sizeof(help), "%s", r->out);
		r = RUN(name, "--help");
		ck_assert_msg(r->status == 0 && !strcmp(r->out, help),
			      "mdbtap %s --help differs from mdbtap help %s", name, name);
	}
}
END_TEST

START_TEST(help_anywhere_wins)
{
	read_list();
	for (int i = 0; i < ncommands; i++) {
		struct result *r = RUN(names[i], "--no-such-option", "-h");

		ck_assert_msg(r->status == 0 && !strncmp(r->out, "usage: ", 7),
			      "mdbtap %s --no-such-option -h: exit %d", names[i], r->status);
		if (!strcmp(names[i], "run"))
			continue; /* its options end at COMMAND */
		r = RUN(names[i], "operand", "-h");
		ck_assert_msg(r->status == 0 && !strncmp(r->out, "usage: ", 7),
			      "mdbtap %s operand -h: exit %d", names[i], r->status);
	}
}
END_TEST

START_TEST(bad_option_is_named)
{
	read_list();
	for (int i = 0; i < ncommands; i++) {
		struct result *r = RUN(names[i], "--no-such-option", "x");

		ck_assert_msg(r->status == CLI_EXIT_USAGE, "mdbtap %s --no-such-option: exit %d",
			      names[i], r->status);
		ck_assert_msg(strstr(r->err, "'--no-such-option'") != NULL,
			      "mdbtap %s does not name the option: %s", names[i], r->err);
		ck_assert_str_eq(r->out, "");
	}
}
END_TEST

START_TEST(top_level)
{
	struct result *r = RUN("no-such-command");

	ck_assert_int_eq(r->status, CLI_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(r->err, "'no-such-command'"));
	r = RUN("help", "no-such-command");
	ck_assert_int_eq(r->status, CLI_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(r->err, "'no-such-command'"));
	r = RUN("--no-such-option");
	ck_assert_int_eq(r->status, CLI_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(r->err, "'--no-such-option'"));
	r = RUN("--help");
	ck_assert_int_eq(r->status, 0);
	ck_assert_ptr_nonnull(strstr(r->out, "commands:"));
	r = run((const char *const[]){ NULL });
	ck_assert_int_eq(r->status, CLI_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(r->err, "commands:"));
}
END_TEST

Suite *cli_suite(void);

Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("conventions");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, help_is_one_text);
	tcase_add_test(tc, help_anywhere_wins);
	tcase_add_test(tc, bad_option_is_named);
	tcase_add_test(tc, top_level);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	if (argc != 2) {
		fprintf(stderr, "usage: check_cli MDBTAP_BINARY\n");
		return EXIT_FAILURE;
	}
	bin = argv[1];
	sr = srunner_create(cli_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

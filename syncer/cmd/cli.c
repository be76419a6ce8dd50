/* cli.c: see cli.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opt.h"

void cli_begin(struct cli *cl, const char *name)
{
	memset(cl, 0, sizeof(*cl));
	cl->cmd = commands_find(name);
	optind = 0; /* glibc: start afresh */
	opterr = 0; /* the messages are ours */
}

int cli_next(struct cli *cl, int argc, char **argv, const char *shortopts,
	     const struct option *longopts)
{
	int opt;

	if (!cl->shortopts[0]) {
		int plus = shortopts[0] == '+';

		snprintf(cl->shortopts, sizeof(cl->shortopts), "%s:h%s", plus ? "+" : "",
			 shortopts + plus);
	}
	cl->argv = argv;
	for (;;) {
		opt = getopt_long(argc, argv, cl->shortopts, longopts, NULL);
		if (opt == 'h')
			cl->help = 1;
		else if ((opt == '?' || opt == ':') && !cl->bad[0])
			opt_error(cl->bad, sizeof(cl->bad), opt, argv);
		else
			return opt;
	}
}

int cli_done(const struct cli *cl, int argc, int min, int max)
{
	int n = argc - optind;

	if (cl->help) {
		commands_help(stdout, cl->cmd);
		return MDBTAP_EXIT_OK;
	}
	if (cl->bad[0])
		return cli_bad(cl, "%s", cl->bad);
	if (n < min)
		return cli_bad(cl, "missing operand");
	if (n > max)
		return cli_bad(cl, "unexpected operand '%s'", cl->argv[optind + max]);
	return CLI_GO;
}

int cli_bad(const struct cli *cl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mdbtap %s: ", cl->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'mdbtap help %s'.\n", cl->cmd->name);
	return MDBTAP_EXIT_USAGE;
}

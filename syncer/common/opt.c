/* opt.c: see opt.h. */
#include <getopt.h>
#include <string.h>

#include "err.h"
#include "opt.h"

void opt_error(char *err, size_t errlen, int ret, char *const *argv)
{
	const char *arg = argv[optind - 1];
	int len = (int)strcspn(arg, "=");

	/* a short option may stand in a group ("-jx"): name it by optopt */
	if (strncmp(arg, "--", 2))
		err_setf(err, errlen,
			 ret == ':' ? "option '-%c' needs a value" : "unknown option '-%c'",
			 optopt);
	else if (ret == ':')
		err_setf(err, errlen, "option '%.*s' needs a value", len, arg);
	else if (optopt)
		err_setf(err, errlen, "option '%.*s' takes no value", len, arg);
	else
		err_setf(err, errlen, "unknown option '%.*s'", len, arg);
}

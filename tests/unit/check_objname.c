/* check_objname.c: object names (syncer/objname.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "objname.h"
#include "unit.h"

static struct objname full(uint64_t ts)
{
	struct objname o = { .db = "main", .instance = "dns-1", .ts_ns = ts,
			     .generation = 0x0123456789abcdefull, .full = 1, .to_txnid = 42 };
	return o;
}

START_TEST(round_trip)
{
	struct objname o = full(1795550000123456789ull), p;
	char name[256];

	ck_assert_int_eq(objname_format(&o, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "main__dns-1__20261124-195320-123456789__G0123456789abcdef__F42.pb.zst");
	ck_assert_int_eq(objname_parse(name, &p), 0);
	ck_assert_mem_eq(&o, &p, sizeof(o));
	o.full = 0;
	o.from_txnid = 7;
	ck_assert_int_eq(objname_format(&o, name, sizeof(name)), 0);
	ck_assert_ptr_nonnull(strstr(name, "__D7-42.pb.zst"));
	ck_assert_int_eq(objname_parse(name, &p), 0);
	ck_assert_mem_eq(&o, &p, sizeof(o));
}
END_TEST

/* One instance's names sort by time as strings, across a second too. */
START_TEST(names_sort_by_time)
{
	uint64_t ts[] = { 1795550000999999999ull, 1795550001000000000ull, 1795550001000000001ull,
			  1795550010000000000ull };
	char prev[256] = "", name[256];

	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		struct objname o = full(ts[i]);

		o.to_txnid = 1000 - i; /* the txn id must not decide the order */
		ck_assert_int_eq(objname_format(&o, name, sizeof(name)), 0);
		ck_assert_int_lt(strcmp(prev, name), 0);
		strcpy(prev, name);
	}
}
END_TEST

START_TEST(malformed_names_are_refused)
{
	static const char *const bad[] = {
		"",
		"main",
		"main__a",
		"main__a__20261124-173320-123456789",
		"main__a__20261124-173320-123456789__G0123456789abcdef.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcdef__F42.pb.gz",
		"main__a__20261124-173320-123456789__G0123456789abcdef__F42.pb.zst.tmp",
		"main__a__20261124-173320-123456789__G0123456789abcdef__F42__X1.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789ABCDEF__F42.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcde__F42.pb.zst",
		"main__a__20261324-173320-123456789__G0123456789abcdef__F42.pb.zst",
		"main__a__20260230-173320-123456789__G0123456789abcdef__F42.pb.zst",
		"main__a__20261124-253320-123456789__G0123456789abcdef__F42.pb.zst",
		/* found by tools/fuzz: past 2554 the nanoseconds overflowed, and a
		 * leap second moved to the next minute: both parsed, differently */
		"main__a__26181220-015110-491148022__G0123456789abcdef__F42.pb.zst",
		"main__a__25540721-233435-000000000__G0123456789abcdef__F42.pb.zst",
		"main__a__20261124-235960-123456789__G0123456789abcdef__F42.pb.zst",
		"main__a__20261124-173320-12345678__G0123456789abcdef__F42.pb.zst",
		"main__a__20261124.173320.123456789__G0123456789abcdef__F42.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcdef__F042.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcdef__F.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcdef__F18446744073709551616.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcdef__D42-42.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcdef__D43-42.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcdef__D1.pb.zst",
		"main__a__20261124-173320-123456789__G0123456789abcdef__D-1-2.pb.zst",
		"Main__a__20261124-173320-123456789__G0123456789abcdef__F42.pb.zst",
		"main__a.b__20261124-173320-123456789__G0123456789abcdef__F42.pb.zst",
		"main____20261124-173320-123456789__G0123456789abcdef__F42.pb.zst",
		"main__a_b__20261124-173320-123456789__G0123456789abcdef__F42.pb.zst",
		"main__aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa__20261124-173320-"
		"123456789__G0123456789abcdef__F42.pb.zst",
	};
	struct objname o;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(objname_parse(bad[i], &o) == EINVAL, "accepted: %s", bad[i]);
	ck_assert_int_eq(objname_parse("main__a__20261124-173320-123456789__G0123456789abcdef__"
				       "F18446744073709551615.pb.zst", &o), 0);
	ck_assert_uint_eq(o.to_txnid, UINT64_MAX);
	/* the last second a uint64 of nanoseconds holds */
	ck_assert_int_eq(objname_parse("main__a__25540721-233408-000000000__G0123456789abcdef__"
				       "F1.pb.zst", &o), 0);
}
END_TEST

START_TEST(format_refuses_bad_fields)
{
	struct objname o = full(1);
	char name[256];

	strcpy(o.db, "Main");
	ck_assert_int_eq(objname_format(&o, name, sizeof(name)), EINVAL);
	o = full(1);
	strcpy(o.instance, "a b");
	ck_assert_int_eq(objname_format(&o, name, sizeof(name)), EINVAL);
	o = full(1);
	o.full = 0;
	o.from_txnid = 42; /* from must be below to */
	ck_assert_int_eq(objname_format(&o, name, sizeof(name)), EINVAL);
	o = full(1);
	ck_assert_int_eq(objname_format(&o, name, 20), ENAMETOOLONG);
}
END_TEST

Suite *objname_suite(void)
{
	Suite *s = suite_create("objname");
	TCase *tc = tcase_create("objname");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, names_sort_by_time);
	tcase_add_test(tc, malformed_names_are_refused);
	tcase_add_test(tc, format_refuses_bad_fields);
	suite_add_tcase(s, tc);
	return s;
}

/* check_record.c: the record body codec (shim/record.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "unit.h"

/* A body with names {NULL, "db"} and three ops. */
static size_t build(uint8_t *buf)
{
	size_t off = 0;

	record_put_name(buf + off, NULL, 0);
	off += record_name_size(0);
	record_put_name(buf + off, "db", 2);
	off += record_name_size(2);
	record_put_op(buf + off, MDBTAP_OP_PUT, 0, 0, "k1", 2, NULL, 0);
	off += record_op_size(2, 0);
	record_put_op(buf + off, MDBTAP_OP_DEL, MDBTAP_OPF_VALUE, 1, "a\0b", 3, "", 0);
	off += record_op_size(3, 0);
	record_put_op(buf + off, MDBTAP_OP_DROP, 0, 1, NULL, 0, NULL, 0);
	off += record_op_size(0, 0);
	return off;
}

START_TEST(round_trip)
{
	uint8_t buf[256];
	size_t len = build(buf);
	struct record_iter it;
	struct record_op op;

	ck_assert_int_eq(record_iter_init(&it, buf, len, 2, 3), 0);
	ck_assert_int_eq(record_iter_next(&it, &op), 1);
	ck_assert_uint_eq(op.type, MDBTAP_OP_PUT);
	ck_assert_ptr_null(op.name);
	ck_assert_uint_eq(op.klen, 2);
	ck_assert_mem_eq(op.key, "k1", 2);
	ck_assert_ptr_null(op.val);

	ck_assert_int_eq(record_iter_next(&it, &op), 1);
	ck_assert_uint_eq(op.type, MDBTAP_OP_DEL);
	ck_assert_uint_eq(op.name_len, 2);
	ck_assert_mem_eq(op.name, "db", 2);
	ck_assert_uint_eq(op.klen, 3);
	ck_assert_mem_eq(op.key, "a\0b", 3);
	ck_assert_ptr_nonnull(op.val); /* an empty DUPSORT value is still a value */
	ck_assert_uint_eq(op.vlen, 0);

	ck_assert_int_eq(record_iter_next(&it, &op), 1);
	ck_assert_uint_eq(op.type, MDBTAP_OP_DROP);
	ck_assert_uint_eq(op.klen, 0);
	ck_assert_int_eq(record_iter_next(&it, &op), 0);
}
END_TEST

START_TEST(every_truncation_is_corrupt)
{
	uint8_t buf[256];
	size_t len = build(buf);

	for (size_t cut = 0; cut < len; cut++) {
		struct record_iter it;
		struct record_op op;
		int rc = record_iter_init(&it, buf, cut, 2, 3);

		if (rc == 0)
			while ((rc = record_iter_next(&it, &op)) == 1)
				;
		ck_assert_msg(rc == MDBTAP_E_CORRUPT, "cut at %zu gave %d", cut, rc);
	}
}
END_TEST

START_TEST(trailing_bytes_are_corrupt)
{
	uint8_t buf[256];
	size_t len = build(buf);
	struct record_iter it;
	struct record_op op;
	int rc;

	buf[len] = 0;
	ck_assert_int_eq(record_iter_init(&it, buf, len + 1, 2, 3), 0);
	while ((rc = record_iter_next(&it, &op)) == 1)
		;
	ck_assert_int_eq(rc, MDBTAP_E_CORRUPT);
}
END_TEST

START_TEST(bad_fields_are_corrupt)
{
	static const struct { size_t at; uint8_t val; } pokes[] = {
		{ 0, 0 },    /* first op type 0 */
		{ 0, 99 },   /* unknown type */
		{ 2, 7 },    /* name index beyond the names */
		{ 4, 0xff }, /* key length past the end */
		{ 8, 1 },    /* value without MDBTAP_OPF_VALUE */
	};
	uint8_t orig[256];
	size_t len = build(orig);
	size_t ops_at = record_name_size(0) + record_name_size(2);

	for (size_t i = 0; i < sizeof(pokes) / sizeof(pokes[0]); i++) {
		uint8_t buf[256];
		struct record_iter it;
		struct record_op op;

		memcpy(buf, orig, len);
		buf[ops_at + pokes[i].at] = pokes[i].val;
		ck_assert_int_eq(record_iter_init(&it, buf, len, 2, 3), 0);
		ck_assert_msg(record_iter_next(&it, &op) == MDBTAP_E_CORRUPT, "poke %zu", i);
	}
}
END_TEST

START_TEST(many_names)
{
	/* More names than record_iter caches: lookups past the cache still work. */
	uint8_t *buf = malloc(100 * 8 + 64);
	size_t off = 0;
	char name[8];
	struct record_iter it;
	struct record_op op;

	for (int i = 0; i < 100; i++) {
		int n = snprintf(name, sizeof(name), "n%d", i);

		record_put_name(buf + off, name, (size_t)n);
		off += record_name_size((size_t)n);
	}
	record_put_op(buf + off, MDBTAP_OP_DIRTY, 0, 99, NULL, 0, NULL, 0);
	off += record_op_size(0, 0);
	ck_assert_int_eq(record_iter_init(&it, buf, off, 100, 1), 0);
	ck_assert_int_eq(record_iter_next(&it, &op), 1);
	ck_assert_uint_eq(op.name_len, 3);
	ck_assert_mem_eq(op.name, "n99", 3);
	free(buf);
}
END_TEST

START_TEST(op_names)
{
	ck_assert_str_eq(record_op_name(MDBTAP_OP_PUT), "put");
	ck_assert_str_eq(record_op_name(MDBTAP_OP_DELALL), "delall");
	ck_assert_str_eq(record_op_name(MDBTAP_OP_DIRTY), "dirty");
	ck_assert_str_eq(record_op_name(0), "?");
	ck_assert_str_eq(record_op_name(1000), "?");
}
END_TEST

Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, every_truncation_is_corrupt);
	tcase_add_test(tc, trailing_bytes_are_corrupt);
	tcase_add_test(tc, bad_fields_are_corrupt);
	tcase_add_test(tc, many_names);
	tcase_add_test(tc, op_names);
	suite_add_tcase(s, tc);
	return s;
}

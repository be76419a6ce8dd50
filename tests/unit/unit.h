/* unit.h: what every check_*.c in tests/unit shares with the runner.
 *
 * Each check_NAME.c defines `Suite *NAME_suite(void)`; runner.c runs the
 * suites named on its command line (or all of them). The list of suites is
 * UNIT_SUITES in tests/unit/CMakeLists.txt, written by CMake into
 * unit_suites.h as one UNIT_SUITE(NAME) line per suite.
 */
#ifndef MDBTAP_TEST_UNIT_H
#define MDBTAP_TEST_UNIT_H

#include <check.h>

#include "testlib.h"

#define UNIT_SUITE(name) Suite *name##_suite(void);
#include "unit_suites.h"
#undef UNIT_SUITE

#endif

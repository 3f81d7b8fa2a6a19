/*  pl_test: the one piece every Check suite shares: its main().
 *
 *  Each tests/unit/test_X.c and tests/e2e/test_X.c defines
 *      Suite *test_suite (void);
 *  and ends with PL_TEST_MAIN. Each suite is its own binary so a crash in one
 *  cannot hide the results of another; tests/run-suites adds them up.  */
#ifndef PL_TEST_H_INCLUDED
#define PL_TEST_H_INCLUDED

#include <check.h>
#include <stdlib.h>

#define PL_TEST_MAIN                                                  \
    int main (void)                                                   \
    {                                                                 \
        SRunner *runner = srunner_create (test_suite ());             \
        srunner_run_all (runner, CK_NORMAL);                          \
        int failed = srunner_ntests_failed (runner);                  \
        srunner_free (runner);                                        \
        return failed? EXIT_FAILURE: EXIT_SUCCESS;                    \
    }

#endif

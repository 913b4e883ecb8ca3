/* Deliberate bugs, one per sanitizer: tests/sanitize checks that each report fails its Criterion test, so a clean run means something. */
#include <limits.h>
#include <stdlib.h>

#include <criterion/criterion.h>

/* volatile, so that the compiler cannot see the bugs coming and remove them. */
static volatile int one = 1;

Test(canary, heap_overflow)
{
    volatile char *p = malloc(8 * one);
    p[8 * one] = 1;
    free((void *)p);
}

Test(canary, signed_overflow)
{
    volatile int big = INT_MAX;
    cr_assert_neq(big + one, 0);
}

Test(canary, leak)
{
    cr_assert_not_null(malloc(32 * one));
}

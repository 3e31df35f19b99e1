/* p11bench's small helpers: failing with a reason, the clock, medians. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/err.h>

#include "p11bench.h"

_Noreturn void die(const char *what)
{
    fprintf(stderr, "p11bench: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

_Noreturn void die_rv(const char *what, CK_RV rv)
{
    fprintf(stderr, "p11bench: %s failed: CKR 0x%lx\n", what,
            (unsigned long)rv);
    exit(1);
}

double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double median_of(double *values, int n)
{
    qsort(values, (size_t)n, sizeof(*values), compare_doubles);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

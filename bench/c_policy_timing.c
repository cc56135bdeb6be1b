/* c_policy_timing.c: policy_act timed in C, without Python (bench/c_policy_bench.py).
 *
 *   cc -std=c99 -O2 -o timing c_policy_timing.c policy.c -lm
 *   ./timing OBS_FILE CALLS
 *
 * OBS_FILE holds raw observations, POLICY_OBS_DIM native float32 values each. After 1,000
 * warm-up calls it times CALLS calls one by one (clock_gettime(CLOCK_MONOTONIC) around each,
 * observation i % rows), then CALLS calls in one timed block, and prints one JSON line: the
 * per-call p50/p99 and the block's mean in microseconds, and the median cost of the clock
 * pair itself (included in p50/p99, not in the mean).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "policy.h"

#define MAX_ROWS 4096

static float obs[MAX_ROWS][POLICY_OBS_DIM];

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted[0..n), as numpy's default (linear) percentile. */
static double quantile(const double *sorted, long n, double q)
{
    double pos = q * (double)(n - 1);
    long lo = (long)pos;
    double frac = pos - (double)lo;
    return lo + 1 < n ? sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]) : sorted[lo];
}

int main(int argc, char **argv)
{
    FILE *f;
    long rows, calls, i, bad = 0;
    double *times, t0, sink = 0.0, clock_ns, block_ns;
    float action[POLICY_ACT_DIM];

    if (argc != 3 || (calls = atol(argv[2])) < 2) {
        fprintf(stderr, "usage: timing OBS_FILE CALLS (CALLS >= 2)\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    rows = (long)fread(obs, sizeof obs[0], MAX_ROWS, f);
    fclose(f);
    times = malloc(sizeof *times * (size_t)calls);
    if (rows < 1 || !times) {
        fprintf(stderr, "error: no observations in %s (or out of memory)\n", argv[1]);
        return 1;
    }
    for (i = 0; i < 1000; ++i) bad += policy_act(obs[i % rows], action) != POLICY_OK;

    for (i = 0; i < calls; ++i) { /* the clock pair alone */
        t0 = now_ns();
        times[i] = now_ns() - t0;
    }
    qsort(times, (size_t)calls, sizeof *times, by_value);
    clock_ns = quantile(times, calls, 0.5);

    for (i = 0; i < calls; ++i) {
        const float *x = obs[i % rows];
        t0 = now_ns();
        bad += policy_act(x, action) != POLICY_OK;
        times[i] = now_ns() - t0;
        sink += action[0];
    }
    qsort(times, (size_t)calls, sizeof *times, by_value);

    t0 = now_ns();
    for (i = 0; i < calls; ++i) {
        bad += policy_act(obs[i % rows], action) != POLICY_OK;
        sink += action[0];
    }
    block_ns = (now_ns() - t0) / (double)calls;

    printf("{\"p50_us\": %.4f, \"p99_us\": %.4f, \"mean_us\": %.4f, \"clock_pair_us\": %.4f, "
           "\"calls\": %ld, \"errors\": %ld, \"checksum\": %.6g}\n",
           quantile(times, calls, 0.5) * 1e-3, quantile(times, calls, 0.99) * 1e-3,
           block_ns * 1e-3, clock_ns * 1e-3, calls, bad, sink);
    free(times);
    return bad != 0;
}

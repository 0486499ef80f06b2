/* SPDX-License-Identifier: MIT */
/* What the benchmarks share: clocks and medians. */
#ifndef MCPFLEET_BENCHUTIL_H
#define MCPFLEET_BENCHUTIL_H

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_clock_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Wall time (monotonic) and this process's CPU time (user and system). */
static inline double bench_now_ms(void)
{
	return bench_clock_ms(CLOCK_MONOTONIC);
}

static inline double bench_now_us(void)
{
	return bench_clock_ms(CLOCK_MONOTONIC) * 1e3;
}

static inline double bench_cpu_ms(void)
{
	return bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n), n > 0 (v is sorted in place). */
static inline double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif

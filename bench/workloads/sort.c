/*
 * sort.c - quicksort (median of three, Hoare partition, insertion sort for short
 * ranges, recursion on the smaller part) of pseudo-random 32-bit integers.
 * Stresses: data-dependent (unpredictable) conditional branches, loads and stores
 * over a large array, moderate call/return traffic from the recursion.
 */
#include "workloads.h"

#define SORT_N BENCH_SIZE(4u << 20, 64u << 10)   /* 4 Mi / 64 Ki elements */

static uint32_t sort_a[SORT_N];

static void insertion_sort(uint32_t *a, int32_t n)
{
	for (int32_t i = 1; i < n; i++) {
		uint32_t v = a[i];
		int32_t j = i - 1;
		while (j >= 0 && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
}

static inline void swap(uint32_t *x, uint32_t *y)
{
	uint32_t t = *x;
	*x = *y;
	*y = t;
}

static BENCH_NOINLINE void quicksort(uint32_t *a, int32_t n)
{
	while (n > 16) {
		int32_t m = n >> 1;
		/* median of three into a[m] */
		if (a[m] < a[0])
			swap(&a[m], &a[0]);
		if (a[n - 1] < a[0])
			swap(&a[n - 1], &a[0]);
		if (a[n - 1] < a[m])
			swap(&a[n - 1], &a[m]);
		uint32_t pivot = a[m];
		int32_t i = -1, j = n;
		for (;;) {
			do i++; while (a[i] < pivot);
			do j--; while (a[j] > pivot);
			if (i >= j)
				break;
			swap(&a[i], &a[j]);
		}
		/* [0, j] and [j+1, n): recurse into the smaller, loop on the larger */
		int32_t left = j + 1, right = n - left;
		if (left < right) {
			quicksort(a, left);
			a += left;
			n = right;
		} else {
			quicksort(a + left, right);
			n = left;
		}
	}
	insertion_sort(a, n);
}

uint32_t wl_sort(void)
{
	uint32_t seed = 0x9e3779b9u;
	for (uint32_t i = 0; i < SORT_N; i++)
		sort_a[i] = bench_lcg(&seed) ^ (seed >> 13);
	quicksort(sort_a, SORT_N);

	/* order-sensitive hash of the result, plus the number of out-of-order pairs */
	uint32_t h = 2166136261u, unsorted = 0;
	for (uint32_t i = 0; i < SORT_N; i++) {
		h = (h ^ sort_a[i]) * 16777619u;
		if (i && sort_a[i - 1] > sort_a[i])
			unsorted++;
	}
	return h ^ unsorted * 0x9e3779b9u;
}

/*
 * demo.c - the default guest: a multiboot kernel that says where it runs, does some
 * compute work (a prime sieve, CRC32, a sort) timed with RDTSC, and checks its own
 * answers. Built with the test guests' library; runs under trapeze and QEMU alike.
 */
#include "guest.h"

#define SIEVE_N (1u << 22)
static uint8_t composite[SIEVE_N];
static uint32_t data[1 << 18];

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint32_t sieve(void)
{
	uint32_t n = 0;
	for (uint32_t i = 2; i < SIEVE_N; i++) {
		if (composite[i])
			continue;
		n++;
		for (uint32_t j = i * 2; j < SIEVE_N; j += i)
			composite[j] = 1;
	}
	return n;
}

static uint32_t crc32(const void *buf, uint32_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xffffffff;
	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320 & -(c & 1));
	}
	return ~c;
}

static void shellsort(uint32_t *a, int n)
{
	for (int gap = n / 2; gap > 0; gap /= 2)
		for (int i = gap; i < n; i++)
			for (int j = i; j >= gap && a[j - gap] > a[j]; j -= gap) {
				uint32_t t = a[j];
				a[j] = a[j - gap];
				a[j - gap] = t;
			}
}

static void report(const char *what, uint64_t cycles)
{
	printf("  %s: %u Mi cycles\n", what, (uint32_t)(cycles >> 20));
}

void test_main(void)
{
	uint32_t r[4];
	char vendor[13];
	guest_init();
	cpuid(0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	vendor[12] = 0;
	cpuid(1, r);
	printf("trapeze demo guest: 32-bit protected mode, CPL %u, CPU %s family %u%s\n",
	       read_cs() & 3, vendor, (r[0] >> 8) & 0xf,
	       (r[2] >> 31) ? ", hypervisor present" : "");

	uint64_t t0 = tsc();
	uint32_t primes = sieve();
	uint64_t t1 = tsc();
	report("prime sieve (4 Mi numbers)", t1 - t0);
	check_eq("primes-below-4Mi", primes, 295947);

	uint32_t x = 12345;
	for (uint32_t i = 0; i < sizeof(data) / 4; i++)
		data[i] = x = x * 1103515245 + 12345;
	t0 = tsc();
	uint32_t crc = crc32(data, sizeof(data));
	t1 = tsc();
	report("crc32 (1 MiB, bitwise)", t1 - t0);
	check_eq("crc32-matches-bytewise-rerun", crc, crc32(data, sizeof(data)));

	t0 = tsc();
	shellsort(data, sizeof(data) / 4);
	t1 = tsc();
	report("shell sort (256 Ki words)", t1 - t0);
	int sorted = 1;
	for (uint32_t i = 1; i < sizeof(data) / 4; i++)
		sorted &= data[i - 1] <= data[i];
	check(sorted, "sorted");
}

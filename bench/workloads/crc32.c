/*
 * crc32.c - table-driven CRC-32 (IEEE, reflected) over a pseudo-random buffer,
 * repeated. Stresses: a tight single-block loop of byte loads, table lookups (loads
 * with scaled index), shifts and xors; a long loop-carried dependency chain.
 */
#include "workloads.h"

#define CRC_BUF_BYTES BENCH_SIZE(4u << 20, 256u << 10)   /* 4 MiB / 256 KiB */
#define CRC_PASSES    BENCH_SIZE(40, 2)

static uint32_t crc_buf[CRC_BUF_BYTES / 4];
static uint32_t crc_table[256];

static BENCH_NOINLINE uint32_t crc32_update(uint32_t c, const uint8_t *p, uint32_t n)
{
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

uint32_t wl_crc32(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
		crc_table[i] = c;
	}
	uint32_t seed = 0x2545f491u;
	for (uint32_t i = 0; i < CRC_BUF_BYTES / 4; i++)
		crc_buf[i] = bench_lcg(&seed);

	uint32_t sum = 0;
	for (uint32_t pass = 0; pass < CRC_PASSES; pass++) {
		/* a different starting value each pass, so no pass can be hoisted */
		uint32_t c = crc32_update(~pass, (const uint8_t *)crc_buf, CRC_BUF_BYTES);
		sum = (sum << 5 | sum >> 27) ^ ~c;
	}
	return sum;
}

/*
 * big.c - a kernel with 4 MiB of bss: it must be loaded (and zeroed) whole, and is
 * refused with a clear message when guest memory is too small (tests/cli).
 */
#include "guest.h"

static uint32_t big[1 << 20];

void test_main(void)
{
	guest_init();
	uint32_t sum = 0;
	for (uint32_t i = 0; i < sizeof(big) / 4; i += 1024)
		sum |= big[i];
	check_eq("bss-is-zero", sum, 0);
	big[(1 << 20) - 1] = 0x5a5a5a5a;
	check_eq("last-word-writable", big[(1 << 20) - 1], 0x5a5a5a5a);
}

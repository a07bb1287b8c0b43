/*
 * fwcfg.c - QEMU's fw_cfg through its traditional ports (0x510 selector, 0x511 data),
 * as test suites written for QEMU read it: the signature, the interface ID's
 * traditional bit, the RAM size (both runs have 128 MiB), one CPU, the maximum, an
 * item nobody defines (0), reads past an item's end (0), and the selector rewinding.
 */
#include "guest.h"

static void sel(uint16_t item) { outw(0x510, item); }
static uint32_t data(int n)
{
	uint32_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint32_t)inb(0x511) << (8 * i);
	return v;
}

void test_main(void)
{
	guest_init();
	sel(0);
	check_eq("fwcfg-signature", data(4), 0x554d4551);      /* "QEMU" */
	check_eq("fwcfg-past-end", data(4), 0);
	sel(0);
	check_eq("fwcfg-rewind", inb(0x511), 'Q');
	sel(1);
	check_eq("fwcfg-id-traditional", data(4) & 1, 1);
	sel(3);
	uint32_t lo = data(4), hi = data(4);
	check(lo == 128u << 20 && hi == 0, "fwcfg-ram-size");
	sel(5);
	check_eq("fwcfg-nb-cpus", data(2), 1);
	sel(0x0f);
	check_eq("fwcfg-max-cpus", data(2), 1);
	sel(0x3fff);
	check_eq("fwcfg-unknown-item", data(4), 0);
	guest_finish();
}

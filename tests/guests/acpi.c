/*
 * acpi.c - the ACPI tables a PC's firmware leaves (ACPI 6.4, 5.2): the RSDP found in
 * the BIOS area 0xe0000-0xfffff with its checksum, the RSDT and the tables it lists
 * with theirs; the FADT's DSDT (a valid AML table defining \_S5) and its PM1a blocks;
 * the MADT's local APIC address, an enabled processor, the I/O APIC at 0xfec00000 and
 * the override that puts ISA IRQ 0 on GSI 2.
 */
#include "guest.h"

static uint8_t sum(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint32_t u32(const uint8_t *p) { return *(const uint32_t *)p; }

/* A table the RSDT lists, by signature, with a valid checksum; 0 if none. */
static const uint8_t *find_table(const uint8_t *rsdt, const char *sig)
{
	uint32_t n = (u32(rsdt + 4) - 36) / 4;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *t = (const uint8_t *)u32(rsdt + 36 + 4 * i);
		if (!memcmp(t, sig, 4) && sum(t, u32(t + 4)) == 0)
			return t;
	}
	return 0;
}

static void test_madt(const uint8_t *madt)
{
	check_eq("madt-lapic-address", u32(madt + 36), 0xfee00000);
	int cpu = 0, ioapic = 0, irq0 = 0;
	for (const uint8_t *e = madt + 44; e < madt + u32(madt + 4) && e[1]; e += e[1]) {
		if (e[0] == 0)
			cpu += (u32(e + 4) & 1) && e[3] == 0;
		if (e[0] == 1)
			ioapic += u32(e + 4) == 0xfec00000 && u32(e + 8) == 0;
		if (e[0] == 2)
			irq0 += e[2] == 0 && e[3] == 0 && u32(e + 4) == 2;
	}
	check_eq("madt-processor-apic-0", cpu, 1);
	check_eq("madt-ioapic-gsi-0", ioapic, 1);
	check_eq("madt-irq0-on-gsi2", irq0, 1);
}

static void test_fadt(const uint8_t *fadt)
{
	const uint8_t *dsdt = (const uint8_t *)u32(fadt + 40);
	check(!memcmp(dsdt, "DSDT", 4) && sum(dsdt, u32(dsdt + 4)) == 0, "fadt-dsdt");
	int s5 = 0;
	for (uint32_t i = 36; i + 4 < u32(dsdt + 4); i++)
		s5 |= !memcmp(dsdt + i, "_S5_", 4);
	check(s5, "dsdt-has-s5");
	check(u32(fadt + 56) != 0 && fadt[88] >= 4, "fadt-pm1a-event-block");
	check(u32(fadt + 64) != 0 && fadt[89] >= 2, "fadt-pm1a-control-block");
	check(u32(fadt + 36) != 0 && !memcmp((const uint8_t *)u32(fadt + 36), "FACS", 4), "fadt-facs");
}

void test_main(void)
{
	guest_init();
	const uint8_t *rsdp = 0;
	for (uint32_t a = 0xe0000; a < 0x100000 && !rsdp; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && sum((const uint8_t *)a, 20) == 0)
			rsdp = (const uint8_t *)a;
	check(rsdp != 0, "rsdp-in-bios-area");
	if (!rsdp)
		guest_finish();
	const uint8_t *rsdt = (const uint8_t *)u32(rsdp + 16);
	check(!memcmp(rsdt, "RSDT", 4) && sum(rsdt, u32(rsdt + 4)) == 0, "rsdt");
	const uint8_t *fadt = find_table(rsdt, "FACP"), *madt = find_table(rsdt, "APIC");
	check(fadt != 0, "rsdt-lists-fadt");
	check(madt != 0, "rsdt-lists-madt");
	if (madt)
		test_madt(madt);
	if (fadt)
		test_fadt(fadt);
	guest_finish();
}

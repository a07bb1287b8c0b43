/*
 * segments.c - data and stack segment limits, rights and expand-down segments, as the
 * SDM defines them (Vol. 3, 5.3 and 5.4). QEMU TCG does not check data-segment limits
 * or rights, so under QEMU these checks print SKIP and only trapeze is held to the SDM.
 */
#include "guest.h"

enum { S_SMALL = 3, S_RO, S_DOWN, S_SMALLSTACK, S_BASE, S_DOWN32 };
#define SEL(i) ((i) << 3)

static void sdm_expect(const char *name, int got, int vec)
{
	expect_exc_sdm(name, got, vec, 0, "qemu-does-not-check-data-segments");
}

static uint32_t read_fs(uint32_t off)
{
	uint32_t v;
	__asm__ volatile("movl %%fs:(%1), %0" : "=r"(v) : "r"(off) : "memory");
	return v;
}

static void write_fs(uint32_t off, uint32_t v)
{
	__asm__ volatile("movl %1, %%fs:(%0)" :: "r"(off), "r"(v) : "memory");
}

static void load_fs(uint16_t sel) { __asm__ volatile("movw %0, %%fs" :: "r"(sel)); }

static volatile uint32_t buffer[2048] __attribute__((aligned(4096)));

void test_main(void)
{
	guest_init();
	uint32_t base = (uint32_t)buffer;
	gdt_set(S_SMALL, base, 0xfff, 0x93, 0x40);              /* 4 KiB, byte granular */
	gdt_set(S_RO, base, 0xfff, 0x91, 0x40);                 /* read-only */
	gdt_set(S_DOWN, base, 0xfff, 0x97, 0x40);               /* expand-down, limit 0xfff */
	gdt_set(S_DOWN32, 0, 0x7ffff, 0x97, 0x4);               /* expand-down, 32-bit (D/B), base 0 */
	gdt_set(S_BASE, base + 0x1000, 0xfff, 0x93, 0x40);
	gdt_load(16);
	idt_init();

	/* Inside the limits: the base applies. */
	buffer[1024 + 5] = 0x12345678;
	load_fs(SEL(S_BASE));
	check_eq("base-applies", read_fs(5 * 4), 0x12345678);
	write_fs(8, 0xabcdef01);
	check_eq("base-applies-to-writes", buffer[1024 + 2], 0xabcdef01);

	load_fs(SEL(S_SMALL));
	check_eq("last-dword-inside-limit", (write_fs(0xffc, 7), read_fs(0xffc)), 7);
	sdm_expect("read-past-limit", EXC(read_fs(0x1000)), 13);
	sdm_expect("dword-straddling-limit", EXC(read_fs(0xffe)), 13);
	sdm_expect("write-past-limit", EXC(write_fs(0x2000, 1)), 13);
	load_fs(SEL(S_RO));
	check_eq("read-only-readable", read_fs(0xffc), 7);
	sdm_expect("write-to-read-only", EXC(write_fs(0, 1)), 13);
	load_fs(0);
	sdm_expect("access-through-null", EXC(read_fs(0)), 13);

	/* Expand-down: valid offsets are limit+1 .. 0xffffffff. */
	load_fs(SEL(S_DOWN));
	sdm_expect("expand-down-below-limit", EXC(read_fs(0x800)), 13);
	/* A 32-bit one with base 0 and limit 0x7ffff: offsets 0x80000 and up are valid,
	 * and reach linear memory without wrapping (no shadow can accept them: the monitor
	 * must, and emulate the access). */
	load_fs(SEL(S_DOWN32));
	buffer[37] = 0;
	int v = EXC(write_fs((uint32_t)&buffer[37], 0x600df00d));
	check(v == -1 && buffer[37] == 0x600df00d, "expand-down-32-above-limit-writable");
	static volatile uint32_t got;
	v = EXC(got = read_fs((uint32_t)&buffer[37]));
	check(v == -1 && got == 0x600df00d, "expand-down-32-above-limit-readable");
	sdm_expect("expand-down-32-at-limit", EXC(read_fs(0x7fffc)), 13);
	load_fs(0x10);
}

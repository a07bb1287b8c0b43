/*
 * para_boot - the boot state (docs/para-x86.md sections 1-3 and 5): EAX and EBX, the
 * start-info block, the shared page's initial values, console_write's result, RDTSC
 * against the shared page's clock, CPUID's hypervisor bit, the selectors and the
 * descriptor-table instructions of section 7 at boot.
 */
#include "pguest.h"

static uint16_t read_sreg_cs(void) { uint16_t s; __asm__ volatile("movw %%cs, %0" : "=r"(s)); return s; }
static uint16_t read_sreg_ss(void) { uint16_t s; __asm__ volatile("movw %%ss, %0" : "=r"(s)); return s; }
static uint16_t read_sreg_ds(void) { uint16_t s; __asm__ volatile("movw %%ds, %0" : "=r"(s)); return s; }
static uint16_t read_sreg_es(void) { uint16_t s; __asm__ volatile("movw %%es, %0" : "=r"(s)); return s; }
static uint16_t read_sreg_fs(void) { uint16_t s; __asm__ volatile("movw %%fs, %0" : "=r"(s)); return s; }
static uint16_t read_sreg_gs(void) { uint16_t s; __asm__ volatile("movw %%gs, %0" : "=r"(s)); return s; }

static int page_in_ram(uint32_t a, uint32_t mem)
{
	return (a & 0xfff) == 0 && a < mem && mem - a >= 4096;
}

static void check_note(void)
{
	static const uint8_t want[24] = {
		8, 0, 0, 0, 8, 0, 0, 0,
		PARA_NOTE_TYPE & 0xff, PARA_NOTE_TYPE >> 8 & 0xff,
		PARA_NOTE_TYPE >> 16 & 0xff, PARA_NOTE_TYPE >> 24,
		't', 'r', 'a', 'p', 'e', 'z', 'e', 0,
		PARA_VERSION, 0, 0, 0,
	};
	check(memcmp(para_note, want, sizeof(want)) == 0 &&
	      !memcmp(para_note + 12, PARA_NOTE_NAME, sizeof(PARA_NOTE_NAME)) &&
	      *(const uint32_t *)(para_note + 24) == 0, "note-matches-para-h");
}

static void check_start_info(void)
{
	uint32_t mem = start->mem_size;
	check_eq("boot-eax-magic", boot_eax, PARA_BOOT_MAGIC);
	check_eq("boot-esp-zero", boot_esp, 0);
	check_eq("start-magic", start->magic, PARA_BOOT_MAGIC);
	check_eq("start-version", start->version, PARA_VERSION);
	if (mem >= (2u << 20) && mem <= (3u << 30) && (mem & 0xfff) == 0 && mem > (uint32_t)__end)
		pass("start-mem-size");
	else
		fail("start-mem-size", "mem_size %08x (image ends at %08x)", mem, (uint32_t)__end);
	check_eq("start-start-info-is-ebx", start->start_info, boot_ebx);
	if (page_in_ram(start->start_info, mem) && start->start_info >= (uint32_t)__end)
		pass("start-info-in-ram");
	else
		fail("start-info-in-ram", "start_info %08x mem_size %08x", start->start_info, mem);
	if (page_in_ram(start->shared_page, mem) && start->shared_page >= (uint32_t)__end &&
	    start->shared_page != start->start_info)
		pass("start-shared-page-in-ram");
	else
		fail("start-shared-page-in-ram", "shared_page %08x start_info %08x mem_size %08x",
		     start->shared_page, start->start_info, mem);
	check_eq("start-ndev", start->ndev, 0);
	check_eq("start-reserved", start->reserved, 0);

	/* The command line lies in the start-info page, after the device records. */
	uint32_t cl = start->cmdline, lo = start->start_info + 32 + 16 * start->ndev;
	uint32_t hi = start->start_info + 4096;
	if (cl < lo || cl >= hi) {
		fail("start-cmdline", "cmdline %08x outside [%08x, %08x)", cl, lo, hi);
		return;
	}
	const char *s = (const char *)cl;
	uint32_t n = 0;
	while (cl + n < hi && s[n])
		n++;
	if (cl + n == hi)
		fail("start-cmdline", "no NUL before the end of the start-info page");
	else {
		printf("cmdline \"%s\" (%u bytes)\n", s, n);
		pass("start-cmdline");
	}
}

static void check_shared(void)
{
	check_eq("shared-event-mask-boot", shared->event_mask, 1);
	check_eq("shared-event-enable-boot", shared->event_enable, 0);
	check_eq("shared-reserved", shared->reserved, 0);
	if (shared->tsc_mult != 0 && shared->tsc_shift > -32 && shared->tsc_shift < 32)
		pass("shared-tsc-scale");
	else
		fail("shared-tsc-scale", "tsc_mult %x tsc_shift %d", shared->tsc_mult,
		     (int)shared->tsc_shift);
	/* 2020-01-01 .. 2100-01-01 in ns since 1970. */
	uint64_t w = shared->wall_ns;
	if (w > 1577836800ull * 1000000000ull && w < 4102444800ull * 1000000000ull)
		pass("shared-wall-ns");
	else
		fail("shared-wall-ns", "wall_ns %08x%08x", (uint32_t)(w >> 32), (uint32_t)w);
}

static void check_console(void)
{
	static const char msg[] = "hello from para_boot\n";
	print_flush();
	check_eq("console-write-returns-len", hc_console_write(msg, sizeof(msg) - 1), sizeof(msg) - 1);
	check_eq("console-write-len-0", hc_console_write(msg, 0), 0);
	/* The start-info page is readable: a console_write from it (the magic, "VXPz")
	 * is no fault. */
	int32_t r = hc_console_write((const void *)start->start_info, 4);
	hc_console_write("\n", 1);
	check_eq("console-write-from-start-info", r, 4);
}

static void check_time(void)
{
	uint64_t a = rdtsc(), b = rdtsc();
	check(b > a, "rdtsc-advances");

	/* time_ns is updated at every hypercall; the TSC formula must agree with it. */
	hc_event_ack(0);
	uint64_t t_shared = shared->time_ns;
	uint64_t t_tsc = now_ns();
	if (t_tsc >= t_shared ? t_tsc - t_shared < 1000000000ull : t_shared - t_tsc < 1000000)
		pass("tsc-matches-time-ns");
	else
		fail("tsc-matches-time-ns", "time_ns %08x%08x, from the TSC %08x%08x",
		     (uint32_t)(t_shared >> 32), (uint32_t)t_shared, (uint32_t)(t_tsc >> 32), (uint32_t)t_tsc);
	/* At boot the guest's clock is young: under 10 s after the first check. */
	check(t_shared < 10000000000ull, "time-ns-since-boot");

	/* Time moves: spin 2 ms by the TSC clock, then time_ns moved at least as far. */
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < 2000000)
		;
	hc_event_ack(0);
	if (shared->time_ns >= t0 + 2000000 - 1000000)
		pass("time-ns-advances");
	else
		fail("time-ns-advances", "time_ns %08x%08x, t0 %08x%08x",
		     (uint32_t)(shared->time_ns >> 32), (uint32_t)shared->time_ns,
		     (uint32_t)(t0 >> 32), (uint32_t)t0);
}

static void check_cpu(void)
{
	uint32_t r[4];
	cpuid(1, r);
	check(r[2] >> 31, "cpuid-hypervisor-bit");

	/* Selectors (sections 6, 7): at CPL 0 CS and SS read 0x08 and 0x10; the data
	 * selectors are flat (0x10, or 0: a load of 0 is allowed). */
	check_eq("cs-selector", read_sreg_cs(), PARA_KERNEL_CS);
	check_eq("ss-selector", read_sreg_ss(), PARA_KERNEL_DS);
	uint16_t d[4] = { read_sreg_ds(), read_sreg_es(), read_sreg_fs(), read_sreg_gs() };
	int ok = 1;
	for (int i = 0; i < 4; i++)
		ok &= d[i] == PARA_KERNEL_DS || d[i] == 0;
	if (ok)
		pass("data-selectors");
	else
		fail("data-selectors", "ds %x es %x fs %x gs %x", d[0], d[1], d[2], d[3]);

	/* Section 7: SMSW gives PE (paging is off), SGDT/SIDT limit 0 base 0, SLDT/STR 0. */
	check_eq("smsw-boot", smsw() & 0xffff, 0x0011);     /* PE and ET (section 7) */
	struct { uint16_t limit; uint32_t base; } __attribute__((packed)) g = { 0xffff, 0xffffffff },
		i = { 0xffff, 0xffffffff };
	__asm__ volatile("sgdt %0; sidt %1" : "=m"(g), "=m"(i));
	check(g.limit == 0 && g.base == 0, "sgdt-zero");
	check(i.limit == 0 && i.base == 0, "sidt-zero");
	uint32_t ldt = 0xffffffff, tr = 0xffffffff;
	__asm__ volatile("sldt %0; str %1" : "=r"(ldt), "=r"(tr));
	check(ldt == 0 && tr == 0, "sldt-str-zero");
}

void test_main(void)
{
	check_note();
	check_start_info();
	check_shared();
	check_console();
	check_time();
	check_cpu();
}

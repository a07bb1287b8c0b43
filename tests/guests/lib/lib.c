/*
 * lib.c - COM1 output, printf, the PASS/FAIL protocol, GDT and IDT helpers and
 * the exception dispatcher of the guest test library.
 */
#include "guest.h"

#define COM1 0x3f8

uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(8)));
uint64_t idt[IDT_ENTRIES] __attribute__((aligned(8)));
volatile struct exc_record exc_last;
static exc_hook_t hooks[IDT_ENTRIES];
extern volatile uint32_t rec_armed;
__attribute__((noreturn)) void exc_recover(void);

/* ---- output: polled 16550 (no initialisation needed by QEMU or trapeze) ---- */
void putchar_serial(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, c);
}

void guest_putc(char c)
{
	putchar_serial(c);
}

void guest_exit(int code)
{
	outb(0xf4, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void guest_finish(void)
{
	guest_exit(failures ? 1 : 0);
}

/* ---- GDT ---- */
uint64_t gdt_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (limit & 0xffffull) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)access << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
	       (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

void gdt_set(int idx, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	gdt[idx] = gdt_desc(base, limit, access, flags);
}

void gdt_load(int n)
{
	struct dtr d = { (uint16_t)(n * 8 - 1), (uint32_t)gdt };
	__asm__ volatile("lgdt %0\n\t"
			 "ljmp $0x08, $1f\n"
			 "1:\tmov %1, %%ds\n\t"
			 "mov %1, %%es\n\t"
			 "mov %1, %%fs\n\t"
			 "mov %1, %%gs\n\t"
			 "mov %1, %%ss"
			 :: "m"(d), "r"(SEL_DATA) : "memory");
}

/* ---- IDT ---- */
void idt_set(int vec, uint32_t handler, uint16_t sel, uint8_t type_attr)
{
	idt[vec] = (handler & 0xffff) | (uint64_t)sel << 16 |
		   (uint64_t)type_attr << 40 | (uint64_t)(handler >> 16) << 48;
}

void idt_init(void)
{
	static const int soft[] = { 0x30, 0x80, 0x81 };
	memset(idt, 0, sizeof(idt));
	for (int v = 0; v < 32; v++)
		idt_set(v, isr_stubs[v], SEL_CODE, 0x8e);
	for (unsigned i = 0; i < sizeof(soft) / sizeof(soft[0]); i++)
		idt_set(soft[i], isr_stubs[soft[i]], SEL_CODE, 0x8e);
	struct dtr d = { sizeof(idt) - 1, (uint32_t)idt };
	__asm__ volatile("lidt %0" :: "m"(d));
}

void exc_set_hook(int vec, exc_hook_t hook)
{
	hooks[vec] = hook;
}

void exc_clear(void)
{
	exc_last.vector = -1;
	exc_last.count = 0;
}

void exc_untry(void)
{
	rec_armed = 0;
}

void exc_dispatch(struct frame *f)
{
	exc_last.vector = f->vector;
	exc_last.count++;
	exc_last.error = f->error;
	exc_last.eip = f->eip;
	exc_last.cs = f->cs & 0xffff;
	exc_last.eflags = f->eflags;
	exc_last.esp = (uint32_t)(&f->eflags + 1);
	exc_last.eax = f->eax;
	exc_last.handler_eflags = read_eflags();
	if (hooks[f->vector]) {
		hooks[f->vector](f);
		return;
	}
	if (rec_armed)
		exc_recover();
	if (f->vector >= 32)
		return;
	printf("FAIL unexpected-exception vector %u error %x eip %08x\n",
	       f->vector, f->error, f->eip);
	guest_exit(1);
}

void expect_exc(const char *name, int got, int vec, int err)
{
	if (got != vec)
		fail(name, "exception %d want %d", got, vec);
	else if (err >= 0 && exc_last.error != (uint32_t)err)
		fail(name, "error code %x want %x", exc_last.error, err);
	else
		pass(name);
}

int under_qemu(void)
{
	static int known, qemu;
	if (!known) {
		uint32_t r[4], brand[12];
		cpuid(0x80000000, r);
		if (r[0] >= 0x80000004) {
			for (int k = 0; k < 3; k++)
				cpuid(0x80000002 + k, &brand[4 * k]);
			qemu = !memcmp(brand, "QEMU", 4);
		}
		known = 1;
	}
	return qemu;
}

void expect_exc_sdm(const char *name, int got, int vec, int err, const char *why)
{
	if (under_qemu())
		printf("SKIP %s %s\n", name, why);
	else
		expect_exc(name, got, vec, err);
}

void check_eq_sdm(const char *name, uint32_t got, uint32_t want, const char *why)
{
	if (under_qemu())
		printf("SKIP %s %s\n", name, why);
	else
		check_eq(name, got, want);
}

extern uint32_t mb_magic, mb_info;     /* boot.S: EAX and EBX at entry */

const char *guest_cmdline(void)
{
	/* Multiboot 1: EAX 0x2badb002; flags bit 2: the cmdline field (offset 16) is set. */
	const uint32_t *mbi = (const uint32_t *)mb_info;
	if (mb_magic != 0x2badb002u || !mbi || !(mbi[0] & 4) || !mbi[4])
		return "";
	return (const char *)mbi[4];
}

void guest_init(void)
{
	putchar_serial('\n');  /* SeaBIOS leaves "Booting from ROM.." unterminated */
	memset(gdt, 0, sizeof(gdt));
	gdt_set(1, 0, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(2, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	idt_init();
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

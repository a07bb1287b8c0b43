/*
 * sensitive.c - the 17 sensitive but unprivileged instructions must show the guest's
 * own (virtual) state: PUSHF/POPF (IF, IOPL, AC, ID), SGDT/SIDT, SLDT/STR, SMSW,
 * MOV/PUSH/POP of segment registers, LAR/LSL/VERR/VERW, far JMP/CALL/RET,
 * INT n/IRET, and segment loads (non-flat base, accessed bit, LDT selectors).
 */
#include "guest.h"

enum { S_LDT = 3, S_TSS, S_DATA2, S_CODE2, S_HIGH, S_XONLY, S_RONLY, S_DATA3, S_SMALL, S_UNACC };
#define SEL(i) ((i) << 3)
#define RSEG(s) ({ uint16_t v_; __asm__ volatile("movw %%" #s ", %0" : "=rm"(v_)); v_; })
#define ACCESS(i) ((uint8_t)(gdt[i] >> 40))

static uint64_t ldt[2];
static uint8_t tss[104] __attribute__((aligned(16)));
static uint64_t idt2[IDT_ENTRIES];

static void setup_gdt(void)
{
	gdt_set(S_LDT, (uint32_t)ldt, sizeof(ldt) - 1, 0x82, 0);
	gdt_set(S_TSS, (uint32_t)tss, sizeof(tss) - 1, 0x89, 0);
	gdt_set(S_DATA2, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_CODE2, 0, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(S_HIGH, 0x200000, 0xffff, ACC_DATA, GRAN_BYTE32);
	gdt_set(S_XONLY, 0, 0xfffff, 0x99, GRAN_4K32);        /* execute-only code */
	gdt_set(S_RONLY, 0, 0xfffff, 0x91, GRAN_4K32);        /* read-only data */
	gdt_set(S_DATA3, 0, 0xfffff, 0xf3, GRAN_4K32);        /* DPL 3 data */
	gdt_set(S_SMALL, 0, 0xfff, ACC_DATA, GRAN_BYTE32);
	gdt_set(S_UNACC, 0, 0xfffff, 0x92, GRAN_4K32);        /* accessed bit clear */
	ldt[1] = gdt_desc(0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
}

static void test_flags(void)
{
	uint32_t f0 = read_eflags() & ~EFL_IF, f;

	__asm__ volatile("cli");
	check((read_eflags() & EFL_IF) == 0, "pushf-after-cli");
	__asm__ volatile("sti; pushfl; popl %0; cli" : "=r"(f));
	check(f & EFL_IF, "pushf-after-sti");

	write_eflags(f0 | EFL_IF);
	f = read_eflags();
	__asm__ volatile("cli");
	check(f & EFL_IF, "popf-sets-if");
	__asm__ volatile("sti");
	write_eflags(f0);
	check((read_eflags() & EFL_IF) == 0, "popf-clears-if");
	__asm__ volatile("cli");

	write_eflags(f0 | 0x3000);
	f = read_eflags();
	write_eflags((f0 & ~EFL_IOPL) | 0x1000);
	check_eq("popf-iopl3", f & EFL_IOPL, 0x3000);
	check_eq("popf-iopl1", read_eflags() & EFL_IOPL, 0x1000);
	write_eflags(f0 & ~EFL_IOPL);

	/* Every arithmetic flag, IOPL 2 and IF survive a popf/pushf round trip exactly. */
	uint32_t want = (f0 & ~EFL_IOPL) | 0x8d5 | 0x2000 | EFL_IF;
	__asm__ volatile("pushl %1; popfl; pushfl; popl %0; cli" : "=r"(f) : "r"(want) : "cc");
	write_eflags(f0);
	check_eq("popf-pushf-roundtrip", f, want);

	write_eflags(f0 | EFL_AC);
	f = read_eflags();
	write_eflags(f0);
	check(f & EFL_AC, "popf-ac");
	write_eflags(f0 ^ EFL_ID);
	f = read_eflags();
	write_eflags(f0);
	check((f ^ f0) & EFL_ID, "popf-id-toggles");
}

static void test_tables(void)
{
	struct dtr d;
	__asm__ volatile("sgdt %0" : "=m"(d));
	check_eq("sgdt-base", d.base, (uint32_t)gdt);
	check_eq("sgdt-limit", d.limit, GDT_ENTRIES * 8 - 1);
	gdt_load(13);
	__asm__ volatile("sgdt %0" : "=m"(d));
	gdt_load(GDT_ENTRIES);
	check_eq("sgdt-limit-13", d.limit, 13 * 8 - 1);

	__asm__ volatile("sidt %0" : "=m"(d));
	check_eq("sidt-base", d.base, (uint32_t)idt);
	check_eq("sidt-limit", d.limit, sizeof(idt) - 1);
	memcpy(idt2, idt, sizeof(idt2));
	struct dtr d2 = { 0x3ff, (uint32_t)idt2 }, back = { sizeof(idt) - 1, (uint32_t)idt };
	__asm__ volatile("lidt %0" :: "m"(d2));
	__asm__ volatile("sidt %0" : "=m"(d));
	exc_clear();
	__asm__ volatile("int $0x30");
	__asm__ volatile("lidt %0" :: "m"(back));
	check_eq("sidt-base-2", d.base, (uint32_t)idt2);
	check_eq("sidt-limit-2", d.limit, 0x3ff);
	check_eq("int-through-second-idt", exc_last.vector, 0x30);

	uint16_t ldtr, tr;
	__asm__ volatile("lldt %w1; sldt %0" : "=m"(ldtr) : "r"(SEL(S_LDT)));
	check_eq("sldt", ldtr, SEL(S_LDT));
	__asm__ volatile("movw %w1, %%es; movw %%es, %0; movw %w2, %%es"
			 : "=&r"(ldtr) : "r"(0x0c), "r"(SEL_DATA));
	check_eq("ldt-selector-load", ldtr, 0x0c);
	__asm__ volatile("ltr %w1; str %0" : "=m"(tr) : "r"(SEL(S_TSS)));
	check_eq("str", tr, SEL(S_TSS));
	check_eq("ltr-marks-tss-busy", ACCESS(S_TSS), 0x8b);
	__asm__ volatile("lldt %w1; sldt %0" : "=m"(ldtr) : "r"(0));
	check_eq("sldt-null", ldtr, 0);
	__asm__ volatile("lldt %w0" :: "r"(SEL(S_LDT)));
}

static void test_smsw(void)
{
	uint32_t cr0 = read_cr0(), msw;
	uint16_t m16;
	__asm__ volatile("smsw %0" : "=r"(msw));
	__asm__ volatile("smsw %0" : "=m"(m16));
	check(msw & 1, "smsw-pe");
	check_eq("smsw-matches-cr0", msw & 0xffff, cr0 & 0xffff);
	check_eq("smsw-mem-matches-cr0", m16, cr0 & 0xffff);
	write_cr0(cr0 | 8);
	__asm__ volatile("smsw %0" : "=r"(msw));
	__asm__ volatile("clts");
	check(msw & 8, "smsw-sees-ts");
	__asm__ volatile("smsw %0" : "=r"(msw));
	check((msw & 8) == 0, "smsw-sees-clts");
	write_cr0(cr0);
}

/* Load DS with sel, then again with the same selector (MOV, or POP when pop), and read
 * DS:off. A reload reads the descriptor again (SDM Vol. 3, 3.4.3): a translator may skip
 * it only when the GDT still holds what the register was loaded from. */
__attribute__((noinline)) static uint32_t ds_reload_read(uint16_t sel, uint32_t off, int pop)
{
	uint32_t v;
	if (pop)
		__asm__ volatile("push %%ds; movw %w1, %%ds; pushl %1; popl %%ds; movl (%2), %0; pop %%ds"
				 : "=&r"(v) : "r"((uint32_t)sel), "r"(off) : "memory");
	else
		__asm__ volatile("push %%ds; movw %w1, %%ds; movw %w1, %%ds; movl (%2), %0; pop %%ds"
				 : "=&r"(v) : "r"((uint32_t)sel), "r"(off) : "memory");
	return v;
}

/* Load DS with sel, write desc into its GDT entry (through SS), load DS with sel again
 * and read DS:off. */
__attribute__((noinline)) static uint32_t ds_rewrite_reload(uint16_t sel, uint32_t off,
							    uint64_t desc)
{
	uint32_t v;
	volatile uint32_t *entry = (volatile uint32_t *)&gdt[sel >> 3];
	__asm__ volatile("push %%ds; movw %w1, %%ds\n\t"
			 "movl %3, %%ss:(%5); movl %4, %%ss:4(%5)\n\t"
			 "movw %w1, %%ds; movl (%2), %0; pop %%ds"
			 : "=&r"(v) : "r"((uint32_t)sel), "r"(off), "r"((uint32_t)desc),
			   "r"((uint32_t)(desc >> 32)), "r"(entry) : "memory");
	return v;
}

static void test_ds_reload(void)
{
	gdt_set(S_HIGH, 0x300000, 0xffff, ACC_DATA, GRAN_BYTE32);
	uint64_t d2 = gdt[S_HIGH];
	gdt_set(S_HIGH, 0x200000, 0xffff, ACC_DATA, GRAN_BYTE32);
	uint64_t d1 = gdt[S_HIGH];
	*(volatile uint32_t *)0x200040 = 0x11111111;
	*(volatile uint32_t *)0x300040 = 0x22222222;
	/* The same descriptor written: the reload may be skipped. */
	int ok = 1;
	for (int k = 0; k < 3; k++)
		ok &= ds_rewrite_reload(SEL(S_HIGH), 0x40, d1) == 0x11111111;
	check(ok, "ds-reload-gdt-unchanged");
	/* DS holds base 0x200000; the GDT now says 0x300000: the reload must see it. */
	check_eq("ds-reload-after-gdt-write", ds_rewrite_reload(SEL(S_HIGH), 0x40, d2), 0x22222222);
	/* DS holds base 0x300000; the GDT says 0x200000 again, as DS's first load here saw
	 * it: still a reload. */
	check_eq("ds-reload-gdt-back", ds_rewrite_reload(SEL(S_HIGH), 0x40, d1), 0x11111111);

	static const char *const names[2][4] = {
		{ "ds-reload-mov-same", "ds-reload-mov-sees-new-base",
		  "ds-reload-mov-sees-old-base-again", "ds-reload-mov-sets-accessed" },
		{ "ds-reload-pop-same", "ds-reload-pop-sees-new-base",
		  "ds-reload-pop-sees-old-base-again", "ds-reload-pop-sets-accessed" },
	};
	for (int pop = 0; pop < 2; pop++) {
		*(volatile uint32_t *)0x200040 = 0x11111111;
		*(volatile uint32_t *)0x300040 = 0x22222222;
		int ok = 1;
		for (int k = 0; k < 3; k++)
			ok &= ds_reload_read(SEL(S_HIGH), 0x40, pop) == 0x11111111;
		check(ok, names[pop][0]);
		/* The descriptor's base changed in the GDT, the selector the same. */
		gdt_set(S_HIGH, 0x300000, 0xffff, ACC_DATA, GRAN_BYTE32);
		ok = 1;
		for (int k = 0; k < 3; k++)
			ok &= ds_reload_read(SEL(S_HIGH), 0x40, pop) == 0x22222222;
		check(ok, names[pop][1]);
		gdt_set(S_HIGH, 0x200000, 0xffff, ACC_DATA, GRAN_BYTE32);
		ok = 1;
		for (int k = 0; k < 3; k++)
			ok &= ds_reload_read(SEL(S_HIGH), 0x40, pop) == 0x11111111;
		check(ok, names[pop][2]);
		/* The accessed bit cleared in the GDT: the reload sets it again. */
		gdt[S_HIGH] &= ~(1ull << 40);
		ds_reload_read(SEL(S_HIGH), 0x40, pop);
		check(ACCESS(S_HIGH) & 1, names[pop][3]);
	}
}

static void test_segregs(void)
{
	check_eq("mov-from-cs", read_cs(), SEL_CODE);
	check_eq("mov-from-ds", RSEG(ds), SEL_DATA);
	check_eq("mov-from-es", RSEG(es), SEL_DATA);
	check_eq("mov-from-ss", RSEG(ss), SEL_DATA);
	check_eq("mov-from-fs", RSEG(fs), SEL_DATA);
	check_eq("mov-from-gs", RSEG(gs), SEL_DATA);

	__asm__ volatile("movw %w0, %%es; movw %w1, %%fs; movw %w0, %%gs"
			 :: "r"(SEL(S_DATA2)), "r"(SEL(S_DATA3) | 3));
	check_eq("mov-from-es-2", RSEG(es), SEL(S_DATA2));
	check_eq("mov-from-fs-rpl3", RSEG(fs), SEL(S_DATA3) | 3);
	check_eq("mov-from-gs-2", RSEG(gs), SEL(S_DATA2));

	/* push/pop of a segment register moves ESP by 4 (16-bit forms by 2). */
	uint32_t pushed, d1, d2, d3;
	__asm__ volatile("movl %%esp, %1; push %%fs; movl %%esp, %2; movl (%%esp), %0\n\t"
			 "pop %%gs; subl %%esp, %2; subl %%esp, %1"
			 : "=&r"(pushed), "=&r"(d1), "=&r"(d2));
	check_eq("push-fs-value", pushed & 0xffff, SEL(S_DATA3) | 3);
	/* The upper half: zero, or the old stack word left alone (both allowed: SDM Vol.
	 * 2, PUSH); never anything else. */
	__asm__ volatile("pushl $0x5a5a1234; popl %%eax; push %%gs; popl %0"
			 : "=r"(pushed) :: "eax", "memory");
	check((pushed >> 16) == 0 || (pushed >> 16) == 0x5a5a, "push-gs-upper-half");
	__asm__ volatile("pushl $0x5a5a1234; popl %%eax; push %%es; popl %0"
			 : "=r"(pushed) :: "eax", "memory");
	check((pushed >> 16) == 0 || (pushed >> 16) == 0x5a5a, "push-es-upper-half");
	check_eq("push-fs-esp", -d2, 4);
	check_eq("pop-gs-esp", d1, 0);
	check_eq("pop-gs-value", RSEG(gs), SEL(S_DATA3) | 3);
	__asm__ volatile("movl %%esp, %1; pushw %%ds; movzwl (%%esp), %0; subl %%esp, %1; popw %%es"
			 : "=&r"(pushed), "=&r"(d3));
	check_eq("pushw-ds", pushed, SEL_DATA);
	check_eq("pushw-esp", d3, 2);
	check_eq("popw-es", RSEG(es), SEL_DATA);
	__asm__ volatile("push %%ss; pop %%ss; push %%ds; pop %%fs; push %%ds; pop %%gs" ::: "memory");
	check_eq("pop-ss", RSEG(ss), SEL_DATA);
	check_eq("pop-fs-flat", RSEG(fs), SEL_DATA);

	/* A data segment with base 0x200000: accesses through it land at base+offset. */
	volatile uint32_t *high = (volatile uint32_t *)0x200000;
	uint32_t got;
	high[0x10] = 0;
	high[0x20] = 0x600df00d;
	__asm__ volatile("push %%ds; movw %w2, %%ds; movl %3, 0x40; movl 0x80, %0; movw %%ds, %w1; pop %%ds"
			 : "=&r"(got), "=&r"(d1) : "r"(SEL(S_HIGH)), "r"(0x5a5aa5a5) : "memory");
	check_eq("ds-base-write", high[0x10], 0x5a5aa5a5);
	check_eq("ds-base-read", got, 0x600df00d);
	check_eq("ds-base-selector", d1 & 0xffff, SEL(S_HIGH));
	check_eq("ds-restored", RSEG(ds), SEL_DATA);

	check_eq("descriptor-not-accessed", ACCESS(S_UNACC), 0x92);
	__asm__ volatile("movw %w0, %%fs; movw %w1, %%fs" :: "r"(SEL(S_UNACC)), "r"(SEL_DATA));
	check_eq("load-sets-accessed-bit", ACCESS(S_UNACC), 0x93);
}

enum { LAR, LSL, VERR, VERW };
static const struct {
	const char *name;
	int op;
	uint16_t sel;
	int zf;
	uint32_t val;           /* LAR: masked with 0x00f0ff00 */
} access_cases[] = {
	{ "lar-code", LAR, SEL_CODE, 1, 0x00c09b00 },
	{ "lar-data", LAR, SEL_DATA, 1, 0x00c09300 },
	{ "lar-dpl3-data", LAR, SEL(S_DATA3) | 3, 1, 0x00c0f300 },
	{ "lar-byte-granular", LAR, SEL(S_SMALL), 1, 0x00409300 },
	{ "lar-ldt", LAR, SEL(S_LDT), 1, 0x00008200 },
	{ "lar-busy-tss", LAR, SEL(S_TSS), 1, 0x00008b00 },
	{ "lar-null", LAR, 0, 0, 0xdeadbeef },
	{ "lar-rpl3-on-dpl0", LAR, SEL_DATA | 3, 0, 0xdeadbeef },
	{ "lar-beyond-limit", LAR, GDT_ENTRIES * 8, 0, 0xdeadbeef },
	{ "lsl-code", LSL, SEL_CODE, 1, 0xffffffff },
	{ "lsl-small", LSL, SEL(S_SMALL), 1, 0xfff },
	{ "lsl-high", LSL, SEL(S_HIGH), 1, 0xffff },
	{ "lsl-tss", LSL, SEL(S_TSS), 1, 0x67 },
	{ "lsl-null", LSL, 0, 0, 0xdeadbeef },
	{ "lsl-beyond-limit", LSL, GDT_ENTRIES * 8 + 8, 0, 0xdeadbeef },
	{ "verr-code", VERR, SEL_CODE, 1, 0 },
	{ "verr-data", VERR, SEL_DATA, 1, 0 },
	{ "verr-execute-only", VERR, SEL(S_XONLY), 0, 0 },
	{ "verr-read-only", VERR, SEL(S_RONLY), 1, 0 },
	{ "verr-rpl3-on-dpl0", VERR, SEL_CODE | 3, 0, 0 },
	{ "verr-dpl3", VERR, SEL(S_DATA3) | 3, 1, 0 },
	{ "verr-tss", VERR, SEL(S_TSS), 0, 0 },
	{ "verr-null", VERR, 0, 0, 0 },
	{ "verr-beyond-limit", VERR, GDT_ENTRIES * 8, 0, 0 },
	{ "verw-data", VERW, SEL_DATA, 1, 0 },
	{ "verw-code", VERW, SEL_CODE, 0, 0 },
	{ "verw-read-only", VERW, SEL(S_RONLY), 0, 0 },
	{ "verw-null", VERW, 0, 0, 0 },
	{ "verw-beyond-limit", VERW, 0xfff8, 0, 0 },
};

static void test_access(void)
{
	for (unsigned i = 0; i < sizeof(access_cases) / sizeof(access_cases[0]); i++) {
		uint32_t v = 0xdeadbeef, sel = access_cases[i].sel;
		uint8_t zf;
		switch (access_cases[i].op) {
		case LAR: __asm__ volatile("lar %2, %0; setz %1" : "+r"(v), "=q"(zf) : "r"(sel) : "cc"); break;
		case LSL: __asm__ volatile("lsl %2, %0; setz %1" : "+r"(v), "=q"(zf) : "r"(sel) : "cc"); break;
		case VERR: __asm__ volatile("verr %w1; setz %0" : "=q"(zf) : "r"(sel) : "cc"); v = 0; break;
		default: __asm__ volatile("verw %w1; setz %0" : "=q"(zf) : "r"(sel) : "cc"); v = 0; break;
		}
		if (access_cases[i].op == LAR && zf)
			v &= 0x00f0ff00;
		if (zf != access_cases[i].zf || v != access_cases[i].val)
			fail(access_cases[i].name, "zf %d value %08x want zf %d value %08x",
			     zf, v, access_cases[i].zf, access_cases[i].val);
		else
			pass(access_cases[i].name);
	}
}

/* Far call target: returns its CS in EAX and the caller's pushed CS in EDX. */
__asm__(".text\n"
	"far_target:\n\t"
	"movl %cs, %eax\n\t"
	"movzwl %ax, %eax\n\t"
	"movzwl 4(%esp), %edx\n\t"
	"lret\n");

static void test_far(void)
{
	uint16_t cs;
	__asm__ volatile("ljmp %1, $1f\n1:\tmovw %%cs, %0\n\tljmp $0x08, $2f\n2:"
			 : "=r"(cs) : "i"(SEL(S_CODE2)));
	check_eq("ljmp-new-cs", cs, SEL(S_CODE2));
	check_eq("ljmp-back-cs", read_cs(), SEL_CODE);

	struct { uint32_t off; uint16_t sel; } __attribute__((packed)) ptr;
	__asm__ volatile("movl $1f, (%1); movw %w2, 4(%1); ljmp *(%1)\n"
			 "1:\tmovw %%cs, %0; ljmp $0x08, $2f\n2:"
			 : "=r"(cs) : "r"(&ptr), "r"(SEL(S_CODE2)) : "memory");
	check_eq("ljmp-indirect-cs", cs, SEL(S_CODE2));

	uint32_t callee_cs, caller_cs;
	__asm__ volatile("lcall %2, $far_target" : "=a"(callee_cs), "=d"(caller_cs) : "i"(SEL(S_CODE2)) : "memory");
	check_eq("lcall-callee-cs", callee_cs, SEL(S_CODE2));
	check_eq("lcall-pushed-cs", caller_cs, SEL_CODE);
	check_eq("lret-cs", read_cs(), SEL_CODE);
	ptr.off = 0;
	__asm__ volatile("movl $far_target, (%2); movw %w3, 4(%2); lcall *(%2)"
			 : "=a"(callee_cs), "=d"(caller_cs) : "r"(&ptr), "r"(SEL(S_CODE2)) : "memory");
	check_eq("lcall-indirect-cs", callee_cs, SEL(S_CODE2));
	check_eq("lret-indirect-cs", read_cs(), SEL_CODE);
}

static void add_one(struct frame *f) { f->eax += 1; }

static void test_int(void)
{
	extern char after_int80[], after_int81[];
	uint32_t eax = 41, before, after;

	exc_set_hook(0x80, add_one);
	exc_clear();
	__asm__ volatile("sti; stc; std; pushfl; popl %1; int $0x80\n"
			 ASM_LABEL(after_int80)
			 "pushfl; popl %2; cld; cli"
			 : "+a"(eax), "=&r"(before), "=&r"(after) :: "cc", "memory");
	check_eq("int80-vector", exc_last.vector, 0x80);
	check_eq("int80-handler-result", eax, 42);
	check_eq("int80-frame-eip", exc_last.eip, (uint32_t)after_int80);
	check_eq("int80-frame-cs", exc_last.cs, SEL_CODE);
	check_eq("int80-frame-eflags", exc_last.eflags, before);
	check_eq("int80-iret-restores-eflags", after, before);
	check((before & EFL_IF) && !(exc_last.handler_eflags & EFL_IF), "int80-gate-clears-if");
	exc_set_hook(0x80, 0);

	idt_set(0x81, isr_stubs[0x81], SEL_CODE, 0x8f);     /* trap gate */
	exc_clear();
	__asm__ volatile("sti; int $0x81\n" ASM_LABEL(after_int81) "pushfl; popl %0; cli" : "=r"(after) :: "memory");
	check_eq("int81-trap-gate-eip", exc_last.eip, (uint32_t)after_int81);
	check(exc_last.handler_eflags & EFL_IF, "int81-trap-gate-keeps-if");
	check(after & EFL_IF, "int81-iret-restores-if");
	idt_set(0x81, isr_stubs[0x81], SEL_CODE, 0x8e);
}

void test_main(void)
{
	guest_init();
	setup_gdt();
	test_flags();
	test_tables();
	test_smsw();
	test_segregs();
	test_ds_reload();
	test_access();
	test_far();
	test_int();
}

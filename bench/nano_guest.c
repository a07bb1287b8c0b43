/*
 * nano_guest.c - the multiboot guest of the nanobenchmarks (nano.h): runs every loop of
 * nano_loops.S at the ring NANO_OPS gives it, timed with RDTSC around the whole loop,
 * right after the empty loop with the same count at the same ring, and prints
 *
 *     NANO <name> <(cycles(op loop) - cycles(empty loop)) / n, one decimal>
 *
 * then `NANO-DONE`, and exits through port 0xf4 with 0 (process status 1 under QEMU and
 * trapeze). NANO_SMALL=1 divides the counts by NANO_SMALL_DIV (the smoke test).
 *
 * Words on the command line (trapeze run --append, QEMU -append) narrow a run down for a
 * profile or paired runs: `only=NAME` runs that operation alone, `x=N` multiplies its
 * iterations by N (1-1000): `--append "only=ctxsw x=50"` is 10^6 address-space switches.
 *
 * The kernel side is as small as an OS's fast paths can be: INT 0x80 goes through a DPL-3
 * interrupt gate to a handler that is one IRET, #DE to one that steps EIP over the 2-byte
 * DIV and IRETs. Ring 3 is ring.h's: user_run() IRETs to the loop, INT 0x81 comes back.
 * The paging ops (nano_paging.c) run last: the first of them turns paging on, and each
 * of their rounds starts with fresh tables and a CR3 load, outside the timing.
 */
#include "guest.h"
#include "ring.h"
#include "nano.h"
#include "nano_paging.h"

#ifndef NANO_SMALL
#define NANO_SMALL 0
#endif

#define FL_USER3 (0x2u | EFL_IF)   /* ring 3 runs with interrupts on, as in an OS */

void nano_sys_entry(void);
void nano_de_entry(void);
void nano_sysenter_entry(void);
__asm__(".text\n"
	".p2align 4\n"
	".globl nano_sys_entry\n"
	"nano_sys_entry:\n\t"
	"iret\n"
	".p2align 4\n"
	".globl nano_sysenter_entry\n"
	"nano_sysenter_entry:\n\t"
	"sysexit\n"                /* ECX and EDX: the caller's ESP and return point */
	".p2align 4\n"
	".globl nano_de_entry\n"
	"nano_de_entry:\n\t"
	"addl $2, (%esp)\n\t"      /* #DE is a fault: the saved EIP is the DIV's */
	"iret\n");

static const struct {
	const char *name;
	void (*loop)(uint32_t);
	uint32_t n, round;
	int ring;
} ops[] = {
#define NANO_ENTRY(name, n, ring, native, round) \
	{ #name, nano_##name, NANO_SMALL ? (n) / NANO_SMALL_DIV : (n), round, ring },
	NANO_OPS(NANO_ENTRY)
#undef NANO_ENTRY
};

/* The value of word key= on the command line (up to a space), or NULL. The first
 * word is the kernel's path. */
static const char *cmd_word(const char *cmd, const char *key)
{
	while (*cmd && *cmd != ' ')
		cmd++;
	for (const char *p = cmd; *p; p++) {
		if (p != cmd && p[-1] != ' ')
			continue;
		const char *k = key, *q = p;
		while (*k && *q == *k)
			k++, q++;
		if (!*k && *q == '=')
			return q + 1;
	}
	return NULL;
}

/* Whether the word at w (ended by a space or the end) is name. */
static int word_is(const char *w, const char *name)
{
	while (*name && *w == *name)
		w++, name++;
	return !*name && (!*w || *w == ' ');
}

/* Cycles for loop(n) at CPL `ring`; the way in and out of ring 3 is inside, but it
 * happens once per call and is also inside the baseline. */
static uint8_t sysenter_stack[256] __attribute__((aligned(16)));

static uint64_t timed(void (*loop)(uint32_t), uint32_t n, int ring)
{
	uint64_t t0 = nano_rdtsc();
	if (ring == 3)
		user_run((uint32_t)loop, n, FL_USER3);
	else
		loop(n);
	return nano_rdtsc() - t0;
}

void test_main(void)
{
	guest_init();
	ring_init();
	idt_set(0x80, (uint32_t)nano_sys_entry, SEL_CODE, 0xee);   /* DPL 3 interrupt gate */
	idt_set(0, (uint32_t)nano_de_entry, SEL_CODE, 0x8e);
	/* SYSENTER's four segments from GDT entry 8 on (SDM Vol. 2B, SYSENTER and SYSEXIT):
	 * ring-0 code and data, ring-3 code and data; its own ring-0 stack. */
	gdt_set(8, 0, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(9, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(10, 0, 0xfffff, 0xfb, GRAN_4K32);
	gdt_set(11, 0, 0xfffff, 0xf3, GRAN_4K32);
	wrmsr(0x174, 8 << 3);
	wrmsr(0x175, (uint32_t)sysenter_stack + sizeof(sysenter_stack));
	wrmsr(0x176, (uint32_t)nano_sysenter_entry);
	printf("NANO-START guest size=%s\n", NANO_SMALL ? "small" : "full");
	const char *cmd = guest_cmdline(), *only = cmd_word(cmd, "only"), *xw = cmd_word(cmd, "x");
	uint32_t times = xw ? 0 : 1;
	while (xw && *xw >= '0' && *xw <= '9' && times <= 1000)
		times = times * 10 + (uint32_t)(*xw++ - '0');
	if (times < 1 || times > 1000 || (xw && *xw && *xw != ' ')) {
		fail("nano-args", "x= wants a number from 1 to 1000");
		times = 1;
	}
	int ran = 0;
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (only && !word_is(only, ops[i].name))
			continue;
		ran++;
		uint64_t want = (uint64_t)ops[i].n * times;
		uint32_t n = want > 0xffffffffu ? 0xffffffffu : (uint32_t)want;
		uint32_t round = ops[i].round ? ops[i].round : n;
		uint64_t base = 0, t = 0;
		for (uint32_t done = 0, k; done < n; done += k) {
			k = n - done < round ? n - done : round;
			nano_pg_prepare(i, k);
			base += timed(nano_empty, k, ops[i].ring);
			t += timed(ops[i].loop, k, ops[i].ring);
		}
		if (nano_pg_check(i, n))
			continue;               /* FAIL printed; nano.sh marks the op */
		int neg;
		uint32_t x = nano_tenths(t, base, n, &neg);
		printf("NANO %s %s%u.%u\n", ops[i].name, neg ? "-" : "", x / 10, x % 10);
	}
	if (!ran)
		fail("nano-args", "only= names no operation");
	printf("NANO-DONE\n");
}

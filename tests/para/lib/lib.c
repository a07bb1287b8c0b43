/*
 * lib.c - the para guest library: start-up after boot.S, output through
 * console_write, the PASS/FAIL protocol, the trap dispatcher and its fix-up, guest
 * time. See pguest.h.
 */
#include "pguest.h"

const uint32_t para_boot_magic = PARA_BOOT_MAGIC;
const struct para_start_info *start;
volatile struct para_shared *shared;
struct para_trap trap_table[64];
volatile struct trap_record trap_last;
static trap_hook_t hooks[64];


/* ---- output: a line buffer flushed through console_write ---- */
static char line[256];
static uint32_t line_len;

void print_flush(void)
{
	if (line_len)
		hc_console_write(line, line_len);
	line_len = 0;
}

void guest_putc(char c)
{
	line[line_len++] = c;
	if (c == '\n' || line_len == sizeof(line))
		print_flush();
}

void check_err(const char *name, int32_t got, int err)
{
	if (got == -err)
		pass(name);
	else
		fail(name, "returned %d want %d", got, -err);
}

void hc_exit(uint32_t status)
{
	print_flush();
	hcall(PARA_EXIT, status, 0, 0, 0);
	for (;;)                /* exit does not return; if it does, spin (the timeout fails it) */
		;
}

void guest_finish(void)
{
	hc_exit(failures ? 1 : 0);
}

/* ---- time (section 5): the TSC since tsc_at_zero, scaled by tsc_shift and tsc_mult ---- */
uint64_t now_ns(void)
{
	uint64_t d = rdtsc() - shared->tsc_at_zero;
	int32_t shift = shared->tsc_shift;
	uint32_t mult = shared->tsc_mult;
	d = shift >= 0 ? d << shift : d >> -shift;
	/* (d * mult) >> 32, the product taken to 96 bits (section 5). */
	return (d >> 32) * mult + (((d & 0xffffffffu) * mult) >> 32);
}

/* ---- traps ---- */
void trap_set_hook(int vec, trap_hook_t hook)
{
	hooks[vec] = hook;
}

void trap_clear(void)
{
	trap_last.vector = -1;
	trap_last.count = 0;
}

void trap_dispatch(struct pframe *f)
{
	if (f->vector < 64 && hooks[f->vector]) {
		hooks[f->vector](f);
		return;
	}
	if (trap_fix_eip && f->eip == trap_fix_eip) {
		trap_last.vector = f->vector;
		trap_last.count++;
		trap_last.error = f->error;
		trap_last.cr2 = f->cr2;
		trap_last.eip = f->eip;
		trap_last.cs = f->cs;
		trap_last.eflags = f->eflags;
		trap_last.frame_end = (uint32_t)(&f->eflags + 1);
		trap_last.mask = shared->event_mask;
		f->eip = trap_fix_resume;
		trap_fix_eip = 0;
		return;
	}
	printf("FAIL unexpected-trap vector %u error %x cr2 %08x eip %08x cs %x eflags %08x\n",
	       f->vector, f->error, f->cr2, f->eip, f->cs, f->eflags);
	hc_exit(1);
}

int probe_read(uint32_t lin, uint32_t *val)
{
	uint32_t v = 0xdeadbeef;
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f") "1: movl (%1), %0\n2:\tmovl $0, trap_fix_eip"
			 : "+r"(v) : "r"(lin) : "memory");
	*val = v;
	return trap_last.vector;
}

int probe_write(uint32_t lin, uint32_t val)
{
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f") "1: movl %1, (%0)\n2:\tmovl $0, trap_fix_eip"
			 :: "r"(lin), "r"(val) : "memory");
	return trap_last.vector;
}

void expect_trap(const char *name, int got, int vec, int err)
{
	if (got != vec)
		fail(name, "vector %d want %d", got, vec);
	else if (err >= 0 && trap_last.error != (uint32_t)err)
		fail(name, "error code %x want %x", trap_last.error, err);
	else
		pass(name);
}

/* Called by boot.S on its stack once EAX is the para magic. */
__attribute__((noreturn)) void para_start(void)
{
	start = (const struct para_start_info *)boot_ebx;
	shared = (volatile struct para_shared *)start->shared_page;
	for (int v = 0; v < 64; v++)
		trap_table[v] = (struct para_trap){ trap_stubs[v], (uint8_t)v, 0, 0 };
	trap_clear();
	int32_t r = hc_set_trap_table(trap_table, 64);
	if (r != 0)
		printf("FAIL set-trap-table returned %d\n", r), failures++;
	test_main();
	guest_finish();
}

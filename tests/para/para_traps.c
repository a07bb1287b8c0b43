/*
 * para_traps - the trap table (docs/para-x86.md sections 4 and 6): #DE, #UD and INT3
 * reach the handlers set_trap_table installed, with the right vector and the x86
 * frame at CPL 0 (EIP, CS 0x08, EFLAGS, no SS:ESP), the handler runs with
 * event_mask = 1, and its IRET resumes where it says. Also #GP(0) with its error
 * code for a few instructions section 7 makes faults, and #GP(sel) for a selector
 * load. VMCALL from CPL 3 is not tested here.
 */
#include "pguest.h"

/* The frame of the last trap: vector, EIP, CS, its size (the frame ends where ESP
 * was), the event mask inside the handler and afterwards. */
static void check_frame(const char *name, int got, int vec, uint32_t eip, int err)
{
	char buf[64];
	int n = 0;
	for (const char *s = name; *s && n < 40; s++)
		buf[n++] = *s;
	memcpy(buf + n, "-frame", 7);
	if (got != vec) {
		fail(name, "vector %d want %d", got, vec);
		return;
	}
	pass(name);
	if (trap_last.eip != eip)
		fail(buf, "eip %08x want %08x", trap_last.eip, eip);
	else if (trap_last.cs != PARA_KERNEL_CS)
		fail(buf, "cs %08x want %08x", trap_last.cs, PARA_KERNEL_CS);
	else if (trap_last.frame_end != trap_fix_esp)
		fail(buf, "frame ends at %08x, ESP was %08x (wrong frame size)",
		     trap_last.frame_end, trap_fix_esp);
	else if (!(trap_last.eflags & 2))
		fail(buf, "eflags %08x: bit 1 clear", trap_last.eflags);
	else if (err >= 0 && trap_last.error != (uint32_t)err)
		fail(buf, "error code %x want %x", trap_last.error, err);
	else if (trap_last.mask != 1)
		fail(buf, "event_mask %u in the handler, want 1", trap_last.mask);
	else
		pass(buf);
}

static void test_de(void)
{
	uint32_t at, after, eax = 7, ecx = 0;
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f")
			 "movl $1f, %0\n\tmovl $2f, %1\n\txorl %%edx, %%edx\n"
			 "1:\tdivl %%ecx\n"
			 "2:\tmovl $0, trap_fix_eip"
			 : "=&m"(at), "=&m"(after), "+a"(eax), "+c"(ecx) :: "edx", "memory", "cc");
	check_frame("de-divide-by-zero", trap_last.vector, 0, at, -1);
	check_eq("de-resumed-after", eax, 7);
	(void)after;
}

static void test_ud(void)
{
	uint32_t at, after, marker = 0;
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f")
			 "movl $1f, %0\n\tmovl $2f, %1\n"
			 "1:\tud2\n"
			 "2:\tmovl $0, trap_fix_eip\n\tmovl $0x5a5a, %2"
			 : "=&m"(at), "=&m"(after), "=&r"(marker) :: "memory");
	check_frame("ud-ud2", trap_last.vector, 6, at, -1);
	check_eq("ud-resumed-after", marker, 0x5a5a);
	check_eq("ud-count", trap_last.count, 1);
	(void)after;
}

/* INT3 is a trap: the frame's EIP is the next instruction, and IRET resumes there. */
static void test_int3(void)
{
	uint32_t next;
	trap_clear();
	__asm__ volatile(FIXUP("1f", "1f")
			 "movl $1f, %0\n\t"
			 "int3\n"
			 "1:\tmovl $0, trap_fix_eip"
			 : "=&m"(next) :: "memory");
	check_frame("int3", trap_last.vector, 3, next, -1);
}

/* #GP(0) for instructions that reach hardware (section 7): an error-code frame. */
static void test_gp(void)
{
	uint32_t at;
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f") "movl $1f, %0\n1:\toutb %%al, $0x80\n2:\tmovl $0, trap_fix_eip"
			 : "=&m"(at) :: "memory");
	check_frame("gp-out", trap_last.vector, 13, at, 0);
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f") "movl $1f, %0\n1:\tmovl %%cr0, %%eax\n2:\tmovl $0, trap_fix_eip"
			 : "=&m"(at) :: "eax", "memory");
	check_frame("gp-mov-from-cr0", trap_last.vector, 13, at, 0);
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f") "movl $1f, %0\n1:\trdmsr\n2:\tmovl $0, trap_fix_eip"
			 : "=&m"(at) :: "eax", "edx", "memory");
	check_frame("gp-rdmsr", trap_last.vector, 13, at, 0);
	/* A selector other than section 6's for CPL 0: #GP(sel), DS unchanged. */
	uint16_t ds0, ds;
	__asm__ volatile("movw %%ds, %0" : "=r"(ds0));
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f") "movl $1f, %0\n\tmovl $0x28, %%eax\n"
			 "1:\tmovl %%eax, %%ds\n2:\tmovl $0, trap_fix_eip"
			 : "=&m"(at) :: "eax", "memory");
	check_frame("gp-load-ds-0x28", trap_last.vector, 13, at, 0x28);
	__asm__ volatile("movw %%ds, %0" : "=r"(ds));
	check_eq("gp-load-ds-unchanged", ds, ds0);
}

/* The handler's IRET leaves the event mask as the frame's IF says: here masked
 * (IF = 0 = !event_mask, the boot state), and it stays masked. */
static void test_mask_kept(void)
{
	__asm__ volatile("cli");
	check_eq("event-mask-before", shared->event_mask, 1);
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f") "1:\tud2\n2:\tmovl $0, trap_fix_eip" ::: "memory");
	check_eq("ud-frame-if-clear", trap_last.eflags & EFL_IF, 0);
	check_eq("event-mask-after-iret", shared->event_mask, 1);
}

/* Many traps in a row: no state leaks from one delivery to the next. */
static void test_many(void)
{
	int ok = 0;
	for (int i = 0; i < 1000; i++) {
		trap_clear();
		__asm__ volatile(FIXUP("1f", "2f") "1:\tud2\n2:\tmovl $0, trap_fix_eip" ::: "memory");
		ok += trap_last.vector == 6 && trap_last.count == 1;
	}
	check_eq("ud-1000-times", ok, 1000);
}

void test_main(void)
{
	test_de();
	test_ud();
	test_int3();
	test_gp();
	test_mask_kept();
	test_many();
}

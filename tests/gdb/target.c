/*
 * target.c - the guest a debugger drives (test-gdb.sh, test-packets.py): a function to
 * break at (gdb_marker), a pattern to read, a variable written twice (watched), code
 * that reads its own first byte and is patched while a breakpoint sits on it
 * (probe_site: a debugger's breakpoint must be invisible to the guest, and
 * self-modifying code must still work under it), and a wait for the debugger to
 * write 0x5a5a5a5a into `hold`. Without a debugger it spins forever.
 */
#include "guest.h"

volatile uint32_t pattern[4] = { 0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00 };
volatile uint32_t watched;
volatile uint32_t hold;

/* probe_site: mov $0x12345678, %eax; ret (B8 imm32 C3) */
extern uint8_t probe_site[];
__asm__(".text\n.globl probe_site\nprobe_site:\n\tmovl $0x12345678, %eax\n\tret\n");
typedef uint32_t (*probe_fn)(void);

__attribute__((noinline)) uint32_t gdb_marker(uint32_t x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

void test_main(void)
{
	guest_init();
	check_eq("marker-returns", gdb_marker(0x1234), 0x1234 * 3 + 1);
	/* A watchpoint stops after the first write, a read watchpoint at the read (the
	 * writes between must not stop it: it would show 2, not 3). */
	watched = 1;
	watched = 2;
	watched = 3;
	check_eq("watched-written", watched, 3);
	/* Its own code as the guest sees it: the opcode byte, not a breakpoint's 0xCC. */
	check_eq("breakpoint-invisible", *(volatile uint8_t *)probe_site, 0xb8);
	check_eq("probe-runs", ((probe_fn)probe_site)(), 0x12345678);
	*(volatile uint32_t *)(probe_site + 1) = 0xcafef00d;
	check_eq("probe-patched", ((probe_fn)probe_site)(), 0xcafef00d);
	check_eq("breakpoint-invisible-after-patch", *(volatile uint8_t *)probe_site, 0xb8);
	while (!hold)
		__asm__ volatile("pause");
	check_eq("debugger-wrote-memory", hold, 0x5a5a5a5a);
}

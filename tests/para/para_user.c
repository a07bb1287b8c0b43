/*
 * para_user.c - what the monitor emulates for a CPL-3 process must respect the
 * process's rights (docs/para-x86.md, sections 6 and 7): PUSHF/POPF with a 16-bit
 * operand (always emulated) against supervisor pages take #PF with the user bit, POP DS
 * of the kernel's selector takes #GP(sel), VMCALL takes #UD, IRET to the kernel's CS
 * takes #GP(0), INT 0x80 through a dpl-3 entry arrives with the user's SS:ESP.
 * (A review found the first two reading and writing kernel memory from CPL 3.)
 */
#include <stdbool.h>

#include "pguest.h"

volatile uint32_t secret = 0x12341234, secret2 = 0x000008d5;
static uint32_t kstack[1024] __attribute__((aligned(4096)));
extern char ucode[], ustack_top[], f_pushf[], f_popf[], f_popds[], f_vmcall[], f_iret[], r_pushf[],
	r_popf[], r_popds[], r_vmcall[], r_iret[], u_int80[];

/* The user program: each faulting instruction between f_X and r_X, then INT 0x81 ends. */
__asm__(".data\n.balign 4096\n.globl ucode\nucode:\n"
	"\tmov $secret+2, %esp\n"
	"f_pushf: .byte 0x66, 0x9c\n"           /* PUSHFW: would write kernel memory */
	"r_pushf: mov $secret2, %esp\n"
	"f_popf: .byte 0x66, 0x9d\n"            /* POPFW: would read kernel memory */
	"r_popf: mov $ustack_top, %esp\n"
	"\tpush $0x10\n"
	"f_popds: pop %ds\n"                    /* the kernel's data selector */
	"r_popds: add $4, %esp\n"
	"f_vmcall: .byte 0x0f, 0x01, 0xc1\n"
	"r_vmcall: push $0x10\n\tpush $ustack_top\n\tpush $0x202\n\tpush $0x08\n\tpush $r_iret\n"
	"f_iret: iret\n"                        /* to CPL 0 from CPL 3 */
	"r_iret: mov $ustack_top - 64, %esp\n"
	"u_int80: int $0x80\n"
	"\tint $0x81\n"
	"1: jmp 1b\n"
	".balign 4096\n.globl ustack\nustack: .space 4096\n.globl ustack_top\nustack_top:\n.text\n");

static struct { const char *at, *resume; int vec; uint32_t err, cr2; int seen; uint32_t got_err, got_cr2; }
	expect[] = {
	{ f_pushf, r_pushf, 14, 7, 0, 0, 0, 0 },        /* P | W | U at secret */
	{ f_popf, r_popf, 14, 5, 0, 0, 0, 0 },          /* P | U at secret2 */
	{ f_popds, r_popds, 13, 0x10, 0, 0, 0, 0 },
	{ f_vmcall, r_vmcall, 6, 0, 0, 0, 0, 0 },
	{ f_iret, r_iret, 13, 0, 0, 0, 0, 0 },
};
static uint32_t int80_ss, int80_esp, int80_eip;

static void user_fault(struct pframe *f)
{
	for (unsigned k = 0; k < sizeof(expect) / sizeof(expect[0]); k++)
		if (f->eip == (uint32_t)expect[k].at) {
			expect[k].seen = f->vector == (uint32_t)expect[k].vec ? 1 : -(int)f->vector;
			expect[k].got_err = f->error;
			expect[k].got_cr2 = f->cr2;
			f->eip = (uint32_t)expect[k].resume;
			return;
		}
	printf("FAIL unexpected-trap vector %d at %08x\n", (int)f->vector, f->eip);
	guest_finish();
}

static void int80(struct pframe *f)
{
	uint32_t *above = &f->eflags + 1;       /* a frame from CPL 3: ESP, SS */
	int80_eip = f->eip;
	int80_esp = above[0];
	int80_ss = above[1];
}

static void int81(struct pframe *f)
{
	(void)f;
	expect[0].cr2 = (uint32_t)&secret;
	expect[1].cr2 = (uint32_t)&secret2;
	for (unsigned k = 0; k < sizeof(expect) / sizeof(expect[0]); k++) {
		static const char *names[] = { "user-pushfw-supervisor", "user-popfw-supervisor",
					       "user-pop-ds-kernel-selector", "user-vmcall-ud",
					       "user-iret-to-kernel" };
		bool ok = expect[k].seen == 1 && expect[k].got_err == expect[k].err &&
			  (expect[k].vec != 14 || expect[k].got_cr2 == expect[k].cr2);
		if (ok)
			pass(names[k]);
		else
			fail(names[k], "seen %d error %x cr2 %08x", expect[k].seen, expect[k].got_err,
			     expect[k].got_cr2);
	}
	check_eq("kernel-word-unwritten", secret, 0x12341234);
	check_eq("int80-user-ss", int80_ss, PARA_USER_DS);
	check_eq("int80-user-esp", int80_esp, (uint32_t)ustack_top - 64);
	check_eq("int80-eip-next", int80_eip, (uint32_t)u_int80 + 2);
	guest_finish();
}

void test_main(void)
{
	pt_identity();
	pt_pd[0] |= PTE_U;
	pt_map((uint32_t)ucode, (uint32_t)ucode, PTE_P | PTE_W | PTE_U);
	pt_map((uint32_t)ustack_top - 4096, (uint32_t)ustack_top - 4096, PTE_P | PTE_W | PTE_U);
	check_eq("set-pt", hc_set_pt((uint32_t)pt_pd), 0);
	check_eq("stack-switch", hc_stack_switch((uint32_t)(kstack + 1024)), 0);
	for (int v = 0; v < 32; v++)
		trap_set_hook(v, user_fault);
	trap_set_hook(0x80 & 63, 0);
	trap_table[0x80 & 63].vector = 0x80;    /* two dpl-3 entries past the 64 of the library */
	trap_table[0x80 & 63].dpl = 3;
	trap_table[0x81 & 63].vector = 0x81;
	trap_table[0x81 & 63].dpl = 3;
	trap_set_hook(0x80 & 63, int80);
	trap_set_hook(0x81 & 63, int81);
	check_eq("trap-table", hc_set_trap_table(trap_table, 64), 0);
	__asm__ volatile("push $0x23\n\tpush $ustack_top\n\tpush $0x202\n\tpush $0x1b\n\tpush $ucode\n\tiret");
}

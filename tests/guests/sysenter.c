/*
 * sysenter.c - SYSENTER from ring 3 and SYSEXIT back (SDM Vol. 3A, 5.8.7; Vol. 2B,
 * SYSENTER and SYSEXIT). Ring 0 sets IA32_SYSENTER_CS/ESP/EIP (MSRs 0x174-0x176);
 * SYSENTER at CPL 3 arrives at MSR EIP with CS = MSR CS, SS = CS + 8, ESP = MSR ESP,
 * IF cleared, CPL 0; SYSEXIT goes to EDX with ESP = ECX, CS = MSR CS + 16 | 3,
 * SS = CS + 24 | 3, CPL 3, EFLAGS untouched. SYSEXIT at CPL 3 and SYSENTER with a
 * null SYSENTER_CS are #GP(0).
 *
 * SYSENTER_CS is 0x40, not the library's 0x08, so that a wrong CS or SS shows: GDT
 * 8-11 are ring-0 code and data and ring-3 code and data in the order SYSENTER and
 * SYSEXIT assume.
 */
#include "guest.h"
#include "ring.h"

#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

enum { S_SE_CODE = 8, S_SE_DATA, S_SE_UCODE, S_SE_UDATA };
#define SE_CS  0x40
#define SE_SS  0x48
#define SE_UCS 0x53
#define SE_USS 0x5b
#define FL_USER (0x2u | EFL_IF)

static uint8_t se_stack[1024] __attribute__((aligned(16)));
#define SE_TOP ((uint32_t)se_stack + sizeof(se_stack))

uint32_t se_k[16];      /* what ring 0 saw after SYSENTER */
uint32_t se_u[8];       /* what ring 3 saw after SYSEXIT */

/* k_sysenter (MSR EIP): GPRs, ESP, CS, SS, EFLAGS, DS and CR0 (readable at CPL 0
 * only), then EFLAGS = OF|IF|CF, EAX = 0x600d and SYSEXIT to the caller's EDX:ECX. */
extern char k_sysenter[];
__asm__(".text\nk_sysenter:\n\t"
	"movl %eax, se_k+16\n\t"
	"movl %ebx, se_k+20\n\t"
	"movl %ecx, se_k+24\n\t"
	"movl %edx, se_k+28\n\t"
	"movl %esi, se_k+32\n\t"
	"movl %edi, se_k+36\n\t"
	"movl %ebp, se_k+40\n\t"
	"movl %esp, se_k+0\n\t"
	"movl %cs, %eax\n\tmovl %eax, se_k+4\n\t"
	"movl %ss, %eax\n\tmovl %eax, se_k+8\n\t"
	"pushfl\n\tpopl se_k+12\n\t"
	"movl %ds, %eax\n\tmovl %eax, se_k+44\n\t"
	"movl %cr0, %eax\n\tmovl %eax, se_k+48\n\t"
	"pushl $0xa03\n\tpopfl\n\t"
	"movl $0x600d, %eax\n\t"
	"sysexit\n");

/* u_se: known registers and flags, SYSENTER with EDX:ECX = u_se_back:ESP, then
 * EFLAGS, ESP, EAX, CS, SS as SYSEXIT left them. */
extern char u_se[], u_se_back[];
__asm__(".text\nu_se:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\t"
	"movl $0, se_u+24\n\t"
	"movl $0x77, %eax\n\t"
	"movl $0x5e000001, %ebx\n\t"
	"movl $0x5e000002, %esi\n\t"
	"movl $0x5e000003, %edi\n\t"
	"movl $0x5e000004, %ebp\n\t"
	"movl $u_se_back, %edx\n\t"
	"movl %esp, %ecx\n\t"
	"movl %esp, se_u+0\n\t"
	"pushl $0x8d5\n\tpopfl\n\t"
	"sysenter\n"
	"u_se_back:\n\t"
	"pushfl\n\tpopl se_u+4\n\t"
	"movl %esp, se_u+8\n\t"
	"movl %eax, se_u+12\n\t"
	"movl %cs, %eax\n\tmovl %eax, se_u+16\n\t"
	"movl %ss, %eax\n\tmovl %eax, se_u+20\n\t"
	"movl $1, se_u+24\n\t"
	"popl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n\t"
	"movl $0x5e, %eax\n\t"
	"ret\n");

/* u_se_cli: SYSENTER, SYSEXIT, then a CLI that must fault at CPL 3. */
USER_INSN(se_cli, "movl $u_se_cli_at, %edx; movl %esp, %ecx; sysenter", "cli");
USER_INSN(sysexit, "movl $u_sysexit_at, %edx; movl %esp, %ecx", "sysexit");
USER_INSN(sysenter, "movl $u_sysenter_at, %edx; movl %esp, %ecx", "sysenter");

static void test_round_trip(void)
{
	uint32_t cr0 = read_cr0();
	volatile uint32_t r = 0;
	int v = EXC(r = user_run((uint32_t)u_se, 0, FL_USER));
	check_eq("sysenter-cpl3-no-fault", v, -1);
	check_eq("sysenter-round-trip-returns", r, 0x5e);

	/* SDM Vol. 2B, SYSENTER: CS.Selector = SYSENTER_CS & 0xfffc, SS.Selector =
	 * CS.Selector + 8, ESP = SYSENTER_ESP, EIP = SYSENTER_EIP, CPL 0, IF, VM, RF
	 * cleared; nothing else changes (no registers saved, DS untouched). */
	check_eq("sysenter-cs", se_k[1] & 0xffff, SE_CS);
	check_eq("sysenter-ss", se_k[2] & 0xffff, SE_SS);
	check_eq("sysenter-esp", se_k[0], SE_TOP);
	check_eq("sysenter-cpl0", se_k[12], cr0);
	check((se_k[3] & EFL_IF) == 0, "sysenter-clears-if");
	check_eq("sysenter-keeps-arith-flags", se_k[3] & 0x8d5, 0x8d5);
	check(se_k[4] == 0x77 && se_k[5] == 0x5e000001 && se_k[8] == 0x5e000002 &&
	      se_k[9] == 0x5e000003 && se_k[10] == 0x5e000004, "sysenter-keeps-registers");
	check_eq("sysenter-keeps-ecx", se_k[6], se_u[0]);
	check_eq("sysenter-keeps-edx", se_k[7], (uint32_t)u_se_back);
	check_eq("sysenter-keeps-ds", se_k[11] & 0xffff, SEL_UDATA);

	/* SDM Vol. 2B, SYSEXIT: CS.Selector = (SYSENTER_CS + 16) | 3, SS.Selector =
	 * (SYSENTER_CS + 24) | 3, EIP = EDX, ESP = ECX, CPL 3; EFLAGS unchanged. */
	check_eq("sysexit-eip-is-edx", se_u[6], 1);
	check_eq("sysexit-cs", se_u[4] & 0xffff, SE_UCS);
	check_eq("sysexit-ss", se_u[5] & 0xffff, SE_USS);
	check_eq("sysexit-esp-is-ecx", se_u[2], se_u[0]);
	check_eq("sysexit-keeps-eflags", se_u[1], 0xa03);
	check_eq("sysexit-keeps-eax", se_u[3], 0x600d);
	/* The INT 0x81 that ended the run came from the SYSEXIT's CS and SS. */
	check_eq("int-after-sysexit-frame-cs", ring_exit.cs & 0xffff, SE_UCS);
	check_eq("int-after-sysexit-frame-ss", ring_exit.ss & 0xffff, SE_USS);
	check_eq("int-after-sysexit-frame-at-esp0", ring_exit.frame, RING0_TOP - 20);

	user_expect_cs("cli-after-sysexit-cpl3-gp", u_se_cli, FL_USER, 13, 0, u_se_cli_at, SE_UCS);
}

static void test_faults(void)
{
	/* SYSEXIT: #GP(0) if CPL != 0 or SYSENTER_CS[15:2] = 0. */
	user_expect("sysexit-cpl3-gp", u_sysexit, FL_USER, 13, 0, u_sysexit_at);
	/* SYSENTER: #GP(0) if SYSENTER_CS[15:2] = 0, whatever the RPL bits hold. */
	wrmsr(MSR_SYSENTER_CS, 0);
	user_expect("sysenter-cs0-cpl3-gp", u_sysenter, FL_USER, 13, 0, u_sysenter_at);
	/* QEMU 7.2 (helper_sysenter) faults only when the whole MSR is 0 and would
	 * enter ring 0 with a null CS here, so the guest does not even try under it. */
	wrmsr(MSR_SYSENTER_CS, 3);
	if (under_qemu())
		printf("SKIP sysenter-cs3-cpl3-gp qemu-faults-only-on-sysenter-cs-0\n");
	else
		user_expect("sysenter-cs3-cpl3-gp", u_sysenter, FL_USER, 13, 0, u_sysenter_at);

	/* The RPL bits of SYSENTER_CS are masked off for SYSENTER's CS and SS; SYSEXIT
	 * adds 16 and 24 to the MSR value and ORs in 3 (SE_CS | 3 gives the same). */
	wrmsr(MSR_SYSENTER_CS, SE_CS | 3);
	int v = EXC(user_run((uint32_t)u_se, 0, FL_USER));
	check_eq("sysenter-msr-rpl3-no-fault", v, -1);
	check_eq("sysenter-msr-rpl3-cs", se_k[1] & 0xffff, SE_CS);
	check_eq("sysenter-msr-rpl3-ss", se_k[2] & 0xffff, SE_SS);
	check_eq("sysexit-msr-rpl3-cs", se_u[4] & 0xffff, SE_UCS);
	check_eq("sysexit-msr-rpl3-ss", se_u[5] & 0xffff, SE_USS);
	wrmsr(MSR_SYSENTER_CS, SE_CS);
}

void test_main(void)
{
	uint32_t r[4];
	guest_init();
	ring_init();
	gdt_set(S_SE_CODE, 0, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(S_SE_DATA, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_SE_UCODE, 0, 0xfffff, 0xfb, GRAN_4K32);
	gdt_set(S_SE_UDATA, 0, 0xfffff, 0xf3, GRAN_4K32);

	/* SDM Vol. 2A, CPUID leaf 1: EDX bit 11 (SEP) says SYSENTER/SYSEXIT exist. */
	cpuid(1, r);
	check(r[3] & (1u << 11), "cpuid-sep");

	wrmsr(MSR_SYSENTER_CS, SE_CS);
	wrmsr(MSR_SYSENTER_ESP, SE_TOP);
	wrmsr(MSR_SYSENTER_EIP, (uint32_t)k_sysenter);
	check(rdmsr(MSR_SYSENTER_CS) == SE_CS && rdmsr(MSR_SYSENTER_ESP) == SE_TOP &&
	      rdmsr(MSR_SYSENTER_EIP) == (uint32_t)k_sysenter, "sysenter-msrs-read-back");

	test_round_trip();
	test_faults();
}

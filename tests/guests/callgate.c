/*
 * callgate.c - 32-bit call gates (SDM Vol. 3A, 5.8.2-5.8.6). From ring 3, LCALL
 * through a DPL-3 gate to ring-0 code switches to the TSS's SS0:ESP0, pushes the
 * caller's SS:ESP, copies the gate's count of parameter dwords and pushes CS:EIP;
 * LRET $8 returns to ring 3 releasing the parameters on both stacks. Then the checks
 * of gate and target (#GP for a gate DPL < CPL, #NP for a gate or a code segment not
 * present), JMP through a gate (same privilege only), and gates and calls to a
 * conforming segment (no privilege change).
 */
#include "guest.h"
#include "ring.h"

/* GDT entries from RING_FREE (7): the selectors are spelled out in the assembly. */
enum {
	G_CALL = RING_FREE,     /* 0x3b: DPL 3 -> ring-0 cg_inner, 2 parameters */
	G_DPL0,                 /* 0x43: DPL 0 -> cg_inner */
	S_NP_CODE,              /* 0x48: ring-0 code, not present */
	G_NP_CODE,              /* 0x53: DPL 3 -> S_NP_CODE */
	G_NP,                   /* 0x5b: DPL 3, not present */
	G_JMP_SAME,             /* 0x63: DPL 3 -> ring-3 cg_same */
	S_CONF,                 /* 0x68: conforming code, DPL 0 */
	G_CONF,                 /* 0x73: DPL 3 -> S_CONF cg_conf */
	G_JMP_RING0,            /* 0x7b: DPL 3 -> ring-0 cg_inner (JMP: refused) */
};
#define SEL(i) ((i) << 3)
#define FL_USER (0x2u | EFL_IF)

/* SDM Vol. 3A, 5.8.3, Figure 5-8: offset 15:0, selector, parameter count (bits 4:0
 * of byte 4), type and attributes (P, DPL, 0, type 0xC), offset 31:16. */
static void gate_set(int idx, uint16_t sel, const void *target, uint8_t attr, int params)
{
	uint32_t off = (uint32_t)target;
	gdt[idx] = (off & 0xffff) | (uint64_t)sel << 16 | (uint64_t)(params & 0x1f) << 32 |
		   (uint64_t)attr << 40 | (uint64_t)(off >> 16) << 48;
}
#define GATE_DPL3 0xec
#define GATE_DPL0 0x8c
#define GATE_NP   0x6c

/* QEMU 7.2 (helper_lcall_protected) gives CS the RPL of the DPL of a conforming
 * segment reached through a call gate (0 here) instead of the CPL; its CPL (SS.DPL)
 * stays 3, so privilege checks are right and only the CS selector is wrong. */
#define QEMU_CONF_RPL "qemu-gives-cs-rpl-of-conforming-dpl-through-gate"

uint32_t cg[12];                /* what ring-0 cg_inner saw */
uint32_t u_call_esp, u_after[5];
uint32_t cgs[4], cgc[8], cgd[8];

/* cg_inner, at CPL 0 through G_CALL: its ESP, SS, CS, the six dwords on its stack
 * (EIP, CS, parameters 1 and 2, ESP, SS), EFLAGS and CR0 (readable at CPL 0 only);
 * ES loaded with DPL-0 data so that the return to ring 3 must make it null. */
extern char cg_inner[];
__asm__(".text\ncg_inner:\n\t"
	"movl %esp, cg+0\n\t"
	"movl %ss, %eax\n\tmovl %eax, cg+4\n\t"
	"movl %cs, %eax\n\tmovl %eax, cg+8\n\t"
	"movl 0(%esp), %eax\n\tmovl %eax, cg+12\n\t"
	"movl 4(%esp), %eax\n\tmovl %eax, cg+16\n\t"
	"movl 8(%esp), %eax\n\tmovl %eax, cg+20\n\t"
	"movl 12(%esp), %eax\n\tmovl %eax, cg+24\n\t"
	"movl 16(%esp), %eax\n\tmovl %eax, cg+28\n\t"
	"movl 20(%esp), %eax\n\tmovl %eax, cg+32\n\t"
	"pushfl\n\tpopl cg+36\n\t"
	"movl %cr0, %eax\n\tmovl %eax, cg+40\n\t"
	"movl $0x10, %eax\n\tmovl %eax, %es\n\t"
	"lret $8\n");

/* u_call: two parameters, LCALL through G_CALL, then ESP, ES, CS, SS, DS as it
 * came back. */
extern char u_call[], u_call_after[];
__asm__(".text\nu_call:\n\t"
	"pushl $0xaaaa0002\n\t"
	"pushl $0xbbbb0001\n\t"
	"movl %esp, u_call_esp\n\t"
	"lcall $0x3b, $0\n"
	"u_call_after:\n\t"
	"movl %esp, u_after+0\n\t"
	"movl %es, %eax\n\tmovl %eax, u_after+4\n\t"
	"movl %cs, %eax\n\tmovl %eax, u_after+8\n\t"
	"movl %ss, %eax\n\tmovl %eax, u_after+12\n\t"
	"movl %ds, %eax\n\tmovl %eax, u_after+16\n\t"
	"movl $0x23, %eax\n\tmovl %eax, %es\n\t"
	"movl $0x1234, %eax\n\t"
	"ret\n");

static void test_call_inner(void)
{
	uint32_t k_cr0 = read_cr0();
	volatile uint32_t r = 0;
	int v = EXC(r = user_run((uint32_t)u_call, 0, FL_USER));
	check_eq("callgate-cpl3-no-fault", v, -1);
	check_eq("callgate-cpl3-returns", r, 0x1234);

	/* SDM Vol. 3A, 5.8.5, Figure 5-13: the new stack holds the caller's SS, ESP, the
	 * parameters (copied, in order) and CS, EIP: 24 bytes below ESP0. */
	check_eq("callgate-target-cs", cg[2] & 0xffff, SEL_CODE);
	check_eq("callgate-target-cpl0", cg[10], k_cr0);
	check_eq("callgate-ss-is-ss0", cg[1] & 0xffff, SEL_KSTACK);
	check_eq("callgate-esp", cg[0], RING0_TOP - 24);
	check_eq("callgate-pushed-eip", cg[3], (uint32_t)u_call_after);
	check_eq("callgate-pushed-cs", cg[4] & 0xffff, SEL_UCODE);
	check_eq("callgate-param1", cg[5], 0xbbbb0001);
	check_eq("callgate-param2", cg[6], 0xaaaa0002);
	check_eq("callgate-pushed-esp", cg[7], u_call_esp);
	check_eq("callgate-pushed-ss", cg[8] & 0xffff, SEL_UDATA);
	/* A call gate is not an interrupt gate: CALL changes no flag without a task
	 * switch (SDM Vol. 2A, CALL, "Flags Affected"), so IF stays. */
	check(cg[9] & EFL_IF, "callgate-keeps-if");

	/* SDM Vol. 2B, RET, RETURN-TO-OUTER-PRIVILEGE-LEVEL: pop EIP, CS, release the
	 * parameters, pop ESP, SS, release them again on the outer stack; ES (DPL-0
	 * data) becomes null, DS (DPL 3) stays. */
	check_eq("lret8-outer-cs", u_after[2] & 0xffff, SEL_UCODE);
	check_eq("lret8-outer-ss", u_after[3] & 0xffff, SEL_UDATA);
	check_eq("lret8-releases-caller-params", u_after[0], u_call_esp + 8);
	check_eq("lret-outer-nulls-dpl0-es", u_after[1] & 0xffff, 0);
	check_eq("lret-outer-keeps-dpl3-ds", u_after[4] & 0xffff, SEL_UDATA);
}

USER_INSN(call_dpl0, "", "lcall $0x43, $0");
USER_INSN(call_np_code, "", "lcall $0x53, $0");
USER_INSN(call_np_gate, "", "lcall $0x5b, $0");
USER_INSN(jmp_ring0, "", "ljmp $0x7b, $0");

static void test_call_checks(void)
{
	/* SDM Vol. 2A, CALL, CALL-GATE: gate DPL < CPL or RPL is #GP(gate); a gate
	 * not present is #NP(gate); a target code segment not present is #NP(code). */
	user_expect("callgate-dpl0-cpl3-gp", u_call_dpl0, FL_USER, 13, SEL(G_DPL0), u_call_dpl0_at);
	user_expect("callgate-code-not-present-np", u_call_np_code, FL_USER, 11, SEL(S_NP_CODE),
		    u_call_np_code_at);
	user_expect("callgate-not-present-np", u_call_np_gate, FL_USER, 11, SEL(G_NP),
		    u_call_np_gate_at);
	/* SDM Vol. 2A, JMP, CALL-GATE: JMP goes to a non-conforming segment only with
	 * DPL = CPL: #GP(code selector). */
	user_expect("jmp-callgate-ring0-gp", u_jmp_ring0, FL_USER, 13, SEL_CODE, u_jmp_ring0_at);
}

/* u_jmp: LJMP through G_JMP_SAME to cg_same (ring-3 code), which returns for it. */
extern char u_jmp[], cg_same[];
__asm__(".text\nu_jmp:\n\t"
	"movl %esp, cgs+0\n\t"
	"ljmp $0x63, $0\n\t"
	"movl $0xbad, %eax\n\t"
	"ret\n"
	"cg_same:\n\t"
	"movl %esp, cgs+4\n\t"
	"movl %cs, %eax\n\tmovl %eax, cgs+8\n\t"
	"movl %ss, %eax\n\tmovl %eax, cgs+12\n\t"
	"movl $0x5a3e, %eax\n\t"
	"ret\n");

/* u_conf: two dwords, LCALL through G_CONF to cg_conf (conforming, DPL 0). u_confd:
 * a direct LCALL to the conforming segment. cg_conf records ESP, CS, SS and the
 * pushed EIP, CS at cgc+12.. (u_conf) or cgd+12.. (u_confd: EBX holds the base). */
extern char u_conf[], u_conf_after[], u_confd[], u_confd_after[], cg_conf[];
__asm__(".text\nu_conf:\n\t"
	"movl $cgc, %ebx\n\t"
	"pushl $0xc0f00002\n\t"
	"pushl $0xc0f00001\n\t"
	"movl %esp, cgc+0\n\t"
	"lcall $0x73, $0\n"
	"u_conf_after:\n\t"
	"movl %esp, cgc+4\n\t"
	"movl %cs, %eax\n\tmovl %eax, cgc+8\n\t"
	"addl $8, %esp\n\t"
	"movl $0xc0f, %eax\n\t"
	"ret\n"
	"u_confd:\n\t"
	"movl $cgd, %ebx\n\t"
	"movl %esp, cgd+0\n\t"
	"lcall $0x6b, $cg_conf\n"
	"u_confd_after:\n\t"
	"movl %esp, cgd+4\n\t"
	"movl %cs, %eax\n\tmovl %eax, cgd+8\n\t"
	"movl $0xc0d, %eax\n\t"
	"ret\n"
	"cg_conf:\n\t"
	"movl %esp, 12(%ebx)\n\t"
	"movl %cs, %eax\n\tmovl %eax, 16(%ebx)\n\t"
	"movl %ss, %eax\n\tmovl %eax, 20(%ebx)\n\t"
	"movl 0(%esp), %eax\n\tmovl %eax, 24(%ebx)\n\t"
	"movl 4(%esp), %eax\n\tmovl %eax, 28(%ebx)\n\t"
	"lret\n");

/* u_conf_cli: through G_CONF (pointed at cg_conf_cli) to a CLI that must fault:
 * the CPL is still 3. */
extern char u_conf_cli[], cg_conf_cli[], cg_conf_cli_at[];
__asm__(".text\nu_conf_cli:\n\t"
	"lcall $0x73, $0\n\t"
	"ret\n"
	"cg_conf_cli:\n"
	"cg_conf_cli_at:\n\t"
	"cli\n\t"
	"lret\n");

static void test_same_privilege(void)
{
	/* JMP through a call gate to code of the CPL: no stack switch, nothing pushed,
	 * CS.RPL = CPL (SDM Vol. 2A, JMP, CALL-GATE). */
	user_expect_ret("jmp-callgate-same-arrives", u_jmp, 0, FL_USER, 0x5a3e);
	check_eq("jmp-callgate-same-cs", cgs[2] & 0xffff, SEL_UCODE);
	check_eq("jmp-callgate-same-ss", cgs[3] & 0xffff, SEL_UDATA);
	check_eq("jmp-callgate-same-pushes-nothing", cgs[1], cgs[0]);

	/* A gate to a more privileged conforming segment leaves the CPL as it is and
	 * switches no stack (SDM Vol. 3A, 5.8.1.2 and 5.8.4; Vol. 2A, CALL,
	 * SAME-PRIVILEGE: CS(RPL) <- CPL): no parameters copied, CS:EIP pushed on the
	 * current stack. */
	user_expect_ret("callgate-conforming-returns", u_conf, 0, FL_USER, 0xc0f);
	if (under_qemu())
		printf("SKIP callgate-conforming-cs " QEMU_CONF_RPL "\n");
	else
		check_eq("callgate-conforming-cs", cgc[4] & 0xffff, SEL(S_CONF) | 3);
	check_eq("callgate-conforming-ss", cgc[5] & 0xffff, SEL_UDATA);
	check_eq("callgate-conforming-esp", cgc[3], cgc[0] - 8);
	check_eq("callgate-conforming-pushed-eip", cgc[6], (uint32_t)u_conf_after);
	check_eq("callgate-conforming-pushed-cs", cgc[7] & 0xffff, SEL_UCODE);
	check_eq("callgate-conforming-lret-esp", cgc[1], cgc[0]);
	check_eq("callgate-conforming-lret-cs", cgc[2] & 0xffff, SEL_UCODE);

	gate_set(G_CONF, SEL(S_CONF), cg_conf_cli, GATE_DPL3, 2);
	int v = EXC(user_run((uint32_t)u_conf_cli, 0, FL_USER));
	gate_set(G_CONF, SEL(S_CONF), cg_conf, GATE_DPL3, 2);
	expect_exc("callgate-conforming-cli-gp", v, 13, 0);
	check_eq("callgate-conforming-cli-gp-eip", exc_last.eip, (uint32_t)cg_conf_cli_at);
	if (under_qemu())
		printf("SKIP callgate-conforming-cli-gp-frame-cs " QEMU_CONF_RPL "\n");
	else
		check_eq("callgate-conforming-cli-gp-frame-cs", exc_last.cs, SEL(S_CONF) | 3);

	/* A direct far call to conforming code (5.8.1.2): CPL 3, CS.RPL = 3. */
	user_expect_ret("lcall-conforming-returns", u_confd, 0, FL_USER, 0xc0d);
	check_eq("lcall-conforming-cs", cgd[4] & 0xffff, SEL(S_CONF) | 3);
	check_eq("lcall-conforming-ss", cgd[5] & 0xffff, SEL_UDATA);
	check_eq("lcall-conforming-esp", cgd[3], cgd[0] - 8);
	check_eq("lcall-conforming-pushed-eip", cgd[6], (uint32_t)u_confd_after);
	check_eq("lcall-conforming-pushed-cs", cgd[7] & 0xffff, SEL_UCODE);
	check_eq("lcall-conforming-lret-cs", cgd[2] & 0xffff, SEL_UCODE);
}

void test_main(void)
{
	guest_init();
	ring_init();
	gate_set(G_CALL, SEL_CODE, cg_inner, GATE_DPL3, 2);
	gate_set(G_DPL0, SEL_CODE, cg_inner, GATE_DPL0, 2);
	gdt_set(S_NP_CODE, 0, 0xfffff, ACC_CODE & 0x7f, GRAN_4K32);
	gate_set(G_NP_CODE, SEL(S_NP_CODE), cg_inner, GATE_DPL3, 0);
	gate_set(G_NP, SEL_CODE, cg_inner, GATE_NP, 0);
	gate_set(G_JMP_SAME, SEL_UCODE, cg_same, GATE_DPL3, 0);
	gdt_set(S_CONF, 0, 0xfffff, 0x9f, GRAN_4K32);
	gate_set(G_CONF, SEL(S_CONF), cg_conf, GATE_DPL3, 2);
	gate_set(G_JMP_RING0, SEL_CODE, cg_inner, GATE_DPL3, 0);

	test_call_inner();
	test_call_checks();
	test_same_privilege();
}

/*
 * para_hostile - every kind of bad hypercall gets the error docs/para-x86.md section
 * 4 defines, changes nothing else, and the VM keeps running: unknown numbers,
 * console_write, set_trap_table, mmu_update (including a batch refused half way),
 * ring_setup/ring_notify for a device that does not exist, set_pt; addresses outside
 * RAM with paging off, unmapped ones with paging on.
 */
#include "pguest.h"

#define ARITH_FLAGS 0x8d5u      /* CF PF AF ZF SF OF */

/* Registers around one VMCALL: in[] loaded, out[] stored, ESP before and after. */
struct vmcall_regs {
	uint32_t in[8];         /* eax ebx ecx edx esi edi ebp eflags */
	uint32_t out[8];
	uint32_t esp_before, esp_after;
};
void vmcall_regs(struct vmcall_regs *p);
__asm__(".text\n"
	"vmcall_regs:\n\t"
	"push %ebp\n\tpush %ebx\n\tpush %esi\n\tpush %edi\n\t"
	"mov 20(%esp), %eax\n\t"
	"push %eax\n\t"
	"mov %esp, 64(%eax)\n\t"
	"pushl 28(%eax)\n\tpopfl\n\t"
	"mov 4(%eax), %ebx\n\tmov 8(%eax), %ecx\n\tmov 12(%eax), %edx\n\t"
	"mov 16(%eax), %esi\n\tmov 20(%eax), %edi\n\tmov 24(%eax), %ebp\n\t"
	"mov 0(%eax), %eax\n\t"
	".byte 0x0f, 0x01, 0xc1\n\t"
	"pushfl\n\tpush %eax\n\t"
	"mov 8(%esp), %eax\n\t"
	"popl 32(%eax)\n\tpopl 60(%eax)\n\t"
	"mov %ebx, 36(%eax)\n\tmov %ecx, 40(%eax)\n\tmov %edx, 44(%eax)\n\t"
	"mov %esi, 48(%eax)\n\tmov %edi, 52(%eax)\n\tmov %ebp, 56(%eax)\n\t"
	"mov %esp, 68(%eax)\n\t"
	"pop %eax\n\tpop %edi\n\tpop %esi\n\tpop %ebx\n\tpop %ebp\n\t"
	"cld\n\tret\n");

static uint32_t mem;            /* start->mem_size */
static uint32_t scratch[1024] __attribute__((aligned(4096)));   /* a page table nobody uses */
static char big[PARA_CONSOLE_MAX + 1];

/* A call with all registers set: EAX as want, the others and the flags unchanged. */
static void check_preserved(const char *name, uint32_t nr, uint32_t b, uint32_t c, uint32_t d,
			    uint32_t s, int32_t want, uint32_t flags)
{
	struct vmcall_regs p = { { nr, b, c, d, s, 0x5eed0001, 0x5eed0002, flags | 2 }, { 0 }, 0, 0 };
	vmcall_regs(&p);
	static const char *reg[8] = { "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "eflags" };
	if ((int32_t)p.out[0] != want) {
		fail(name, "eax %d want %d", (int32_t)p.out[0], want);
		return;
	}
	for (int i = 1; i < 7; i++)
		if (p.out[i] != p.in[i]) {
			fail(name, "%s %08x, was %08x", reg[i], p.out[i], p.in[i]);
			return;
		}
	if ((p.out[7] ^ p.in[7]) & ARITH_FLAGS)
		fail(name, "eflags %08x, was %08x", p.out[7], p.in[7]);
	else if (p.esp_after != p.esp_before)
		fail(name, "esp %08x, was %08x", p.esp_after, p.esp_before);
	else
		pass(name);
}

static void test_unknown(void)
{
	check_err("unknown-ncalls", hcall(PARA_NCALLS, 0, 0, 0, 0), PARA_ENOSYS);
	check_err("unknown-ncalls+1", hcall(PARA_NCALLS + 1, 0, 0, 0, 0), PARA_ENOSYS);
	check_err("unknown-255", hcall(255, 0, 0, 0, 0), PARA_ENOSYS);
	check_err("unknown-0x80000000", hcall(0x80000000u, 0, 0, 0, 0), PARA_ENOSYS);
	check_err("unknown-0xffffffff", hcall(0xffffffffu, 1, 2, 3, 4), PARA_ENOSYS);
	check_preserved("regs-kept-enosys-flags-set", 0xffffffffu, 0xb0b0b0b0, 0xc0c0c0c0, 0xd0d0d0d0,
			0xe0e0e0e0, -PARA_ENOSYS, ARITH_FLAGS);
	check_preserved("regs-kept-enosys-flags-clear", PARA_NCALLS, 1, 2, 3, 4, -PARA_ENOSYS, 0);
	check_preserved("regs-kept-efault", PARA_CONSOLE_WRITE, 0xfffff000u, 16, 0xd0d0d0d0, 0xe0e0e0e0,
			-PARA_EFAULT, ARITH_FLAGS);
	check_preserved("regs-kept-success", PARA_EVENT_ACK, 0, 0xc0c0c0c0, 0xd0d0d0d0, 0xe0e0e0e0,
			(int32_t)shared->event_pending, ARITH_FLAGS);
}

static void test_console(void)
{
	static const char msg[] = "console check\n";
	check_err("console-buf-at-mem-size", hc_console_write((const void *)mem, 16), PARA_EFAULT);
	check_err("console-buf-at-4g-4k", hc_console_write((const void *)0xfffff000u, 16), PARA_EFAULT);
	check_err("console-buf-crosses-end", hc_console_write((const void *)(mem - 8), 16), PARA_EFAULT);
	check_err("console-buf-wraps", hc_console_write((const void *)0xfffffff0u, 0x20), PARA_EFAULT);
	check_err("console-len-4097", hc_console_write(msg, PARA_CONSOLE_MAX + 1), PARA_EINVAL);
	check_err("console-len-max", hc_console_write(msg, 0xffffffffu), PARA_EINVAL);
	memset(big, ' ', sizeof(big));
	big[PARA_CONSOLE_MAX - 1] = '\n';
	check_eq("console-len-4096", hc_console_write(big, PARA_CONSOLE_MAX), PARA_CONSOLE_MAX);
	check_eq("console-len-0", hc_console_write(msg, 0), 0);
}

static int ud_handled(void)
{
	trap_clear();
	__asm__ volatile(FIXUP("1f", "2f") "1:\tud2\n2:\tmovl $0, trap_fix_eip" ::: "memory");
	return trap_last.vector == 6;
}

static void test_trap_table(void)
{
	static struct para_trap table[PARA_TRAPS_MAX + 1];
	for (unsigned i = 0; i <= PARA_TRAPS_MAX; i++)
		table[i] = (struct para_trap){ trap_stubs[i % 64], (uint8_t)i, 0, 0 };
	check_err("trap-table-n-257", hc_set_trap_table(table, PARA_TRAPS_MAX + 1), PARA_EINVAL);
	check_err("trap-table-n-max", hc_set_trap_table(table, 0xffffffffu), PARA_EINVAL);
	check_err("trap-table-at-mem-size", hc_set_trap_table((const void *)mem, 1), PARA_EFAULT);
	check_err("trap-table-at-4g-4k", hc_set_trap_table((const void *)0xfffff000u, 4), PARA_EFAULT);
	check_err("trap-table-crosses-end", hc_set_trap_table((const void *)(mem - 8), 2), PARA_EFAULT);
	check(ud_handled(), "trap-table-kept-after-refusals");
}

static void test_mmu(void)
{
	struct para_mmu_req r[4];
	uint32_t done;
	const uint32_t ok_val = (uint32_t)scratch | PTE_P | PTE_W;

	memset(scratch, 0, sizeof(scratch));
	r[0] = (struct para_mmu_req){ (uint32_t)&scratch[0], ok_val, PARA_NO_LIN };
	check_err("mmu-n-513", hc_mmu_update(r, PARA_MMU_BATCH_MAX + 1, &done), PARA_EINVAL);
	check_err("mmu-reqs-at-mem-size", hc_mmu_update((const void *)mem, 1, &done), PARA_EFAULT);
	check_err("mmu-reqs-at-4g-4k", hc_mmu_update((const void *)0xfffff000u, 1, &done), PARA_EFAULT);
	check_eq("mmu-refused-not-written", scratch[0], 0);

	done = 0xdeadbeef;
	r[0] = (struct para_mmu_req){ mem, ok_val, PARA_NO_LIN };
	check_err("mmu-ptr-at-mem-size", hc_mmu_update(r, 1, &done), PARA_EINVAL);
	check_eq("mmu-ptr-at-mem-size-done", done, 0);
	r[0] = (struct para_mmu_req){ 0xfffffffcu, ok_val, PARA_NO_LIN };
	check_err("mmu-ptr-at-4g", hc_mmu_update(r, 1, &done), PARA_EINVAL);
	r[0] = (struct para_mmu_req){ (uint32_t)&scratch[0] + 2, ok_val, PARA_NO_LIN };
	check_err("mmu-ptr-unaligned", hc_mmu_update(r, 1, &done), PARA_EINVAL);
	check(scratch[0] == 0 && scratch[1] == 0, "mmu-ptr-unaligned-not-written");
	r[0] = (struct para_mmu_req){ (uint32_t)&scratch[0], mem | PTE_P, PARA_NO_LIN };
	check_err("mmu-val-frame-at-mem-size", hc_mmu_update(r, 1, &done), PARA_EFAULT);
	r[0] = (struct para_mmu_req){ (uint32_t)&scratch[0], 0xfffff000u | PTE_P | PTE_W, PARA_NO_LIN };
	check_err("mmu-val-frame-at-4g-4k", hc_mmu_update(r, 1, &done), PARA_EFAULT);
	check_eq("mmu-refused-vals-not-written", scratch[0], 0);
	/* What is allowed: a non-present entry whatever its other bits, the start-info
	 * page read-only. */
	r[0] = (struct para_mmu_req){ (uint32_t)&scratch[0], 0xfffff000u, PARA_NO_LIN };
	done = 0;
	check_eq("mmu-nonpresent-any-frame", hc_mmu_update(r, 1, &done), 0);
	check(done == 1 && scratch[0] == 0xfffff000u, "mmu-nonpresent-written");
	r[0] = (struct para_mmu_req){ (uint32_t)&scratch[0], start->start_info | PTE_P, PARA_NO_LIN };
	check_eq("mmu-val-start-info-readonly", hc_mmu_update(r, 1, 0), 0);
	check_eq("mmu-done-null-written", scratch[0], start->start_info | PTE_P);

	/* A batch refused half way: those before stay applied, done says how many. */
	memset(scratch, 0, sizeof(scratch));
	r[0] = (struct para_mmu_req){ (uint32_t)&scratch[0], ok_val, PARA_NO_LIN };
	r[1] = (struct para_mmu_req){ (uint32_t)&scratch[1], ok_val, PARA_NO_LIN };
	r[2] = (struct para_mmu_req){ (uint32_t)&scratch[2] + 1, ok_val, PARA_NO_LIN };
	r[3] = (struct para_mmu_req){ (uint32_t)&scratch[3], ok_val, PARA_NO_LIN };
	done = 0xdeadbeef;
	check_err("mmu-batch-bad-ptr", hc_mmu_update(r, 4, &done), PARA_EINVAL);
	check_eq("mmu-batch-bad-ptr-done", done, 2);
	check(scratch[0] == ok_val && scratch[1] == ok_val && scratch[3] == 0, "mmu-batch-bad-ptr-applied");
	memset(scratch, 0, sizeof(scratch));
	r[1] = (struct para_mmu_req){ (uint32_t)&scratch[1], mem | PTE_P, PARA_NO_LIN };
	r[2] = (struct para_mmu_req){ (uint32_t)&scratch[2], ok_val, PARA_NO_LIN };
	done = 0xdeadbeef;
	check_err("mmu-batch-bad-val", hc_mmu_update(r, 4, &done), PARA_EFAULT);
	check_eq("mmu-batch-bad-val-done", done, 1);
	check(scratch[0] == ok_val && scratch[1] == 0 && scratch[2] == 0, "mmu-batch-bad-val-applied");

	/* The start-info page is read-only to the guest (section 3): not through
	 * mmu_update either. The document names no error for it: any refusal passes. */
	uint32_t before = *(volatile uint32_t *)(start->start_info + 28);
	r[0] = (struct para_mmu_req){ start->start_info + 28, 0x0badf00d, PARA_NO_LIN };
	int32_t e = hc_mmu_update(r, 1, &done);
	if (e < 0 && *(volatile uint32_t *)(start->start_info + 28) == before)
		pass("mmu-ptr-start-info-refused");
	else
		fail("mmu-ptr-start-info-refused", "returned %d, reserved word %08x", e,
		     *(volatile uint32_t *)(start->start_info + 28));
}

static void test_rings(void)
{
	uint32_t ndev = start->ndev;
	check_err("ring-setup-dev-ndev", hc_ring_setup(ndev, (uint32_t)scratch, 0), PARA_EINVAL);
	check_err("ring-setup-dev-8", hc_ring_setup(PARA_DEV_MAX, (uint32_t)scratch, 0), PARA_EINVAL);
	check_err("ring-setup-dev-max", hc_ring_setup(0xffffffffu, (uint32_t)scratch, 0), PARA_EINVAL);
	check_err("ring-notify-dev-ndev", hc_ring_notify(ndev), PARA_EINVAL);
	check_err("ring-notify-dev-max", hc_ring_notify(0xffffffffu), PARA_EINVAL);
}

/* set_pt's row names no error; section 4's rule for an address outside RAM is EFAULT.
 * EINVAL is accepted too, and reported. Paging must stay off. */
static void check_set_pt_refused(const char *name, uint32_t pd)
{
	int32_t e = hc_set_pt(pd);
	if (e == -PARA_EFAULT)
		pass(name);
	else if (e == -PARA_EINVAL)
		printf("PASS %s (EINVAL, not EFAULT)\n", name);
	else
		fail(name, "returned %d want %d (or %d)", e, -PARA_EFAULT, -PARA_EINVAL);
}

/* multicall: its limits, a bad list, a multicall inside one, results stored per entry. */
static void test_multicall(void)
{
	static struct para_multi m[3];
	static const char hi[] = "multi\n";
	check_err("multicall-n-33", hcall(PARA_MULTICALL, (uint32_t)m, 33, 0, 0), PARA_EINVAL);
	check_err("multicall-list-outside-ram", hcall(PARA_MULTICALL, mem, 1, 0, 0), PARA_EFAULT);
	m[0] = (struct para_multi){ PARA_CONSOLE_WRITE, { (uint32_t)hi, sizeof(hi) - 1, 0, 0 }, 99 };
	m[1] = (struct para_multi){ PARA_MULTICALL, { (uint32_t)m, 1, 0, 0 }, 99 };
	m[2] = (struct para_multi){ 0xdead, { 0, 0, 0, 0 }, 99 };
	check_eq("multicall", hcall(PARA_MULTICALL, (uint32_t)m, 3, 0, 0), 0);
	check_eq("multicall-result-0", m[0].result, sizeof(hi) - 1);
	check_err("multicall-nested", m[1].result, PARA_EINVAL);
	check_err("multicall-unknown", m[2].result, PARA_ENOSYS);
	check_eq("multicall-n-0", hcall(PARA_MULTICALL, 0, 0, 0, 0), 0);
}

static void test_set_pt(void)
{
	check_set_pt_refused("set-pt-at-mem-size", mem);
	check_set_pt_refused("set-pt-at-4g-4k", 0xfffff000u);
	check_eq("set-pt-refused-paging-off", smsw() & 0x80000000u, 0);
}

/* With paging on: linear addresses that map nothing are EFAULT. */
static void test_unmapped(void)
{
	pt_identity();
	int32_t e = hc_set_pt((uint32_t)pt_pd);
	if (e != 0) {
		fail("paging-on", "set_pt returned %d", e);
		return;
	}
	pass("paging-on");
	uint32_t hole = 0x00800000;     /* in RAM, left unmapped by pt_identity */
	check_err("console-buf-unmapped", hc_console_write((const void *)hole, 16), PARA_EFAULT);
	check_err("console-buf-page-zero", hc_console_write((const void *)0, 16), PARA_EFAULT);
	check_err("console-buf-crosses-into-unmapped", hc_console_write((const void *)(0x400000 - 8), 16),
		  PARA_EFAULT);
	check_err("trap-table-unmapped", hc_set_trap_table((const void *)hole, 1), PARA_EFAULT);
	check_err("mmu-reqs-unmapped", hc_mmu_update((const void *)hole, 1, 0), PARA_EFAULT);
	check(ud_handled(), "trap-table-kept-paging");

	/* A 4 MiB page whose frame starts outside RAM (in the live page directory: only
	 * there is bit 7 PS). */
	struct para_mmu_req r = { (uint32_t)&pt_pd[0x200],
				  ((mem + 0x3fffff) & ~0x3fffffu) | PTE_P | PTE_PS, PARA_NO_LIN };
	check_err("mmu-4m-frame-outside-ram", hc_mmu_update(&r, 1, 0), PARA_EFAULT);
	check_eq("mmu-4m-refused-not-written", pt_pd[0x200], 0);
}

void test_main(void)
{
	mem = start->mem_size;
	test_unknown();
	test_console();
	test_trap_table();
	test_mmu();
	test_rings();
	test_multicall();
	test_set_pt();
	test_unmapped();
	static const char msg[] = "still running\n";
	check_eq("console-write-still-works", hc_console_write(msg, sizeof(msg) - 1), sizeof(msg) - 1);
}

/*
 * gs_switch_top.c - a ring-3 GS access to a supervisor page after the kernel loaded
 * that GS with MOV GS and returned with SYSEXIT many times over (Linux's context
 * switch and system call return), and began to use a supervisor page below all it had
 * used before (SDM Vol. 3, 4.6: a CPL-3 data access to a supervisor page is #PF).
 *
 * trapeze cuts the host segments of a CPL-3 guest below the lowest supervisor page the
 * host maps (shadowmmu/mmu.h), and its in-line GS load keeps host segments made for
 * CPL 3 ready in a cache (monitor/gsload.c): when that line moves down, they must go,
 * or the in-line load and SYSEXIT hand ring 3 a GS that reaches the new supervisor page.
 * Under QEMU the check is the plain paging rule.
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

enum { S_SE_CODE = 8, S_SE_DATA, S_SE_UCODE, S_SE_UDATA, S_UTLS };
#define SE_CS     0x40
#define SEL_UTLS  (S_UTLS << 3 | 3)
#define FL_U      0x2u
#define SUP_HI    0x30000000u   /* the supervisor page the kernel uses first */
#define SUP_LO    0x20000000u   /* ... and the one it begins to use later, lower */
#define ROUNDS    200
#define TOUCH_AT  100

static uint32_t k_stack[256] __attribute__((aligned(16)));
uint32_t k_seen;

/* The kernel's side of call n: it uses the lower supervisor page once; GS is the
 * user's TLS segment (flat, base 0) again, as a context switch would load it. */
uint32_t k_body(uint32_t n)
{
	if (n == TOUCH_AT)
		k_seen = pg_rd(SUP_LO + 0x10);
	return SEL_UTLS;
}

extern char k_entry[];
__asm__(".text\n"
	"k_entry:\n\t"
	"pushl %ecx\n\t"
	"pushl %edx\n\t"
	"pushl %eax\n\t"
	"call k_body\n\t"
	"addl $4, %esp\n\t"
	"movl %eax, %gs\n\t"
	"popl %edx\n\t"
	"popl %ecx\n\t"
	"sysexit\n");

static inline void sys(uint32_t n)
{
	__asm__ volatile("movl %%esp, %%ecx\n\t"
			 "movl $1f, %%edx\n\t"
			 "sysenter\n"
			 "1:"
			 : "+a"(n) :: "ecx", "edx", "memory", "cc");
}

/* Ring 3: the calls, then a read of the supervisor page through GS. */
static uint32_t u_calls_then_read(uint32_t rounds)
{
	for (uint32_t n = 1; n <= rounds; n++)
		sys(n);
	uint32_t v;
	__asm__ volatile("movl %%gs:(%1), %0" : "=r"(v) : "r"(SUP_LO + 0x10) : "memory");
	return v;
}

void test_main(void)
{
	guest_init();
	pg_init();
	ring_init();
	gdt_set(S_SE_CODE, 0, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(S_SE_DATA, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_SE_UCODE, 0, 0xfffff, 0xfb, GRAN_4K32);
	gdt_set(S_SE_UDATA, 0, 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(S_UTLS, 0, 0xfffff, 0xf3, GRAN_4K32);
	wrmsr(MSR_SYSENTER_CS, SE_CS);
	wrmsr(MSR_SYSENTER_ESP, (uint32_t)k_stack + sizeof(k_stack));
	wrmsr(MSR_SYSENTER_EIP, (uint32_t)k_entry);

	pte_t *kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W | PG_U);
	uint32_t *hi = pg_alloc(), *lo = pg_alloc();
	for (int i = 0; i < 1024; i++) {
		hi[i] = 0x41000000u + (uint32_t)i;
		lo[i] = 0x10000000u + (uint32_t)i;
	}
	pg_map(kpd, SUP_HI, (uint32_t)hi, PG_P | PG_W);         /* supervisor */
	pg_map(kpd, SUP_LO, (uint32_t)lo, PG_P | PG_W);
	pg_on(kpd);
	check_eq("kernel-reads-high-supervisor-page", pg_rd(SUP_HI), 0x41000000);
	PF_EXPECT("user-gs-read-lower-supervisor-page", PF_P | PF_U, SUP_LO + 0x10, 0,
		  user_run((uint32_t)u_calls_then_read, ROUNDS, FL_U));
	check_eq("kernel-read-lower-supervisor-page", k_seen, 0x10000004);
	pg_off();
}

/*
 * sysenter_loop.c - many SYSENTER/SYSEXIT round trips in a row, the way Linux makes
 * system calls (SDM Vol. 2B, SYSENTER and SYSEXIT): trapeze runs these in translated
 * code once the monitor has prepared them (monitor/kentry.c), so this checks what the
 * in-line transitions must keep exact, under changes the monitor must notice.
 *
 * Ring 3 runs a loop of SYSENTERs (EDX:ECX = its return point and ESP); the ring-0
 * entry, like Linux's, pushes the user's FS, loads its per-CPU FS, calls a C body,
 * pops FS and returns with SYSEXIT. Ring 3 keeps FS and GS on data segments of its
 * own (bases the checks can tell apart) and after each call checks the result, its
 * FS and GS (through fs: and gs: reads), CS, SS and ESP; ring 0 checks CS, SS, ESP,
 * IF, its per-CPU FS. Along the loop ring 0 changes what a prepared transition would
 * have to notice: the user's FS (left changed), IA32_SYSENTER_EIP, IA32_SYSENTER_ESP,
 * and once it returns without popping FS (SYSEXIT leaves data segments alone, so ring
 * 3 sees the per-CPU segment).
 * Last, privileged instructions at CPL 3 after warm round trips must still be #GP.
 */
#include "guest.h"
#include "ring.h"

#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

/* GDT: SYSENTER's four (as sysenter.c), then the user's FS (two bases), its GS and
 * the kernel's per-CPU segment. */
enum { S_SE_CODE = 8, S_SE_DATA, S_SE_UCODE, S_SE_UDATA, S_UFS_A, S_UFS_B, S_UGS, S_KPCPU };
#define SE_CS     0x40
#define SE_SS     0x48
#define SE_UCS_3  0x53         /* SYSEXIT's CS: SYSENTER_CS + 16, RPL 3 */
#define SE_USS    0x5b         /* ... and SS: + 24 */
#define SEL_UFS_A (S_UFS_A << 3 | 3)
#define SEL_UFS_B (S_UFS_B << 3 | 3)
#define SEL_UGS   (S_UGS << 3 | 3)
#define SEL_KPCPU (S_KPCPU << 3)
#define FL_U      0x2u

#define ROUNDS        300
#define CHANGE_FS_AT  100       /* ring 0 leaves the user's FS on its B segment */
#define CHANGE_EIP_AT 150       /* ... moves SYSENTER_EIP to the second entry */
#define CHANGE_ESP_AT 200       /* ... moves SYSENTER_ESP to the second stack */
#define KEEP_PCPU_AT  250       /* ... returns with its per-CPU FS still loaded */

static uint8_t k_stack_a[1024] __attribute__((aligned(16)));
static uint8_t k_stack_b[1024] __attribute__((aligned(16)));
#define KTOP_A ((uint32_t)k_stack_a + sizeof(k_stack_a))
#define KTOP_B ((uint32_t)k_stack_b + sizeof(k_stack_b))

uint32_t box_fs_a = 0xf5a0f5a0, box_fs_b = 0xf5b0f5b0, box_gs = 0x65650001;
uint32_t box_pcpu = 0xc0c0c0c0;

uint32_t k_keep_fs;

struct kseen {
	uint32_t calls, entry2, bad_cs, bad_ss, bad_esp, bad_if, bad_pcpu;
} kseen;

/* The ring-0 entries: the frame is [FS, EDX, ECX] above the argument. */
extern char k_entry[], k_entry2[];
__asm__(".text\n"
	"k_entry2:\n\t"
	"incl kseen+4\n"
	"k_entry:\n\t"
	"pushl %ecx\n\t"
	"pushl %edx\n\t"
	"pushl %fs\n\t"
	"movl $0x78, %ecx\n\t"          /* SEL_KPCPU */
	"movl %ecx, %fs\n\t"
	"pushl %esp\n\t"
	"pushl %eax\n\t"
	"call k_body\n\t"
	"addl $8, %esp\n\t"
	"cmpl $0, k_keep_fs\n\t"
	"jne 1f\n\t"
	"popl %fs\n\t"
	"jmp 2f\n"
	"1:\n\t"
	"addl $4, %esp\n"
	"2:\n\t"
	"popl %edx\n\t"
	"popl %ecx\n\t"
	"sysexit\n");

static uint32_t rd_fs0(void)
{
	uint32_t v;
	__asm__ volatile("movl %%fs:0, %0" : "=r"(v));
	return v;
}

static uint32_t rd_gs0(void)
{
	uint32_t v;
	__asm__ volatile("movl %%gs:0, %0" : "=r"(v));
	return v;
}

/* What ring 0 does with call n; frame[0] is the user's FS as pushed, then EDX, ECX. */
uint32_t k_body(uint32_t n, uint32_t *frame)
{
	uint32_t fl, esp_top = n > CHANGE_ESP_AT ? KTOP_B : KTOP_A;
	kseen.calls++;
	__asm__ volatile("pushfl; popl %0" : "=r"(fl));
	kseen.bad_cs += (RSEG(cs) != SE_CS);
	kseen.bad_ss += (RSEG(ss) != SE_SS);
	kseen.bad_if += (fl & EFL_IF) != 0;
	kseen.bad_esp += ((uint32_t)frame + 12 != esp_top);
	kseen.bad_pcpu += rd_fs0() != box_pcpu;
	if (n == CHANGE_FS_AT)
		frame[0] = SEL_UFS_B;
	if (n == CHANGE_EIP_AT)
		wrmsr(MSR_SYSENTER_EIP, (uint32_t)k_entry2);
	if (n == CHANGE_ESP_AT)
		wrmsr(MSR_SYSENTER_ESP, KTOP_B);
	k_keep_fs = n == KEEP_PCPU_AT;
	return n * 3 + 1;
}

static inline uint32_t sys(uint32_t n)
{
	uint32_t r;
	__asm__ volatile("movl %%esp, %%ecx\n\t"
			 "movl $1f, %%edx\n\t"
			 "sysenter\n"
			 "1:"
			 : "=a"(r) : "a"(n) : "ecx", "edx", "memory", "cc");
	return r;
}

struct useen {
	uint32_t bad_ret, bad_fs, bad_gs, bad_cs, bad_ss, bad_esp, rounds;
} useen;

/* Ring 3: the loop. */
static uint32_t u_loop(uint32_t rounds)
{
	__asm__ volatile("movl %0, %%fs; movl %1, %%gs" :: "r"(SEL_UFS_A), "r"(SEL_UGS));
	for (uint32_t n = 1; n <= rounds; n++) {
		uint32_t esp0, esp1;
		__asm__ volatile("movl %%esp, %0" : "=r"(esp0));
		uint32_t r = sys(n);
		__asm__ volatile("movl %%esp, %0" : "=r"(esp1));
		useen.bad_ret += r != n * 3 + 1;
		if (n == KEEP_PCPU_AT) {
			useen.bad_fs += rd_fs0() != box_pcpu || RSEG(fs) != SEL_KPCPU;
			__asm__ volatile("movl %0, %%fs" :: "r"(SEL_UFS_B));
		} else
			useen.bad_fs += rd_fs0() != (n >= CHANGE_FS_AT ? box_fs_b : box_fs_a);
		useen.bad_gs += rd_gs0() != box_gs;
		useen.bad_cs += RSEG(cs) != SE_UCS_3;
		useen.bad_ss += RSEG(ss) != SE_USS;
		useen.bad_esp += esp0 != esp1;
		useen.rounds++;
	}
	return 0x600d;
}

/* Two warm round trips, then a privileged instruction that must be #GP at CPL 3. */
#define WARM "xorl %eax, %eax; movl %esp, %ecx; movl $1f, %edx; sysenter; 1: " \
	     "xorl %eax, %eax; movl %esp, %ecx; movl $2f, %edx; sysenter; 2: "
USER_INSN(mov_cr0, WARM, "movl %eax, %cr0");
USER_INSN(clts, WARM, "clts");
USER_INSN(wrmsr, WARM, "wrmsr");
USER_INSN(lgdt, WARM, "lgdt (%esp)");
USER_INSN(sysexit3, WARM, "sysexit");

void test_main(void)
{
	guest_init();
	ring_init();
	gdt_set(S_SE_CODE, 0, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(S_SE_DATA, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_SE_UCODE, 0, 0xfffff, 0xfb, GRAN_4K32);
	gdt_set(S_SE_UDATA, 0, 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(S_UFS_A, (uint32_t)&box_fs_a, 3, 0xf3, 0x4);
	gdt_set(S_UFS_B, (uint32_t)&box_fs_b, 3, 0xf3, 0x4);
	gdt_set(S_UGS, (uint32_t)&box_gs, 3, 0xf3, 0x4);
	gdt_set(S_KPCPU, (uint32_t)&box_pcpu, 3, ACC_DATA, 0x4);
	wrmsr(MSR_SYSENTER_CS, SE_CS);
	wrmsr(MSR_SYSENTER_ESP, KTOP_A);
	wrmsr(MSR_SYSENTER_EIP, (uint32_t)k_entry);

	volatile uint32_t r = 0;
	int v = EXC(r = user_run((uint32_t)u_loop, ROUNDS, FL_U));
	check_eq("loop-no-fault", v, -1);
	check_eq("loop-returns", r, 0x600d);
	check_eq("loop-rounds", useen.rounds, ROUNDS);
	check_eq("ring0-calls", kseen.calls, ROUNDS);
	check_eq("ring0-second-entry-after-msr-write", kseen.entry2, ROUNDS - CHANGE_EIP_AT);
	check_eq("ring0-cs", kseen.bad_cs, 0);
	check_eq("ring0-ss", kseen.bad_ss, 0);
	check_eq("ring0-esp-from-msr", kseen.bad_esp, 0);
	check_eq("ring0-if-clear", kseen.bad_if, 0);
	check_eq("ring0-percpu-fs", kseen.bad_pcpu, 0);
	check_eq("ring3-result", useen.bad_ret, 0);
	check_eq("ring3-fs-follows-ring0", useen.bad_fs, 0);
	check_eq("ring3-gs", useen.bad_gs, 0);
	check_eq("ring3-cs", useen.bad_cs, 0);
	check_eq("ring3-ss", useen.bad_ss, 0);
	check_eq("ring3-esp-from-ecx", useen.bad_esp, 0);

	wrmsr(MSR_SYSENTER_EIP, (uint32_t)k_entry);
	wrmsr(MSR_SYSENTER_ESP, KTOP_A);
	user_expect_cs("warm-mov-cr0-gp", u_mov_cr0, FL_U, 13, 0, u_mov_cr0_at, SE_UCS_3);
	user_expect_cs("warm-clts-gp", u_clts, FL_U, 13, 0, u_clts_at, SE_UCS_3);
	user_expect_cs("warm-wrmsr-gp", u_wrmsr, FL_U, 13, 0, u_wrmsr_at, SE_UCS_3);
	user_expect_cs("warm-lgdt-gp", u_lgdt, FL_U, 13, 0, u_lgdt_at, SE_UCS_3);
	user_expect_cs("warm-sysexit-gp", u_sysexit3, FL_U, 13, 0, u_sysexit3_at, SE_UCS_3);
}

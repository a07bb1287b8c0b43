/*
 * gs_switch.c - GS loaded the way Linux's context switch loads it (SDM Vol. 2, MOV and
 * POP to a segment register; Vol. 3, 3.4.5 and 5.5): the same selector again and again
 * with another descriptor each time (the kernel rewrites the task's TLS entry in the
 * GDT just before), several selectors in turn, and null. trapeze runs such loads in
 * translated code from a small cache of recent values (monitor/gsload.c,
 * rewriter/mangle_state.c emit_gs_load), so this checks what a cached load must still
 * get right: gs: reads and the selector read back, the accessed bit a load sets, the
 * exceptions of a not-present, a null-then-used, a DPL-refused and an out-of-limit
 * selector after warm loads of the same selector, and, with ring 3 entered through
 * SYSEXIT right after the load (as Linux returns to the next task), that the user sees
 * the GS the kernel loaded, a flat one (gs:-4 below its base) and a limited one
 * (gs:-4 faults) in turn. expect-stat.sh checks that the loads and the SYSEXITs ran
 * in line.
 */
#include "guest.h"
#include "ring.h"

#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

/* GDT: ring.h's 0-6; 7 the kernel-side test's "TLS" slot; 8-11 SYSENTER's four (as
 * sysenter_loop.c); 12 the user's TLS slot, 13 a limited user segment; 14, 15 two
 * other selectors. */
enum { S_T = 7, S_SE_CODE, S_SE_DATA, S_SE_UCODE, S_SE_UDATA, S_UTLS, S_USMALL, S_B, S_C };
#define SEL_T      (S_T << 3)
#define SEL_B      (S_B << 3)
#define SEL_C      (S_C << 3)
#define SE_CS      0x40
#define SEL_UTLS   (S_UTLS << 3 | 3)
#define SEL_USMALL (S_USMALL << 3 | 3)
#define FL_U       0x2u
#define ACC_DATA_NA 0x92        /* present, DPL 0, read/write, not accessed */
#define ACC_NP      0x13        /* not present */
#define ACC_DATA3   0xf3        /* DPL 3 */

#define ROUNDS 600

/* Each "task" has a word below its TLS base and one at it. */
struct tls { uint32_t below, at; };
static struct tls tls[3] = { { 0xb0000000, 0xa0000000 }, { 0xb1111111, 0xa1111111 },
			     { 0xb2222222, 0xa2222222 } };
static uint32_t box_b = 0xbbbb000b, box_c = 0xcccc000c, box_small = 0x5a5a0003;
static volatile uint16_t sel_mem;

static uint32_t gs_read0(void)
{
	uint32_t v;
	__asm__ volatile("movl %%gs:0, %0" : "=r"(v) :: "memory");
	return v;
}

static uint16_t gs_sel(void)
{
	uint32_t v;
	__asm__ volatile("movl %%gs, %0" : "=r"(v));
	return (uint16_t)v;
}

static void gs_load_reg(uint16_t s) { __asm__ volatile("movw %0, %%gs" :: "r"(s) : "memory"); }

static void gs_load_mem(uint16_t s)
{
	sel_mem = s;
	__asm__ volatile("movw %0, %%gs" :: "m"(sel_mem) : "memory");
}

static void gs_load_pop(uint16_t s)
{
	__asm__ volatile("pushl %0\n\tpopl %%gs" :: "r"((uint32_t)s) : "memory");
}

/* The kernel's load_TLS: task p's descriptor into the TLS slot. */
static void set_task(int idx, int p, uint8_t access)
{
	gdt_set(idx, (uint32_t)&tls[p].at, 0xfffff, access, GRAN_4K32);
}

static int accessed(int idx) { return (gdt[idx] >> 40) & 1; }

/* Part 1, at CPL 0: the same selector with three descriptors and another selector,
 * then with two and another selector and null, through each form of the load (four
 * values at a time: trapeze keeps four). */
static void switches(void)
{
	uint32_t bad = 0, bad_sel = 0, bad_other = 0;
	for (int i = 0; i < ROUNDS; i++) {
		int p = i < ROUNDS / 2 ? i % 3 : i % 2;
		set_task(S_T, p, ACC_DATA);
		if (i % 3 == 0)
			gs_load_reg(SEL_T);
		else if (i % 3 == 1)
			gs_load_pop(SEL_T);
		else
			gs_load_mem(SEL_T);
		bad += gs_read0() != tls[p].at;
		bad_sel += gs_sel() != SEL_T;
		if (i < ROUNDS / 2) {
			gs_load_reg(SEL_B);
			bad_other += gs_read0() != box_b || gs_sel() != SEL_B;
		} else if (i % 4 < 2) {
			gs_load_pop(SEL_C);
			bad_other += gs_read0() != box_c || gs_sel() != SEL_C;
		} else {
			gs_load_reg(0);
			bad_other += gs_sel() != 0;
		}
	}
	check_eq("gs-same-selector-other-descriptor-reads", bad, 0);
	check_eq("gs-same-selector-selector", bad_sel, 0);
	check_eq("gs-other-selectors-and-null", bad_other, 0);
}

/* Part 2: after warm loads of the same selector, descriptors a load must not take as
 * they were. */
static void rules(void)
{
	/* The accessed bit: the same descriptor with A clear must get it set again. */
	uint32_t bad = 0;
	for (int i = 0; i < 200; i++) {
		set_task(S_T, i % 2, ACC_DATA_NA);
		gs_load_reg(SEL_T);
		bad += !accessed(S_T) || gs_read0() != tls[i % 2].at;
	}
	check_eq("gs-load-sets-accessed", bad, 0);
	/* Not present: #NP(selector), GS unchanged. */
	for (int i = 0; i < 50; i++) {
		set_task(S_T, 0, ACC_DATA);
		gs_load_reg(SEL_T);
	}
	gs_load_reg(SEL_B);
	set_task(S_T, 0, ACC_NP);
	EXPECT_EXC("gs-not-present-np", 11, SEL_T, gs_load_reg(SEL_T));
	check_eq("gs-not-present-keeps-gs", gs_read0(), box_b);
	set_task(S_T, 0, ACC_NP);
	EXPECT_EXC("gs-not-present-pop-np", 11, SEL_T, gs_load_pop(SEL_T));
	/* RPL 3 to a DPL-0 segment at CPL 0: #GP(selector), after warm loads of that
	 * selector while its descriptor had DPL 3. */
	for (int i = 0; i < 50; i++) {
		set_task(S_T, 1, ACC_DATA3);
		gs_load_reg(SEL_T | 3);
	}
	check_eq("gs-rpl3-dpl3-reads", gs_read0(), tls[1].at);
	gs_load_reg(SEL_B);
	set_task(S_T, 1, ACC_DATA);
	EXPECT_EXC("gs-rpl-above-dpl-gp", 13, SEL_T, gs_load_reg(SEL_T | 3));
	check_eq("gs-rpl-refused-keeps-gs", gs_read0(), box_b);
	/* A null selector loads; a gs: access through it is #GP(0) (SDM Vol. 3, 5.4.1;
	 * QEMU 7.2 TCG lets it through). */
	for (int i = 0; i < 50; i++) {
		gs_load_reg(0);
		gs_load_reg(SEL_B);
	}
	gs_load_pop(0);
	check_eq("gs-null-selector", gs_sel(), 0);
	if (under_qemu()) {
		printf("SKIP gs-null-access-gp qemu-does-not-check-null-data-segments\n");
	} else {
		int v = EXC((void)gs_read0());
		check_eq("gs-null-access-gp", (uint32_t)v, 13);
	}
	/* A GDT that shrank below the slot: #GP(selector). */
	set_task(S_T, 2, ACC_DATA);
	for (int i = 0; i < 50; i++)
		gs_load_reg(SEL_T);
	gs_load_reg(SEL_B);
	gdt_load(S_T);
	EXPECT_EXC("gs-beyond-gdt-limit-gp", 13, SEL_T, gs_load_reg(SEL_T));
	gdt_load(GDT_ENTRIES);
	gs_load_reg(SEL_T);
	check_eq("gs-after-gdt-restored", gs_read0(), tls[2].at);
}

/* Part 3: ring 3 through SYSENTER and SYSEXIT; the kernel switches "tasks" on each
 * call. In the first half task n % 3 is the TLS of task 0-2 (flat, its descriptor
 * rewritten into S_UTLS), as between Linux's processes; in the second half n % 4 is
 * that of task 0 or 1, 2 the limited segment, 3 null (GS flat and not in turn: the
 * user's mode word changes). */
static uint32_t task_of(uint32_t n)
{
	if (n <= ROUNDS / 2)
		return n % 3;
	return n % 4 == 2 ? 3 : n % 4 == 3 ? 4 : n % 4;
}

uint32_t k_ret;
static uint32_t k_stack[256] __attribute__((aligned(16)));

uint32_t k_switch(uint32_t n)
{
	uint32_t t = task_of(n);
	k_ret = n * 7 + 1;
	if (t < 3) {
		gdt_set(S_UTLS, (uint32_t)&tls[t].at, 0xfffff, ACC_DATA3, GRAN_4K32);
		return SEL_UTLS;
	}
	return t == 3 ? SEL_USMALL : 0;
}

extern char k_entry[];
__asm__(".text\n"
	"k_entry:\n\t"
	"pushl %ecx\n\t"
	"pushl %edx\n\t"
	"pushl %eax\n\t"
	"call k_switch\n\t"
	"addl $4, %esp\n\t"
	"movl %eax, %gs\n\t"            /* Linux's loadsegment(gs, next->gs) */
	"movl k_ret, %eax\n\t"
	"popl %edx\n\t"
	"popl %ecx\n\t"
	"sysexit\n");

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
	uint32_t bad_ret, bad_sel, bad_at, bad_below, wrap_faults, rounds;
} useen;

/* gs:-4 (i386 TLS reaches below its base so) in the ModRM form trapeze runs through DS
 * under MODE_GS_LIN (not EAX's moffs form); a #GP there resumes at u_wrap_done. */
extern char u_wrap_read[], u_wrap_done[];
static __attribute__((noinline)) uint32_t u_gs_below(void)
{
	uint32_t v = 0xdead;
	__asm__ volatile(ASM_LABEL(u_wrap_read) "movl %%gs:0xfffffffc, %0\n"
			 ASM_LABEL(u_wrap_done) : "+d"(v) :: "memory");
	return v;
}

static void wrap_gp_hook(struct frame *f)
{
	if (f->eip == (uint32_t)u_wrap_read) {
		f->eip = (uint32_t)u_wrap_done;
		useen.wrap_faults++;
	}
}

/* The same code reads gs:-4 in every round, so that its translations are warm and
 * chained when GS stops being flat: a null or limited GS must fault there (SDM Vol. 3,
 * 5.3 and 5.4.1), whatever ran before. */
static uint32_t u_loop(uint32_t rounds)
{
	for (uint32_t n = 1; n <= rounds; n++) {
		uint32_t t = task_of(n);        /* before: no branch between here and there */
		uint32_t r = sys(n);
		uint32_t below = u_gs_below();
		useen.bad_ret += r != n * 7 + 1;
		if (t < 3) {
			useen.bad_sel += RSEG(gs) != SEL_UTLS;
			useen.bad_at += gs_read0() != tls[t].at;
			useen.bad_below += below != tls[t].below;
		} else if (t == 3) {
			useen.bad_sel += RSEG(gs) != SEL_USMALL;
			useen.bad_at += gs_read0() != box_small;
		} else {
			useen.bad_sel += RSEG(gs) != 0;
		}
		useen.rounds++;
	}
	return 0x600d;
}

static void user_switches(void)
{
	ring_init();
	gdt_set(S_SE_CODE, 0, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(S_SE_DATA, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_SE_UCODE, 0, 0xfffff, 0xfb, GRAN_4K32);
	gdt_set(S_SE_UDATA, 0, 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(S_USMALL, (uint32_t)&box_small, 3, ACC_DATA3, 0x4);
	wrmsr(MSR_SYSENTER_CS, SE_CS);
	wrmsr(MSR_SYSENTER_ESP, (uint32_t)k_stack + sizeof(k_stack));
	wrmsr(MSR_SYSENTER_EIP, (uint32_t)k_entry);
	exc_set_hook(13, wrap_gp_hook);
	volatile uint32_t r = 0;
	(void)EXC(r = user_run((uint32_t)u_loop, ROUNDS, FL_U));
	exc_set_hook(13, NULL);
	check_eq("user-loop-returns", r, 0x600d);
	check_eq("user-loop-rounds", useen.rounds, ROUNDS);
	check_eq("user-results", useen.bad_ret, 0);
	check_eq("user-sees-kernel-gs-selector", useen.bad_sel, 0);
	check_eq("user-sees-kernel-gs-base", useen.bad_at, 0);
	check_eq("user-tls-below-base", useen.bad_below, 0);
	/* QEMU 7.2 TCG checks neither data segment limits nor null data segments. */
	check_eq_sdm("user-limited-or-null-gs-wrap-faults", useen.wrap_faults, ROUNDS / 4,
		     "qemu-does-not-check-segment-limits");
}

/* Part 3b: the selector read from where trapeze's host maps no RAM (the lowest
 * 64 KiB: a boot loader's stack), after warm loads of the values: as a callout. */
static void low_memory(void)
{
	for (int i = 0; i < 20; i++) {
		gs_load_reg(0);
		gs_load_reg(SEL_B);
	}
	uint32_t r;
	__asm__ volatile("movl %%esp, %%edx\n\tmovl $0x9000, %%esp\n\tpushl $0\n\t"
			 "popl %%gs\n\tmovl %%edx, %%esp\n\tmovl %%gs, %0"
			 : "=r"(r) :: "edx", "memory");
	check_eq("gs-pop-from-low-stack", r & 0xffff, 0);
	*(volatile uint16_t *)0x9000 = SEL_B;
	__asm__ volatile("movw 0x9000, %%gs" ::: "memory");
	check_eq("gs-mov-from-low-memory", gs_read0(), box_b);
}

/* Part 4: more distinct segments than trapeze's host LDT pool holds (8189), loaded
 * into FS, so the pool is reset and its entries reused while GS values loaded before
 * are remembered: a GS load after it must not bring back a host selector that now
 * shadows another segment. */
#define POOL_LOADS 8600
static uint8_t pool_buf[POOL_LOADS + 16];

static void pool_reset(void)
{
	set_task(S_T, 0, ACC_DATA);
	for (int i = 0; i < 20; i++) {
		gs_load_reg(SEL_T);
		gs_load_reg(SEL_B);
	}
	for (uint32_t k = 0; k < POOL_LOADS; k++) {
		gdt_set(S_C, (uint32_t)&pool_buf[k], 0xffff, ACC_DATA, GRAN_BYTE32);
		__asm__ volatile("movw %w0, %%fs" :: "r"(SEL_C) : "memory");
	}
	__asm__ volatile("movw %w0, %%fs" :: "r"(SEL_DATA) : "memory");
	gs_load_reg(SEL_T);
	check_eq("gs-after-pool-reset", gs_read0(), tls[0].at);
	gs_load_reg(SEL_B);
	check_eq("gs-other-after-pool-reset", gs_read0(), box_b);
}

void test_main(void)
{
	guest_init();
	gdt_set(S_B, (uint32_t)&box_b, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_C, (uint32_t)&box_c, 3, ACC_DATA, 0x4);
	idt_init();
	switches();
	rules();
	low_memory();
	pool_reset();
	user_switches();
}

/*
 * debugreg.c - the debug registers (SDM Vol. 3, 18.2, 18.3): instruction breakpoints
 * (a fault before the instruction, DR6.Bn, RF clear in the frame; the handler sets RF
 * to go on, and RF holds for one instruction only), breakpoints armed on code already
 * translated and disarmed again, data breakpoints (a trap after the instruction; write
 * or read/write, lengths 1, 2, 4 and 8 with the address's low bits ignored; neighbours
 * on the same page do not trigger; a REP string instruction traps after the iteration
 * that met it), with paging off and on (linear addresses: an alias of the page does
 * not trigger), I/O breakpoints under CR4.DE, DR4/DR5 as aliases or #UD, general
 * detect (#DB before MOV DR with DR6.BD, GD cleared), and the bits that read as 1.
 */
#include "guest.h"
#include "paging.h"
#include "ring.h"

#define DR6_BD 0x2000u
#define DR6_BS 0x4000u
#define EFL_RF 0x10000u
#define CR4_DE 0x8u

#define SET_DR(n, v) __asm__ volatile("mov %0, %%dr" #n :: "r"((uint32_t)(v)) : "memory")
#define GET_DR(n) ({ uint32_t v_; __asm__ volatile("mov %%dr" #n ", %0" : "=r"(v_)); v_; })

/* DR7 for breakpoint n: enabled (L), R/W kind, LEN field. */
#define RW_EXEC 0u
#define RW_WRITE 1u
#define RW_IO 2u
#define RW_RW 3u
#define LEN1 0u
#define LEN2 1u
#define LEN8 2u
#define LEN4 3u
#define DR7_BP(n, rw, len) ((1u << (2 * (n))) | (rw) << (16 + 4 * (n)) | (len) << (18 + 4 * (n)))

#define TOP_PAGE 0xfffe0000u     /* in the top 8 MiB */

#define MAX_DB 16
static volatile uint32_t db_count, db_eip[MAX_DB], db_dr6[MAX_DB], db_rf[MAX_DB];
static volatile uint32_t db_ecx[MAX_DB], db_dr7_in_handler;
static volatile int db_resume;           /* set RF in the frame of a fault */

static void hook_db(struct frame *f)
{
	uint32_t dr6 = GET_DR(6);
	SET_DR(6, 0);
	if (db_count < MAX_DB) {
		db_eip[db_count] = f->eip;
		db_dr6[db_count] = dr6;
		db_rf[db_count] = f->eflags & EFL_RF;
		db_ecx[db_count] = f->ecx;
	}
	db_dr7_in_handler = GET_DR(7);
	db_count++;
	if (db_resume)
		f->eflags |= EFL_RF;
	if (db_count > 40)
		SET_DR(7, 0);   /* a runaway */
}

static void db_reset(void)
{
	db_count = 0;
	SET_DR(6, 0);
}

/* A straight line of code whose middle instruction gets a breakpoint. */
extern char x_mid[], x_after[], x_func[];
static __attribute__((noinline)) uint32_t run_line(void)
{
	uint32_t a;
	__asm__ volatile("movl $1, %0\n\t"
			 "addl $2, %0\n"
			 ASM_LABEL(x_mid) "\taddl $4, %0\n"
			 ASM_LABEL(x_after) "\taddl $8, %0\n"
			 : "=r"(a) :: "cc");
	return a;
}

__asm__(".text\n"
	ASM_LABEL(x_func)
	"\tmovl $7, %eax\n\t"
	"ret\n");
static uint32_t call_func(void)
{
	uint32_t a;
	__asm__ volatile("call x_func" : "=a"(a) :: "ecx", "edx", "memory", "cc");
	return a;
}

static void test_exec(void)
{
	exc_set_hook(1, hook_db);
	check_eq("line-before-armed", run_line(), 15);       /* translated unarmed */
	db_reset();
	db_resume = 1;
	SET_DR(0, x_mid);
	SET_DR(7, DR7_BP(0, RW_EXEC, LEN1));
	uint32_t r = run_line();
	check_eq("exec-bp-result", r, 15);
	check_eq("exec-bp-count", db_count, 1);
	check_eq("exec-bp-eip", db_eip[0], (uint32_t)x_mid);
	check_eq("exec-bp-dr6", db_dr6[0] & (0xf | DR6_BS | DR6_BD), 1);
	check_eq("exec-bp-frame-rf-clear", db_rf[0], 0);
	/* RF covered one instruction: the breakpoint fires again on the next pass. */
	run_line();
	check_eq("exec-bp-again", db_count, 2);

	/* A function's entry, reached by a call (a chained block). */
	db_reset();
	SET_DR(1, x_func);
	SET_DR(7, DR7_BP(1, RW_EXEC, LEN1));
	call_func();
	r = call_func();
	check_eq("exec-bp-func-result", r, 7);
	check_eq("exec-bp-func-count", db_count, 2);
	check(db_eip[0] == (uint32_t)x_func && db_eip[1] == (uint32_t)x_func, "exec-bp-func-eip");
	check_eq("exec-bp-func-dr6", db_dr6[0] & 0xf, 2);

	/* Disarmed: the code runs on without a trap. */
	db_reset();
	SET_DR(7, 0);
	run_line();
	call_func();
	check_eq("exec-bp-disarmed", db_count, 0);

	/* Not resumed with RF: the handler moves EIP past it instead (the classic way). */
	db_reset();
	db_resume = 0;
	SET_DR(0, x_mid);
	SET_DR(7, DR7_BP(0, RW_EXEC, LEN1));
	exc_set_hook(1, 0);
	int v = EXC(run_line());
	exc_set_hook(1, hook_db);
	SET_DR(7, 0);
	check_eq("exec-bp-is-db", v, 1);
	check_eq("exec-bp-fault-eip", exc_last.eip, (uint32_t)x_mid);
	db_resume = 1;
}

static volatile uint32_t watched[4] __attribute__((aligned(16)));
static volatile uint8_t rep_buf[32];
extern char w_store[], w_after_store[], w_load[], w_after_load[], w_rep[];

static __attribute__((noinline)) uint32_t store_at(volatile void *p, uint32_t v)
{
	__asm__ volatile(ASM_LABEL(w_store) "movl %1, (%0)\n" ASM_LABEL(w_after_store)
			 :: "r"(p), "r"(v) : "memory");
	return v;
}
static __attribute__((noinline)) uint32_t load_at(volatile void *p)
{
	uint32_t v;
	__asm__ volatile(ASM_LABEL(w_load) "movl (%1), %0\n" ASM_LABEL(w_after_load)
			 : "=r"(v) : "r"(p) : "memory");
	return v;
}

static char *join(char *buf, const char *a, const char *b)
{
	char *p = buf;
	while (*a)
		*p++ = *a++;
	while (*b)
		*p++ = *b++;
	*p = 0;
	return buf;
}

/* The data checks, the same with paging off and on; pfx names them. */
static __attribute__((noinline)) void data_checks(const char *pfx)
{
	char name[64];
#define NAME(s) join(name, pfx, s)
	/* A 4-byte write breakpoint on watched[1]. */
	db_reset();
	SET_DR(2, &watched[1]);
	SET_DR(7, DR7_BP(2, RW_WRITE, LEN4));
	store_at(&watched[1], 0x11);
	check_eq(NAME("write-bp-count"), db_count, 1);
	check_eq(NAME("write-bp-trap-eip"), db_eip[0], (uint32_t)w_after_store);
	check_eq(NAME("write-bp-dr6"), db_dr6[0] & 0xf, 4);
	check_eq(NAME("write-bp-stored"), watched[1], 0x11);
	load_at(&watched[1]);
	store_at(&watched[0], 0x22);
	store_at(&watched[2], 0x33);
	check_eq(NAME("write-bp-reads-and-neighbours-quiet"), db_count, 1);
	check(watched[0] == 0x22 && watched[2] == 0x33, NAME("write-bp-neighbours-stored"));
	/* A byte store inside the range meets it. */
	*((volatile uint8_t *)&watched[1] + 2) = 5;
	check_eq(NAME("write-bp-byte-inside"), db_count, 2);

	/* MOVS from the watched page to the watched dword: its first access (the read)
	 * faults, and the write is found as well. */
	db_reset();
	__asm__ volatile("movsl" : "+S"(*(uint32_t[]){ (uint32_t)&watched[0] }),
			 "+D"(*(uint32_t[]){ (uint32_t)&watched[1] }) :: "memory");
	check_eq(NAME("write-bp-movs-dest"), db_count, 1);
	check_eq(NAME("write-bp-movs-moved"), watched[1], 0x22);

	/* Read/write, 2 bytes, its address's low bit ignored: a read meets it. */
	db_reset();
	SET_DR(3, (uint32_t)&watched[3] + 1);
	SET_DR(7, DR7_BP(3, RW_RW, LEN2));
	uint32_t v = load_at(&watched[3]);
	check_eq(NAME("rw-bp-read-count"), db_count, 1);
	check_eq(NAME("rw-bp-read-eip"), db_eip[0], (uint32_t)w_after_load);
	check_eq(NAME("rw-bp-read-dr6"), db_dr6[0] & 0xf, 8);
	check_eq(NAME("rw-bp-read-value"), v, watched[3]);
	/* 8 bytes: watched[2..3]. */
	db_reset();
	SET_DR(0, &watched[2]);
	SET_DR(7, DR7_BP(0, RW_RW, LEN8));
	load_at(&watched[3]);
	load_at(&watched[1]);
	check_eq(NAME("len8-bp-count"), db_count, 1);

	/* REP STOSB over 16 bytes, a 1-byte write breakpoint at byte 5: the trap comes
	 * after the sixth iteration, EIP at the instruction, 10 left (RF set: SDM
	 * 18.3.1.1; QEMU 7.2 pushes it clear). */
	db_reset();
	SET_DR(1, &rep_buf[5]);
	SET_DR(7, DR7_BP(1, RW_WRITE, LEN1));
	__asm__ volatile("cld\n" ASM_LABEL(w_rep) "rep stosb"
			 : "+D"(*(uint32_t[]){ (uint32_t)rep_buf }), "+c"(*(uint32_t[]){ 16 })
			 : "a"(0x5a) : "memory");
	check_eq(NAME("rep-bp-count"), db_count, 1);
	check_eq(NAME("rep-bp-eip"), db_eip[0], (uint32_t)w_rep);
	check_eq(NAME("rep-bp-ecx-left"), db_ecx[0], 10);
	check_eq_sdm(NAME("rep-bp-rf"), db_rf[0], EFL_RF, "qemu-pushes-rf-clear");
	check(rep_buf[0] == 0x5a && rep_buf[15] == 0x5a && rep_buf[16] == 0, NAME("rep-bp-stored"));
	SET_DR(7, 0);
#undef NAME
}

static void test_data(void)
{
	data_checks("");

	/* Paging on, the same checks; then an alias of the watched page does not meet
	 * the breakpoint (the debug registers hold linear addresses). */
	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W);
	uint32_t alias = PG_IDENT_END + ((uint32_t)&watched[0] & 0xfff);
	pg_map(pd, PG_IDENT_END, (uint32_t)&watched[0] & PG_FRAME, PG_P | PG_W);
	/* The same page at the top of linear space, where trapeze emulates accesses. */
	uint32_t top = TOP_PAGE + ((uint32_t)&watched[0] & 0xfff);
	pg_map(pd, TOP_PAGE, (uint32_t)&watched[0] & PG_FRAME, PG_P | PG_W);
	pg_on(pd);
	data_checks("pg-");
	db_reset();
	SET_DR(2, &watched[1]);
	SET_DR(7, DR7_BP(2, RW_WRITE, LEN4));
	store_at((volatile void *)(alias + 4), 0x44);
	check_eq("pg-alias-quiet", db_count, 0);
	check_eq("pg-alias-stored", watched[1], 0x44);
	store_at(&watched[1], 0x55);
	check_eq("pg-linear-meets", db_count, 1);
	/* A breakpoint at the top of linear space. */
	db_reset();
	SET_DR(2, top + 4);
	SET_DR(7, DR7_BP(2, RW_WRITE, LEN4));
	store_at((volatile void *)(top + 4), 0x66);
	store_at((volatile void *)(top + 8), 0x67);
	check(db_count == 1 && db_eip[0] == (uint32_t)w_after_store, "pg-top-write-bp");
	check(watched[1] == 0x66 && watched[2] == 0x67, "pg-top-write-bp-stored");
	SET_DR(7, 0);
	pg_off();
}

/* A variable on a page of translated code: its write breakpoint goes through the
 * write into code (the page's blocks dropped, the write redone alone). */
__asm__(".text\n"
	ASM_LABEL(cv_func) "\tmovl $3, %eax\n\tret\n"
	".balign 8\n"
	ASM_LABEL(code_var) "\t.long 0, 0\n");
extern char cv_func[];
extern volatile uint32_t code_var[2];
extern char y_bp[], y_next[], y_cpuid[], y_push[], y_after_push[];

static void test_more(void)
{
	/* Breakpoint, then single-step: the fault (B0) before the instruction, then
	 * the step's trap (BS) after it; then PUSHF, AND and POPF trap. */
	db_reset();
	SET_DR(0, y_bp);
	SET_DR(7, DR7_BP(0, RW_EXEC, LEN1));
	__asm__ volatile("pushf\n\t"
			 "orl $0x100, (%%esp)\n\t"
			 "popf\n"
			 ASM_LABEL(y_bp) "\tnop\n"
			 ASM_LABEL(y_next) "\tpushf\n\t"
			 "andl $~0x100, (%%esp)\n\t"
			 "popf\n" ::: "memory", "cc");
	SET_DR(7, 0);
	check_eq("exec-and-step-count", db_count, 5);
	check(db_eip[0] == (uint32_t)y_bp && (db_dr6[0] & (0xf | DR6_BS)) == 1, "exec-and-step-bp-first");
	check(db_eip[1] == (uint32_t)y_next && (db_dr6[1] & (0xf | DR6_BS)) == DR6_BS,
	      "exec-and-step-then-bs");

	/* On an instruction the monitor emulates (CPUID). */
	db_reset();
	SET_DR(1, y_cpuid);
	SET_DR(7, DR7_BP(1, RW_EXEC, LEN1));
	uint32_t a = 0;
	__asm__ volatile(ASM_LABEL(y_cpuid) "cpuid" : "+a"(a) :: "ebx", "ecx", "edx");
	SET_DR(7, 0);
	check(db_count == 1 && db_eip[0] == (uint32_t)y_cpuid, "exec-bp-on-callout");
	check(a >= 1, "exec-bp-callout-ran");

	/* Two breakpoints on one dword: one trap, both B bits. */
	db_reset();
	SET_DR(0, &watched[0]);
	SET_DR(1, &watched[0]);
	SET_DR(7, DR7_BP(0, RW_WRITE, LEN4) | DR7_BP(1, RW_RW, LEN4));
	store_at(&watched[0], 1);
	SET_DR(7, 0);
	check_eq("two-bps-one-trap", db_count, 1);
	/* DR6 names every breakpoint whose condition was met (SDM Vol. 3, 18.2.3); QEMU
	 * 7.2 names the first. */
	check_eq_sdm("two-bps-both-b-bits", db_dr6[0] & 0xf, 3, "qemu-sets-one-b-bit");

	/* An instruction the monitor emulates (SGDT) writing the watched dword. */
	db_reset();
	SET_DR(0, &watched[1]);
	SET_DR(7, DR7_BP(0, RW_WRITE, LEN2));
	extern char y_sgdt_after[];
	__asm__ volatile("sgdt (%0)\n" ASM_LABEL(y_sgdt_after) :: "r"(&watched[0]) : "memory");
	SET_DR(7, 0);
	check(db_count == 1 && db_eip[0] == (uint32_t)y_sgdt_after && (db_dr6[0] & 0xf) == 1,
	      "write-bp-emulated-store");

	/* Enabled globally (G1) rather than locally: the same. */
	db_reset();
	SET_DR(1, &watched[2]);
	SET_DR(7, (DR7_BP(1, RW_WRITE, LEN4) & ~0xfu) | 0x8u);
	store_at(&watched[2], 9);
	SET_DR(7, 0);
	check(db_count == 1 && (db_dr6[0] & 0xf) == 2, "global-enable");

	/* A push meets a breakpoint on the stack slot it writes. */
	db_reset();
	__asm__ volatile("movl %%esp, %%eax\n\t"
			 "subl $4, %%eax\n\t"
			 "movl %%eax, %%dr2\n\t"
			 "movl %0, %%eax\n\t"
			 "movl %%eax, %%dr7\n"
			 ASM_LABEL(y_push) "\tpushl $5\n"
			 ASM_LABEL(y_after_push) "\tpopl %%eax\n"
			 :: "i"(DR7_BP(2, RW_WRITE, LEN4)) : "eax", "memory");
	SET_DR(7, 0);
	check(db_count == 1 && db_eip[0] == (uint32_t)y_after_push && (db_dr6[0] & 0xf) == 4,
	      "write-bp-on-push");

	/* On a page of translated code. */
	uint32_t (*f)(void) = (uint32_t (*)(void))cv_func;
	f();
	db_reset();
	SET_DR(3, &code_var[1]);
	SET_DR(7, DR7_BP(3, RW_WRITE, LEN4));
	store_at(&code_var[0], 0x66);
	store_at(&code_var[1], 0x77);
	SET_DR(7, 0);
	check(db_count == 1 && db_eip[0] == (uint32_t)w_after_store && (db_dr6[0] & 0xf) == 8,
	      "write-bp-on-code-page");
	check(code_var[0] == 0x66 && code_var[1] == 0x77, "write-bp-on-code-page-stored");
	check_eq("write-bp-code-page-code-runs", f(), 3);
}

static void test_io(void)
{
	/* R/W 10 is an I/O breakpoint under CR4.DE (undefined without it). */
	db_reset();
	write_cr4(read_cr4() | CR4_DE);
	SET_DR(0, 0x80);
	SET_DR(7, DR7_BP(0, RW_IO, LEN1));
	extern char io_after[];
	__asm__ volatile("movb $1, %%al\n" ASM_LABEL(io_out) "outb %%al, $0x80\n" ASM_LABEL(io_after)
			 ::: "eax");
	check_eq("io-bp-count", db_count, 1);
	check_eq("io-bp-trap-eip", db_eip[0], (uint32_t)io_after);
	check_eq("io-bp-dr6", db_dr6[0] & 0xf, 1);
	outb(0x81, 1);
	check_eq("io-bp-other-port-quiet", db_count, 1);
	/* REP OUTSB of 3 bytes to the port: a trap after the first iteration, so after
	 * each as it resumes, EIP at the instruction until the last, RF set (SDM Vol. 3,
	 * 18.3.1.2); QEMU 7.2 traps once, after the instruction, RF clear. */
	db_reset();
	extern char io_rep[], io_rep_after[];
	static const uint8_t bytes[3] = { 1, 2, 3 };
	__asm__ volatile("movw $0x80, %%dx\n\tcld\n"
			 ASM_LABEL(io_rep) "rep outsb\n" ASM_LABEL(io_rep_after)
			 : "+S"(*(uint32_t[]){ (uint32_t)bytes }), "+c"(*(uint32_t[]){ 3 })
			 :: "edx", "memory");
	const char *why = "qemu-traps-after-rep-outs";
	check_eq_sdm("io-rep-count", db_count, 3, why);
	check_eq_sdm("io-rep-eips", db_eip[0] == (uint32_t)io_rep && db_eip[1] == (uint32_t)io_rep &&
		     db_eip[2] == (uint32_t)io_rep_after, 1, why);
	check_eq_sdm("io-rep-ecx", db_ecx[0] == 2 && db_ecx[1] == 1 && db_ecx[2] == 0, 1, why);
	check_eq_sdm("io-rep-rf", db_rf[0] | db_rf[1] << 1 | db_rf[2] << 2, EFL_RF | EFL_RF << 1,
		     "qemu-pushes-rf-clear");
	/* REP INSB into memory with a write breakpoint on its second byte: the trap
	 * after the second iteration, 2 left. */
	db_reset();
	SET_DR(1, &rep_buf[1]);
	SET_DR(7, DR7_BP(1, RW_WRITE, LEN1));
	extern char ins_rep[];
	__asm__ volatile("movw $0x80, %%dx\n\tcld\n" ASM_LABEL(ins_rep) "rep insb"
			 : "+D"(*(uint32_t[]){ (uint32_t)rep_buf }), "+c"(*(uint32_t[]){ 4 })
			 :: "edx", "memory");
	check(db_count == 1 && db_eip[0] == (uint32_t)ins_rep && db_ecx[0] == 2 &&
	      (db_dr6[0] & 0xf) == 2, "ins-rep-memory-bp");
	SET_DR(7, 0);
	/* DR4/DR5 under CR4.DE: #UD. */
	EXPECT_EXC("dr4-under-de-ud", 6, -1, __asm__ volatile("mov %%dr4, %%eax" ::: "eax"));
	SET_DR(7, 0);
	write_cr4(read_cr4() & ~CR4_DE);
	/* Without it: DR6 and DR7. */
	SET_DR(7, DR7_BP(3, RW_WRITE, LEN4));
	SET_DR(3, 0);
	check_eq("dr5-is-dr7", GET_DR(5), DR7_BP(3, RW_WRITE, LEN4) | 0x400);
	SET_DR(7, 0);
}

static void test_gd(void)
{
	/* Bits that read as 1. */
	SET_DR(6, 0);
	SET_DR(7, 0);
	check_eq("dr6-ones", GET_DR(6), 0xffff0ff0);
	check_eq("dr7-ones", GET_DR(7), 0x400);
	/* General detect: the next MOV DR faults with DR6.BD, GD cleared. */
	db_reset();
	db_resume = 0;
	exc_set_hook(1, 0);
	SET_DR(7, 0x2000);
	extern char gd_mov[];
	int v = EXC(__asm__ volatile(ASM_LABEL(gd_mov) "mov %%dr0, %%eax" ::: "eax"));
	uint32_t eip = exc_last.eip, fl = exc_last.eflags;
	uint32_t dr6 = GET_DR(6), dr7 = GET_DR(7);
	SET_DR(7, 0);
	/* QEMU 7.2 implements no general detect. */
	expect_exc_sdm("gd-is-db", v, 1, -1, "qemu-has-no-general-detect");
	check_eq_sdm("gd-fault-eip", eip, (uint32_t)gd_mov, "qemu-has-no-general-detect");
	check_eq_sdm("gd-dr6-bd", dr6 & DR6_BD, DR6_BD, "qemu-has-no-general-detect");
	check_eq_sdm("gd-cleared", dr7 & 0x2000, 0, "qemu-has-no-general-detect");
	check_eq_sdm("gd-frame-rf", fl & EFL_RF, EFL_RF, "qemu-pushes-rf-clear");
	exc_set_hook(1, hook_db);
	db_resume = 1;
	SET_DR(6, 0);
}

/* At CPL 3: an instruction breakpoint and a data breakpoint in user code, their #DB
 * taken by the ring-0 handler and returned from. */
USER_INSN(ubp, "movl $1, %eax", "addl $2, %eax");
USER_INSN(uwr, "movl 4(%esp), %ecx\n\tmovl $7, %eax", "movl %eax, (%ecx)");

static void test_user(void)
{
	ring_init();
	db_reset();
	SET_DR(0, u_ubp_at);
	SET_DR(7, DR7_BP(0, RW_EXEC, LEN1));
	check_eq("user-exec-bp-runs", user_run((uint32_t)u_ubp, 0, 0x2), 3);
	check(db_count == 1 && db_eip[0] == (uint32_t)u_ubp_at && (db_dr6[0] & 0xf) == 1,
	      "user-exec-bp");
	db_reset();
	SET_DR(1, &watched[3]);
	SET_DR(7, DR7_BP(1, RW_WRITE, LEN4));
	check_eq("user-write-bp-runs", user_run((uint32_t)u_uwr, (uint32_t)&watched[3], 0x2), 7);
	check(db_count == 1 && db_eip[0] == (uint32_t)u_uwr_at + 2 && (db_dr6[0] & 0xf) == 2,
	      "user-write-bp");
	check_eq("user-write-bp-stored", watched[3], 7);
	SET_DR(7, 0);
}

/* An instruction breakpoint on the instruction after MOV SS or POP SS: debug
 * exceptions are inhibited there (SDM Vol. 3, 6.8.3), and Intel CPUs (the virtual
 * CPU's vendor) do not report it at all (kvm-unit-tests' emulator test checks it). */
extern char ss_after_mov[], ss_after_pop[];
static void test_after_ss(void)
{
	exc_set_hook(1, hook_db);
	db_reset();
	db_resume = 1;
	SET_DR(0, ss_after_mov);
	SET_DR(1, ss_after_pop);
	SET_DR(7, DR7_BP(0, RW_EXEC, LEN1) | DR7_BP(1, RW_EXEC, LEN1));
	uint32_t a = 0;
	__asm__ volatile("movw %%ss, %%ax\n\t"
			 "movw %%ax, %%ss\n"
			 ASM_LABEL(ss_after_mov) "\txorl %%eax, %%eax\n\t"
			 "pushl %%ss\n\t"
			 "popl %%ss\n"
			 ASM_LABEL(ss_after_pop) "\tincl %%eax\n\t"
			 : "+a"(a) :: "memory");
	SET_DR(7, 0);
	check_eq_sdm("exec-bp-after-mov-ss-and-pop-ss-not-reported", db_count, 0,
		     "qemu-reports-them-as-amd-cpus-do");
	check_eq("exec-bp-after-ss-instructions-ran", a, 1);
}

void test_main(void)
{
	guest_init();
	test_gd();
	test_exec();
	test_after_ss();
	test_data();
	test_more();
	test_io();
	test_user();
	guest_finish();
}

/*
 * paging_user.c - paging at CPL 3 (SDM Vol. 3A, 4.6 "Access Rights", 4.7 "Page-Fault
 * Exceptions"): user code on user pages; ring-3 reads, writes and fetches of
 * supervisor pages (#PF with U set, the kernel having used the page just before);
 * read-only user pages for ring 3 and for the kernel with CR0.WP = 0 and 1; U/S and
 * R/W taken from the PDE as well as the PTE; a user page just below a kernel that
 * lives from 0xc0000000 up; and last a kernel whose own pages are supervisor, with
 * only the ring-3 code, stack and data user (the GDT and IDT then on supervisor pages
 * the CPU reads at CPL 3 as implicit supervisor accesses).
 *
 * Error codes: P (bit 0) says present, W/R (bit 1) write, U/S (bit 2) CPL 3; I/D
 * (bit 4) stays clear on fetches, as there is neither SMEP nor PAE+NXE (4.7).
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define FL_U       0x2u         /* EFLAGS for ring 3: bit 1, IF clear */
#define KHALF      0xc0000000u  /* physical 0..4 MiB again, supervisor */
#define UHIGH      0xbffff000u  /* a user page right below it */
#define R          0x10000000u  /* test pages, PDE P|W|U */
#define S_SUP      (R + 0x0000) /* supervisor RW */
#define S_URO      (R + 0x1000) /* user read-only */
#define S_XSUP     (R + 0x2000) /* code page, supervisor */
#define S_XUSR     (R + 0x3000) /* the same code page, user read-only */
#define S_XNP      (R + 0x4000) /* not present */
#define S_FALL_U   (R + 0x5000) /* user code falling through into ... */
#define S_FALL_S   (R + 0x6000) /* ... a supervisor page */
#define S_STR_U    (R + 0x7000) /* an instruction straddling a user page ... */
#define S_STR_S    (R + 0x8000) /* ... and a supervisor one */
#define S_AD       (R + 0x9000) /* user RW, A/D observed */
#define PDE_SUP    0x10400000u  /* PDE P|W (supervisor), PTE P|W|U */
#define PDE_RO     0x10800000u  /* PDE P|U (read-only), PTE P|W|U */

/* What the ring-3 routines use; alone on its page (user in every layout). */
struct udata {
	uint32_t addr, val, out[2];
	uint8_t pad[PAGE - 16];
};
struct udata udata __attribute__((aligned(4096)));
/* Kernel data alone on its page. */
uint32_t ksecret[1024] __attribute__((aligned(4096)));
static pte_t *kpd, *kpd2;
static uint64_t kgdt[PAGE / 8] __attribute__((aligned(4096)));
static uint64_t kidt[PAGE / 8] __attribute__((aligned(4096)));

/* The ring-3 routines, on pages of their own (user in every layout). */
extern char user_text_start[], user_text_end[];
extern char u_rd[], u_rd_at[], u_wr[], u_wr_at[], u_ret42[], u_call[], u_stos[], u_stos_at[];
extern char u_segload[], u_wr2[], u_wr2_at[];
__asm__(".pushsection .text.user, \"ax\"\n"
	".p2align 12\n"
	".globl user_text_start\nuser_text_start:\n"
	/* u_rd: EAX = *(udata.addr) */
	".globl u_rd\nu_rd:\n\t"
	"movl udata, %ecx\n"
	".globl u_rd_at\nu_rd_at:\n\t"
	"movl (%ecx), %eax\n\tret\n"
	/* u_wr: *(udata.addr) = udata.val */
	".globl u_wr\nu_wr:\n\t"
	"movl udata, %ecx\n\tmovl udata+4, %eax\n"
	".globl u_wr_at\nu_wr_at:\n\t"
	"movl %eax, (%ecx)\n\tret\n"
	/* u_wr2: u_wr at an instruction no other check uses (the monitor may learn to
	 * emulate an instruction that once reached above the user pages: this one must
	 * run natively to show what the host mapping allows) */
	".globl u_wr2\nu_wr2:\n\t"
	"movl udata, %ecx\n\tmovl udata+4, %eax\n"
	".globl u_wr2_at\nu_wr2_at:\n\t"
	"movl %eax, (%ecx)\n\tret\n"
	".globl u_ret42\nu_ret42:\n\t"
	"movl $42, %eax\n\tret\n"
	/* u_call: call *udata.addr */
	".globl u_call\nu_call:\n\t"
	"movl udata, %ecx\n\tcall *%ecx\n\tret\n"
	/* u_stos: 32 bytes of 0x5a from udata.addr */
	".globl u_stos\nu_stos:\n\t"
	"pushl %edi\n\tmovl udata, %edi\n\tmovl $32, %ecx\n\tmovb $0x5a, %al\n\tcld\n"
	".globl u_stos_at\nu_stos_at:\n\t"
	"rep stosb\n\tpopl %edi\n\tret\n"
	/* u_segload: DS and ES loaded at CPL 3 (descriptor read: implicit supervisor) */
	".globl u_segload\nu_segload:\n\t"
	"movl $0x23, %eax\n\tmovl %eax, %ds\n\tmovl %eax, %es\n\t"
	"movl udata+8, %eax\n\tret\n"
	".p2align 12\n"
	".globl user_text_end\nuser_text_end:\n"
	".popsection\n"
	/* A kernel function alone on its page. */
	".pushsection .text.kpage, \"ax\"\n"
	".p2align 12\n"
	".globl ktext_fn\nktext_fn:\n\t"
	"movl $0x6b6b, %eax\n\tret\n"
	".p2align 12\n"
	".popsection\n");
extern char ktext_fn[];

static uint32_t *tagged_page(uint32_t tag)
{
	uint32_t *p = pg_alloc();
	for (int i = 0; i < 1024; i++)
		p[i] = tag + i;
	return p;
}

/* Run fn at CPL 3 and expect a #PF from CS SEL_UCODE with error err, CR2 cr2 and
 * faulting EIP at. */
static void user_pf(const char *name, const void *fn, uint32_t err, uint32_t cr2, const void *at)
{
	pf_reset();
	int v = EXC(user_run((uint32_t)fn, 0, FL_U));
	if (v == VEC_PF && pf.cs != SEL_UCODE)
		fail(name, "frame cs %x want %x", pf.cs, SEL_UCODE);
	else
		pf_expect_mask(name, v, err, 0xffffffffu, cr2, at);
}

static void user_read_pf(const char *name, uint32_t lin, uint32_t err)
{
	udata.addr = lin;
	user_pf(name, u_rd, err, lin, u_rd_at);
}

static void user_write_pf(const char *name, uint32_t lin, uint32_t val, uint32_t err)
{
	udata.addr = lin;
	udata.val = val;
	user_pf(name, u_wr, err, lin, u_wr_at);
}

static void user_read_ok(const char *name, uint32_t lin, uint32_t want)
{
	udata.addr = lin;
	user_expect_ret(name, u_rd, 0, FL_U, want);
}

static void user_write_ok(const char *name, uint32_t lin, uint32_t val)
{
	udata.addr = lin;
	udata.val = val;
	int v = EXC(user_run((uint32_t)u_wr, 0, FL_U));
	if (v != -1)
		fail(name, "exception %d error %x at %08x", v, exc_last.error, exc_last.eip);
	else if (pg_rd(lin) != val)
		fail(name, "memory %08x want %08x", pg_rd(lin), val);
	else
		pass(name);
}

static void setup(void)
{
	kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W | PG_U);
	for (uint32_t a = 0; a < PG_4M; a += PAGE)
		pg_map(kpd, KHALF + a, a, PG_P | PG_W);
	pg_map(kpd, UHIGH, (uint32_t)tagged_page(0xb0000000), PG_P | PG_W | PG_U);
	write_cr4(read_cr4() & ~(CR4_PSE | CR4_PGE));
	pg_on(kpd);
	pg_set_wp(0);
	for (int i = 0; i < 1024; i++)
		ksecret[i] = 0x5ec00000 + i;
	udata.out[0] = 7;
}

/* ---- the kernel above 0xc0000000, a user page right below ---- */

static void test_high(void)
{
	check_eq("kernel-half-alias-read", pg_rd(KHALF + (uint32_t)&ksecret[3]), 0x5ec00003);
	user_expect_ret("user-runs-with-paging", u_ret42, 0, FL_U, 42);
	user_read_ok("user-high-page-read", UHIGH + 0x10, 0xb0000004);
	user_write_ok("user-high-page-write-last-dword", UHIGH + 0xffc, 0xb1b1b1b1);
	pg_rd(KHALF + (uint32_t)&ksecret[4]);
	user_read_pf("user-read-kernel-half", KHALF + (uint32_t)&ksecret[4], PF_P | PF_U);
	pg_wr(KHALF + (uint32_t)&ksecret[5], 0x5ec00005);
	user_write_pf("user-write-kernel-half", KHALF + (uint32_t)&ksecret[5], 1, PF_P | PF_U | PF_W);
	check_eq("user-write-kernel-half-leaves-memory", ksecret[5], 0x5ec00005);

	/* A dword from 0xbffffffe: its last two bytes are in the kernel's page. Which
	 * byte CR2 names is not specified: any in the second page. */
	udata.addr = 0xbffffffe;
	udata.val = 0;
	pf_reset();
	int v = EXC(user_run((uint32_t)u_wr, 0, FL_U));
	if (v != VEC_PF || pf.err != (PF_P | PF_U | PF_W) || pf.cr2 < KHALF || pf.cr2 > KHALF + 1)
		fail("user-write-crossing-into-kernel-half", "vector %d error %x cr2 %08x", v, pf.err, pf.cr2);
	else
		pass("user-write-crossing-into-kernel-half");

	/* REP STOSB from 0xbffffff0 for 32 bytes: the fault comes at the kernel's page
	 * with EDI/ECX at an element boundary of the bytes stored so far (a REP string
	 * instruction resumes after a fault: SDM Vol. 2B, REP). */
	uint8_t *low = (uint8_t *)(pg_pte(kpd, UHIGH)[0] & PG_FRAME) + 0xff0;
	memset(low, 0, 16);
	uint32_t k0 = pg_rd(KHALF), k1 = pg_rd(KHALF + 4), k2 = pg_rd(KHALF + 8), k3 = pg_rd(KHALF + 12);
	udata.addr = 0xbffffff0;
	pf_reset();
	v = EXC(user_run((uint32_t)u_stos, 0, FL_U));
	pf_expect_mask("user-rep-stos-into-kernel-half", v, PF_P | PF_U | PF_W, 0xffffffffu, KHALF,
		       u_stos_at);
	uint32_t edi = pf.f.edi, ecx = pf.f.ecx;
	if (v != VEC_PF)
		fail("user-rep-stos-registers", "no page fault (vector %d)", v);
	else if (edi + ecx != 0xbffffff0 + 32 || edi < 0xbffffff0 || edi > KHALF)
		fail("user-rep-stos-registers", "edi %08x ecx %08x", edi, ecx);
	else
		pass("user-rep-stos-registers");
	int ok = 1;
	for (uint32_t a = 0xbffffff0; a < edi && a < KHALF; a++)
		ok &= low[a - 0xbffffff0] == 0x5a;
	check(ok, "user-rep-stos-stored-below-edi");
	check(pg_rd(KHALF) == k0 && pg_rd(KHALF + 4) == k1 && pg_rd(KHALF + 8) == k2 &&
	      pg_rd(KHALF + 12) == k3, "user-rep-stos-leaves-kernel-page");
}

/* ---- supervisor pages, read-only pages, rights in the PDE ---- */

static void test_rights(void)
{
	uint32_t *sup = tagged_page(0x50500000);
	uint32_t *uro = tagged_page(0x0a0a0000);
	pg_map(kpd, S_SUP, (uint32_t)sup, PG_P | PG_W);
	pg_map(kpd, S_URO, (uint32_t)uro, PG_P | PG_U);

	/* The kernel uses the supervisor page, then ring 3 tries. */
	pg_wr(S_SUP + 0x20, 0x50505050);
	user_read_pf("user-read-supervisor-page-after-kernel-write", S_SUP + 0x20, PF_P | PF_U);
	check_eq("kernel-read-supervisor-page", pg_rd(S_SUP + 0x24), 0x50500009);
	user_write_pf("user-write-supervisor-page-after-kernel-read", S_SUP + 0x24, 0, PF_P | PF_U | PF_W);
	check_eq("user-write-supervisor-page-leaves-memory", sup[9], 0x50500009);

	/* Read-only user page: ring 3 reads; ring-3 writes fault whatever CR0.WP. */
	user_read_ok("user-read-ro-user-page", S_URO + 0x30, 0x0a0a000c);
	user_write_pf("user-write-ro-user-page-wp0", S_URO + 0x30, 0, PF_P | PF_U | PF_W);
	pg_set_wp(1);
	user_write_pf("user-write-ro-user-page-wp1", S_URO + 0x30, 0, PF_P | PF_U | PF_W);
	check_eq("user-write-ro-user-page-leaves-memory", uro[12], 0x0a0a000c);
	/* The kernel writes it only while CR0.WP = 0 (4.6.1). */
	PF_EXPECT("kernel-write-ro-user-page-wp1", PF_P | PF_W, S_URO + 0x34, pg_wr_insn,
		  pg_wr(S_URO + 0x34, 0x11));
	pg_set_wp(0);
	NO_EXC("kernel-write-ro-user-page-wp0", pg_wr(S_URO + 0x34, 0x0a0affff));
	check_eq("kernel-write-ro-user-page-wp0-lands", uro[13], 0x0a0affff);
	/* ... and that write gave ring 3 no right to write it too. */
	udata.addr = S_URO + 0x34;
	udata.val = 0;
	user_pf("user-write-ro-user-page-after-kernel-write", u_wr2, PF_P | PF_U | PF_W,
		S_URO + 0x34, u_wr2_at);
	check_eq("user-write-ro-user-page-after-kernel-write-leaves-memory", uro[13], 0x0a0affff);

	/* U/S = 0 in the PDE only. */
	uint32_t *pdes = tagged_page(0x5d5d0000);
	pg_map(kpd, PDE_SUP, (uint32_t)pdes, PG_P | PG_W | PG_U);
	*pg_pde(kpd, PDE_SUP) &= ~PG_U;
	pg_flush();
	check_eq("kernel-read-pde-supervisor", pg_rd(PDE_SUP + 8), 0x5d5d0002);
	user_read_pf("user-read-pde-supervisor", PDE_SUP + 8, PF_P | PF_U);
	user_write_pf("user-write-pde-supervisor", PDE_SUP + 8, 0, PF_P | PF_U | PF_W);

	/* R/W = 0 in the PDE only. */
	uint32_t *pdero = tagged_page(0x7d7d0000);
	pg_map(kpd, PDE_RO, (uint32_t)pdero, PG_P | PG_W | PG_U);
	*pg_pde(kpd, PDE_RO) &= ~PG_W;
	pg_flush();
	user_read_ok("user-read-pde-read-only", PDE_RO + 8, 0x7d7d0002);
	user_write_pf("user-write-pde-read-only", PDE_RO + 8, 0, PF_P | PF_U | PF_W);
	check_eq("user-write-pde-read-only-leaves-memory", pdero[2], 0x7d7d0002);

	/* Accessed and dirty bits set by ring-3 accesses. */
	pte_t *pte = pg_pte(kpd, S_AD);
	*pte = (uint32_t)tagged_page(0xadad0000) | PG_P | PG_W | PG_U;
	invlpg(S_AD);
	user_read_ok("user-read-ad-page", S_AD + 4, 0xadad0001);
	check_eq("user-read-sets-accessed-only", *pte & (PG_A | PG_D), PG_A);
	user_write_ok("user-write-ad-page", S_AD + 4, 0x12345678);
	check_eq("user-write-sets-dirty", *pte & (PG_A | PG_D), PG_A | PG_D);
}

/* ---- instruction fetches at CPL 3 ---- */

static void test_fetch(void)
{
	uint8_t *code = pg_alloc();
	static const uint8_t ret7e[] = { 0xb8, 0x7e, 0x7e, 0, 0, 0xc3 };    /* mov $0x7e7e, %eax; ret */
	memcpy(code, ret7e, sizeof(ret7e));
	pg_map(kpd, S_XSUP, (uint32_t)code, PG_P | PG_W);
	pg_map(kpd, S_XUSR, (uint32_t)code, PG_P | PG_U);

	check_eq("kernel-fetch-supervisor-page", pg_call(S_XSUP), 0x7e7e);
	user_pf("user-fetch-supervisor-page", (void *)S_XSUP, PF_P | PF_U, S_XSUP, (void *)S_XSUP);
	udata.addr = S_XSUP;
	user_pf("user-call-supervisor-page", u_call, PF_P | PF_U, S_XSUP, (void *)S_XSUP);
	user_expect_ret("user-fetch-user-read-only-page", (void *)S_XUSR, 0, FL_U, 0x7e7e);
	user_pf("user-fetch-not-present", (void *)S_XNP, PF_U, S_XNP, (void *)S_XNP);

	/* Straight-line code running off the end of a user page into a supervisor page. */
	uint8_t *fu = pg_alloc(), *fs = pg_alloc();
	memset(fu, 0x90, PAGE);
	fu[0xff0] = 0xb8;                   /* mov $1, %eax */
	fu[0xff1] = 1;
	fu[0xff2] = fu[0xff3] = fu[0xff4] = 0;
	fs[0] = 0xc3;
	pg_map(kpd, S_FALL_U, (uint32_t)fu, PG_P | PG_U);
	pg_map(kpd, S_FALL_S, (uint32_t)fs, PG_P);
	user_pf("user-fetch-falls-into-supervisor-page", (void *)(S_FALL_U + 0xff0), PF_P | PF_U,
		S_FALL_S, (void *)S_FALL_S);
	*pg_pte(kpd, S_FALL_S) |= PG_U;
	invlpg(S_FALL_S);
	user_expect_ret("user-fetch-falls-into-user-page", (void *)(S_FALL_U + 0xff0), 0, FL_U, 1);
}

/* ---- a kernel on supervisor pages ---- */

static void map_user_range(pte_t *pd, uint32_t lo, uint32_t hi)
{
	for (uint32_t a = lo & PG_FRAME; a < hi; a += PAGE)
		*pg_pte(pd, a) |= PG_U;
}

static void test_supervisor_kernel(void)
{
	struct dtr g = { sizeof(kgdt) - 1, (uint32_t)kgdt }, i = { sizeof(kidt) - 1, (uint32_t)kidt };
	memcpy(kgdt, gdt, sizeof(gdt));
	memcpy(kidt, idt, sizeof(idt));
	__asm__ volatile("lgdt %0; lidt %1" :: "m"(g), "m"(i) : "memory");

	kpd2 = pg_dir();
	pg_identity(kpd2, PG_P | PG_W);
	map_user_range(kpd2, (uint32_t)user_text_start, (uint32_t)user_text_end);
	map_user_range(kpd2, (uint32_t)user_stack, (uint32_t)user_stack + USER_STACK_SIZE);
	map_user_range(kpd2, (uint32_t)&udata, (uint32_t)&udata + sizeof(udata));
	map_user_range(kpd2, (uint32_t)ring_exit_ret - 2, (uint32_t)ring_exit_ret);
	kpd2[KHALF >> 22] = kpd[KHALF >> 22];
	kpd2[UHIGH >> 22] = kpd[UHIGH >> 22];
	write_cr3((uint32_t)kpd2);

	check_eq("ksup-kernel-data-page-supervisor", *pg_pte(kpd2, (uint32_t)ksecret) & PG_U, 0);
	check_eq("ksup-gdt-page-supervisor", *pg_pte(kpd2, (uint32_t)kgdt) & PG_U, 0);
	user_expect_ret("ksup-user-runs", u_ret42, 0, FL_U, 42);
	user_expect_ret("ksup-user-segment-load-reads-supervisor-gdt", u_segload, 0, FL_U, 7);
	ksecret[6] = 0x5ec0aaaa;
	user_read_pf("ksup-user-read-kernel-data", (uint32_t)&ksecret[6], PF_P | PF_U);
	user_write_pf("ksup-user-write-kernel-data", (uint32_t)&ksecret[7], 0, PF_P | PF_U | PF_W);
	check_eq("ksup-user-write-kernel-data-leaves-memory", ksecret[7], 0x5ec00007);
	check_eq("ksup-kernel-call-kernel-text", pg_call((uint32_t)ktext_fn), 0x6b6b);
	user_pf("ksup-user-run-kernel-text", ktext_fn, PF_P | PF_U, (uint32_t)ktext_fn, ktext_fn);
	user_read_ok("ksup-user-high-page-read", UHIGH + 0x10, 0xb0000004);
	user_write_ok("ksup-user-high-page-write", UHIGH + 0x14, 0xb2b2b2b2);
	user_read_pf("ksup-user-read-kernel-half", KHALF + (uint32_t)&ksecret[8], PF_P | PF_U);
	check_eq("ksup-kernel-reads-user-data", pg_rd((uint32_t)&udata.out[0]), 7);
	write_cr3((uint32_t)kpd);
	user_read_ok("ksup-back-to-user-kernel", (uint32_t)&ksecret[6], 0x5ec0aaaa);
}

/* An instruction whose last bytes are on a supervisor page (last: it may stop an
 * implementation that cannot split the fetch). */
static void test_fetch_straddle(void)
{
	/* mov $0x44332211, %eax at 0xffd: two immediate bytes and the RET on the next page. */
	uint8_t *su = pg_alloc(), *ss = pg_alloc();
	memset(su, 0x90, PAGE);
	su[0xffd] = 0xb8;
	su[0xffe] = 0x11;
	su[0xfff] = 0x22;
	ss[0] = 0x33;
	ss[1] = 0x44;
	ss[2] = 0xc3;
	pg_map(kpd, S_STR_U, (uint32_t)su, PG_P | PG_U);
	pg_map(kpd, S_STR_S, (uint32_t)ss, PG_P);
	pf_reset();
	int v = EXC(user_run(S_STR_U + 0xff0, 0, FL_U));
	if (v != VEC_PF || pf.err != (PF_P | PF_U) || pf.eip != S_STR_U + 0xffd ||
	    pf.cr2 < S_STR_S || pf.cr2 > S_STR_S + 1)
		fail("user-fetch-straddling-into-supervisor-page", "vector %d error %x eip %08x cr2 %08x",
		     v, pf.err, pf.eip, pf.cr2);
	else
		pass("user-fetch-straddling-into-supervisor-page");
	*pg_pte(kpd, S_STR_S) |= PG_U;
	invlpg(S_STR_S);
	user_expect_ret("user-fetch-straddling-user-pages", (void *)(S_STR_U + 0xff0), 0, FL_U, 0x44332211);
}

void test_main(void)
{
	guest_init();
	ring_init();
	pg_init();
	setup();
	test_high();
	test_rights();
	test_fetch();
	test_supervisor_kernel();
	test_fetch_straddle();
	pg_off();
}

/*
 * cut_page.c - an instruction that starts at the end of a page and runs into the next,
 * which is not present (SDM Vol. 3A, 4.7: the fetch raises #PF with CR2 at the next
 * page). A translator that met it while the next page was absent must not run what it
 * made of it once the page is there: the #PF handler maps the page and returns to the
 * instruction, and a call that was made before (a chain from the caller, translated
 * when the page was absent) must run the whole instruction too. Then the page goes
 * again, comes back with other bytes, and so on. The same with a two-byte opcode
 * (0F C8, BSWAP EAX) cut after its 0F.
 */
#include "guest.h"
#include "paging.h"

#define CODE    0x40000000u     /* P1: ends with the first byte of MOV EAX, imm32 */
#define NEXT    (CODE + PAGE)   /* P2: the immediate, then RET */
#define ENTRY   (NEXT - 1)
#define CODE2   0x40010000u     /* P3: ends with 0F; P4: C8 (BSWAP EAX), RET */
#define NEXT2   (CODE2 + PAGE)

static pte_t *pd;
static uint8_t *p1, *p2, *p3, *p4;
static volatile int faults;
static volatile uint32_t fault_cr2;

/* #PF: the next page comes (present, with the immediate it holds now). */
static void on_pf(struct frame *f)
{
	(void)f;
	faults++;
	fault_cr2 = read_cr2();
	if (fault_cr2 == NEXT2)
		*pg_pte(pd, NEXT2) = (uint32_t)p4 | PG_P | PG_W;
	else
		*pg_pte(pd, NEXT) = (uint32_t)p2 | PG_P | PG_W;
}

/* EAX = v, then a direct call to the last byte of P3 (chained after its first run). */
extern uint32_t call_bswap(uint32_t v);
__asm__(".text\n.globl call_bswap\ncall_bswap:\n\t"
	"movl 4(%esp), %eax\n\tcall 0x40010fff\n\tret\n");

/* P2 holds imm32 = v, then RET. */
static void fill_next(uint32_t v)
{
	memcpy(p2, &v, 4);
	p2[4] = 0xc3;
}

/* The caller: a direct call to ENTRY (chained after its first run). */
extern uint32_t call_entry(void);
__asm__(".text\n.globl call_entry\ncall_entry:\n\t"
	"pushl %ebx\n\tmovl $0x40000fff, %ebx\n\tcall *%ebx\n\tpopl %ebx\n\tret\n");

/* The same through a direct CALL rel32, which a translator chains. */
static uint8_t direct[16] __attribute__((aligned(16)));

static uint32_t call_direct(void)
{
	return pg_call((uint32_t)direct);
}

static void absent(void)
{
	*pg_pte(pd, NEXT) = 0;
	invlpg(NEXT);
}

void test_main(void)
{
	guest_init();
	idt_init();
	pg_init();
	pd = pg_dir();
	pg_identity(pd, PG_P | PG_W);
	p1 = pg_alloc();
	p2 = pg_alloc();
	memset(p1, 0x90, PAGE);
	p1[PAGE - 1] = 0xb8;            /* MOV EAX, imm32: the opcode, alone on P1 */
	pg_map(pd, CODE, (uint32_t)p1, PG_P | PG_W);
	p3 = pg_alloc();
	p4 = pg_alloc();
	memset(p3, 0x90, PAGE);
	p3[PAGE - 1] = 0x0f;
	p4[0] = 0xc8;                   /* BSWAP EAX */
	p4[1] = 0xc3;
	pg_map(pd, CODE2, (uint32_t)p3, PG_P | PG_W);
	/* direct: call rel32 to ENTRY; ret */
	direct[0] = 0xe8;
	uint32_t rel = ENTRY - ((uint32_t)direct + 5);
	memcpy(direct + 1, &rel, 4);
	direct[5] = 0xc3;
	pg_on(pd);
	exc_set_hook(VEC_PF, on_pf);

	int bad_value = 0, bad_faults = 0, bad_cr2 = 0;
	for (uint32_t round = 0; round < 20; round++) {
		uint32_t v = 0x51000000u + round;
		fill_next(v);
		absent();
		faults = 0;
		fault_cr2 = 0;
		uint32_t got = (round & 1) ? call_direct() : call_entry();
		bad_value += got != v;
		bad_faults += faults != 1;
		bad_cr2 += fault_cr2 != NEXT;
		/* The page is there now: calls again, through the same caller (chained
		 * to what was translated while it was absent) and the other one. */
		for (int k = 0; k < 3; k++) {
			bad_value += call_entry() != v;
			bad_value += call_direct() != v;
		}
		bad_faults += faults != 1;
	}
	/* The two-byte opcode: a translation made while P4 was absent must not turn
	 * BSWAP into a #UD once P4 is there. */
	int bad2 = 0, faults2 = 0;
	for (uint32_t round = 0; round < 10; round++) {
		*pg_pte(pd, NEXT2) = 0;
		invlpg(NEXT2);
		faults = 0;
		uint32_t v = 0x11223300u + round, want = __builtin_bswap32(v);
		bad2 += call_bswap(v) != want;
		faults2 += faults != 1;
		for (int k = 0; k < 3; k++)
			bad2 += call_bswap(v) != want;
	}
	if (bad2 || faults2)
		fail("cut-page-two-byte-opcode", "%d wrong results, %d rounds with other than one #PF",
		     bad2, faults2);
	else
		pass("cut-page-two-byte-opcode");
	if (bad_faults)
		fail("cut-page-fault-once", "%d rounds with other than one #PF", bad_faults);
	else
		pass("cut-page-fault-once");
	if (bad_cr2)
		fail("cut-page-cr2", "%d rounds with CR2 not at the next page", bad_cr2);
	else
		pass("cut-page-cr2");
	if (bad_value)
		fail("cut-page-whole-instruction",
		     "%d calls returned other than the immediate on the next page", bad_value);
	else
		pass("cut-page-whole-instruction");
	guest_finish();
}

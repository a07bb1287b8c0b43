/*
 * code_twice.c - one page of position-dependent code run at eight linear addresses of
 * its frame, in turn and out of order: each run must behave as code at its own address
 * (the return address a CALL pushes and a POP reads, a PC thunk's result, a jump
 * through a register computed from them, a loop's relative branch). A translator that
 * served one address's translation at another (keyed by frame, or a translation
 * relocated wrongly) returns another address's value. Then the code is patched through
 * a writable alias (SDM Vol. 3A, 11.6: serialized before it runs) and every address
 * must run the new code.
 */
#include "guest.h"
#include "paging.h"

#define BASE    0x50000000u     /* the aliases: BASE + k * STRIDE, k < NALIAS */
#define STRIDE  0x00013000u     /* not a power of two: low address bits differ too */
#define NALIAS  8
#define WRITE   0x5f000000u     /* the frame again, for patching */

/*
 *  0: call 5           push L+5
 *  5: pop eax          eax = L+5
 *  6: call 0x100       the PC thunk: ecx = L+11
 * 11: lea edx, [eax+13]  edx = L+18
 * 14: jmp edx          to 18
 * 16: ud2
 * 18: xor edx, edx
 * 20: inc edx          loop until edx = LIMIT
 * 21: cmp edx, LIMIT
 * 24: jne 20
 * 26: add eax, ecx     eax = 2L+16
 * 28: add eax, edx     eax = 2L+16+LIMIT
 * 30: ret
 * 0x100: mov ecx, [esp]; ret
 */
static const uint8_t routine[] = {
	0xe8, 0, 0, 0, 0, 0x58, 0xe8, 0xf5, 0, 0, 0, 0x8d, 0x50, 0x0d, 0xff, 0xe2, 0x0f, 0x0b,
	0x31, 0xd2, 0x42, 0x83, 0xfa, 0x03, 0x75, 0xfa, 0x01, 0xc8, 0x01, 0xd0, 0xc3,
};
#define LIMIT_AT 23             /* the cmp's immediate */
static const uint8_t thunk[] = { 0x8b, 0x0c, 0x24, 0xc3 };

static uint32_t run(uint32_t lin)
{
	serialize();
	return pg_call(lin);
}

static uint32_t alias(int k) { return BASE + (uint32_t)k * STRIDE; }

/* Each run at its own address's value; one PASS for the group, a FAIL for each run
 * that is not. */
static void check_all(const char *what, uint32_t limit, const int *order, int n)
{
	int bad = 0;
	for (int i = 0; i < n; i++) {
		uint32_t l = alias(order[i]), got = run(l), want = 2 * l + 16 + limit;
		if (got != want) {
			fail(what, "run %d at alias %d (%x): got %x, want %x", i, order[i], l, got,
			     want);
			bad++;
		}
	}
	if (!bad)
		pass(what);
}

void test_main(void)
{
	guest_init();
	pg_init();
	pte_t *kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W);
	uint8_t *frame = pg_alloc();
	for (unsigned i = 0; i < sizeof(routine); i++)
		frame[i] = routine[i];
	for (unsigned i = 0; i < sizeof(thunk); i++)
		frame[0x100 + i] = thunk[i];
	for (int k = 0; k < NALIAS; k++)
		pg_map(kpd, alias(k), (uint32_t)frame, PG_P);
	pg_map(kpd, WRITE, (uint32_t)frame, PG_P | PG_W);
	pg_on(kpd);

	static const int forward[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	static const int mixed[] = { 5, 0, 7, 5, 2, 2, 6, 1, 3, 0, 4, 7 };
	check_all("first-run", 3, forward, NALIAS);
	check_all("again", 3, mixed, sizeof(mixed) / sizeof(mixed[0]));
	/* A loop over all of them, many times: the translations stay (or come back). */
	uint32_t bad = 0;
	for (int r = 0; r < 200; r++)
		for (int k = 0; k < NALIAS; k++)
			bad += pg_call(alias(k)) != 2 * alias(k) + 16 + 3;
	check_eq("loop-wrong-results", bad, 0);

	/* Patched through the writable alias: every address runs the new loop bound. */
	((volatile uint8_t *)WRITE)[LIMIT_AT] = 5;
	check_all("patched", 5, mixed, sizeof(mixed) / sizeof(mixed[0]));
	pg_off();
}

/*
 * test_codecache.c - the code cache API on blocks the real translator builds: lookup
 * by (eip, CS base, mode), chaining and the incoming lists, page invalidation and
 * write protection, blocks spanning two pages, flushes, and the maps from host code
 * addresses back to guest EIPs (cc_block_at, cc_side_lookup).
 *
 * Blocks are made with rw_translate() on code put in guest RAM, or by running code
 * with cpu_run(). The comment after each byte group is its address and instruction;
 * NAME_LABEL constants are the addresses of labels.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testvm.h"
#include "../../codecache/codecache.h"
#include "../../monitor/segments.h"
#include "../../rewriter/rewriter.h"

static struct vm vm;

/* The guest's CS limit: blocks are looked up for the current one. */
#define CS_LIMIT (vm.cpu.seg[SR_CS].limit)

static void setup(void) { tvm_create(&vm); }
static void teardown(void) { vm_destroy(&vm); }

#define REG(r) (vm.cpu.sh->regs[r])
#define MODE (rw_mode(&vm.cpu))
#define PAGE(a) ((uint32_t)(a) >> 12)

static struct block *translate(uint32_t eip)
{
	struct block *b = rw_translate(vm.rw, eip, false);
	ck_assert_msg(b != NULL, "translating %#x failed: %s", eip, vm.stop_msg);
	return b;
}

/* Where the jump whose rel32 is at host address field leads. */
static uint32_t rel32_dest(uint32_t field)
{
	int32_t rel;
	memcpy(&rel, (const void *)(uintptr_t)field, 4);
	return field + 4 + (uint32_t)rel;
}

/* The entry of the indirect-branch table (LOOKUP_ADDR) serving eip. */
struct table_slot_view { uint32_t neg_eip, host; };
static const struct table_slot_view *table_entry(uint32_t eip)
{
	return (const struct table_slot_view *)(uintptr_t)(LOOKUP_ADDR +
							8 * (eip & (LOOKUP_ENTRIES - 1)));
}

static uintptr_t slot_ref(const struct block *b, int slot) { return (uintptr_t)b | (uintptr_t)slot; }

/* ---- lookup ---- */

#define AB_A 0x100000u
#define AB_B 0x100010u
#define AB_C 0x100020u
#define AB_D 0x100030u
static const uint8_t ab[] = {
	/* a: */
	0xb8, 0x01, 0x00, 0x00, 0x00,            /* 100000  mov eax,0x1 */
	0xeb, 0x09,                              /* 100005  jmp b */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,  /* 100007  nop x 8 */
	0x90,                                    /* 10000f  nop */
	/* b: */
	0x83, 0xc0, 0x02,                        /* 100010  add eax,0x2 */
	0xe6, 0xf4,                              /* 100013  out 0xf4,al */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,  /* 100015  nop x 8 */
	0x90, 0x90, 0x90,                        /* 10001d  nop x 3 */
	/* c: */
	0xb8, 0x05, 0x00, 0x00, 0x00,            /* 100020  mov eax,0x5 */
	0xeb, 0xe9,                              /* 100025  jmp b */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,  /* 100027  nop x 8 */
	0x90,                                    /* 10002f  nop */
	/* d: */
	0x83, 0xf8, 0x01,                        /* 100030  cmp eax,0x1 */
	0x74, 0xcb,                              /* 100033  je a */
	0xeb, 0xe9,                              /* 100035  jmp c */
};

/* A block is found under its own (eip, CS base, mode) and under no other key; the same
 * bytes translated under another CS base or mode are separate blocks. */
START_TEST(lookup_by_eip_cs_base_and_mode)
{
	tvm_load(&vm, TVM_CODE, ab, sizeof(ab));
	uint32_t mode = MODE;
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode));
	struct block *a = translate(AB_A);
	ck_assert_uint_eq(a->eip, AB_A);
	ck_assert_uint_eq(a->cs_base, 0);
	ck_assert_uint_eq(a->mode, mode);
	ck_assert(a->valid);
	ck_assert_uint_eq(a->ninsn, 2);
	ck_assert_uint_eq(a->guest_len, 7);
	ck_assert_uint_eq(a->npages, 1);
	ck_assert_uint_eq(a->page[0], PAGE(AB_A));
	ck_assert_uint_eq(a->nexits, 1);
	ck_assert_uint_eq(a->exit[0].target, AB_B);
	ck_assert_ptr_null(a->exit[0].to);

	ck_assert_ptr_eq(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode), a);
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A + 1, 0, CS_LIMIT, mode));
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A, 0x1000, CS_LIMIT, mode));
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode ^ 4));       /* 16-bit code */
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode | 3));       /* CPL 3 */

	/* The same linear bytes through CS base 0x1000: another block, same page. */
	seg_set(&vm, SR_CS, TVM_SEL_CODE, 0x1000, 0xffffffff - 0x1000, TVM_ATTR_CODE);
	struct block *a2 = translate(AB_A - 0x1000);
	ck_assert_ptr_ne(a2, a);
	ck_assert_uint_eq(a2->cs_base, 0x1000);
	ck_assert_uint_eq(a2->page[0], PAGE(AB_A));
	ck_assert_uint_eq(a2->exit[0].target, AB_B - 0x1000);
	ck_assert_ptr_eq(cc_lookup(vm.cc, AB_A - 0x1000, 0x1000, CS_LIMIT, mode), a2);
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A - 0x1000, 0, CS_LIMIT, mode));
	/* a was translated under another CS limit: not found until CS is flat again. */
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode));

	/* CR0.TS is part of the mode: another block again. */
	seg_set(&vm, SR_CS, TVM_SEL_CODE, 0, 0xffffffff, TVM_ATTR_CODE);
	ck_assert_ptr_eq(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode), a);
	vm.cpu.cr0 |= CR0_TS;
	uint32_t mode_ts = MODE;
	ck_assert_uint_ne(mode_ts, mode);
	struct block *a3 = translate(AB_A);
	ck_assert_ptr_ne(a3, a);
	ck_assert_uint_eq(a3->mode, mode_ts);
	ck_assert_ptr_eq(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode_ts), a3);
	ck_assert_ptr_eq(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode), a);

	/* All three hold bytes of the same physical page. */
	ck_assert_int_eq(cc_invalidate_page(vm.cc, PAGE(AB_A)), 3);
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode));
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A - 0x1000, 0x1000, CS_LIMIT, mode));
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, mode_ts));
}
END_TEST

/* The indirect-branch table holds -eip and the host address of the table stub of blocks
 * of the key it serves (which restores EAX/ECX and jumps to the entry), forgets them
 * when they are invalidated, and is emptied when the key changes. */
START_TEST(lookup_table_entries)
{
	tvm_load(&vm, TVM_CODE, ab, sizeof(ab));
	uint32_t mode = MODE;
	cc_set_table_key(vm.cc, 0, 0xffffffff, mode);
	struct block *b = translate(AB_B);
	ck_assert_uint_eq(table_entry(AB_B)->neg_eip, -AB_B);
	ck_assert_uint_eq(table_entry(AB_B)->host, b->entries[0].thost);
	ck_assert_uint_gt(b->entries[0].thost, b->entries[0].host);  /* out of line */

	/* A block of another CS base is not entered. */
	seg_set(&vm, SR_CS, TVM_SEL_CODE, 0x1000, 0xffffffff - 0x1000, TVM_ATTR_CODE);
	translate(AB_C - 0x1000);
	ck_assert_uint_eq(table_entry(AB_C - 0x1000)->neg_eip, 1);   /* empty */

	cc_invalidate_page(vm.cc, PAGE(AB_B));
	ck_assert_uint_eq(table_entry(AB_B)->neg_eip, 1);
	ck_assert_uint_ne(table_entry(AB_B)->host, b->entries[0].thost);

	seg_set(&vm, SR_CS, TVM_SEL_CODE, 0, 0xffffffff, TVM_ATTR_CODE);
	b = translate(AB_B);
	ck_assert_uint_eq(table_entry(AB_B)->host, b->entries[0].thost);
	cc_set_table_key(vm.cc, 0x1000, 0xffffffff, mode);
	ck_assert_uint_eq(table_entry(AB_B)->neg_eip, 1);
}
END_TEST

/* ---- chaining ---- */

/* cc_chain patches the slot's rel32 from its exit stub to the target's code, records
 * the slot in the target's incoming list (newest first) and counts; a chained slot is
 * not chained again. Running the chained pair leaves the cache once (for OUT). */
START_TEST(chain_patches_and_records_incoming)
{
	tvm_load(&vm, TVM_CODE, ab, sizeof(ab));
	struct block *a = translate(AB_A), *b = translate(AB_B), *c = translate(AB_C);
	struct block *d = translate(AB_D), *j = translate(AB_D + 5);   /* d's fall-through */
	ck_assert_uint_eq(rel32_dest(a->exit[0].field), a->exit[0].stub);
	ck_assert_uint_eq(b->incoming, 0);

	/* All on one page: the chains jump past the entries' guards (codecache.c). */
	cc_chain(vm.cc, a, 0, b);
	ck_assert_ptr_eq(a->exit[0].to, b);
	ck_assert_uint_eq(rel32_dest(a->exit[0].field), b->entries[0].host + GUARD_LEN);
	ck_assert_uint_eq(b->incoming, slot_ref(a, 0));
	ck_assert_uint_eq(cc_stats(vm.cc)->chained, 1);
	cc_chain(vm.cc, a, 0, b);                               /* already chained */
	ck_assert_uint_eq(cc_stats(vm.cc)->chained, 1);
	ck_assert_uint_eq(b->incoming, slot_ref(a, 0));

	cc_chain(vm.cc, c, 0, b);
	ck_assert_uint_eq(b->incoming, slot_ref(c, 0));
	ck_assert_uint_eq(c->exit[0].in_next, slot_ref(a, 0));
	ck_assert_uint_eq(a->exit[0].in_next, 0);
	ck_assert_uint_eq(cc_stats(vm.cc)->chained, 2);

	/* A jcc: slot 0 is the taken target; the fall-through stays in the block, so
	 * slot 1 is the jmp after it (j, a block of its own at the same address, is
	 * never jumped to). */
	ck_assert_uint_eq(d->nexits, 2);
	ck_assert_uint_eq(d->ninsn, 3);
	ck_assert_uint_eq(d->exit[0].target, AB_A);
	ck_assert_uint_eq(d->exit[1].target, AB_C);
	cc_chain(vm.cc, d, 1, c);
	ck_assert_uint_eq(c->incoming, slot_ref(d, 1));
	ck_assert_uint_eq(rel32_dest(d->exit[1].field), c->entries[0].host + GUARD_LEN);
	ck_assert_uint_eq(rel32_dest(d->exit[0].field), d->exit[0].stub);
	ck_assert_uint_eq(j->incoming, 0);

	/* Run a -> b: no chain exit, only the callout. */
	ck_assert_int_eq(tvm_run(&vm, AB_A), TVM_EXIT(3));
	ck_assert_uint_eq(REG(R_EAX), 3);
	ck_assert_uint_eq(vm.stats.exits[EXIT_CHAIN], 0);
	ck_assert_uint_eq(vm.stats.exits[EXIT_CALLOUT], 1);
	ck_assert_uint_eq(tvm_exits(&vm), 1);
	ck_assert_uint_eq(cc_stats(vm.cc)->blocks, 5);                  /* nothing retranslated */
}
END_TEST

/* Without a manual chain the first run exits at the jump and the dispatcher chains
 * it; the second run goes straight through. */
START_TEST(dispatcher_chains_on_first_exit)
{
	tvm_load(&vm, TVM_CODE, ab, sizeof(ab));
	ck_assert_int_eq(tvm_run(&vm, AB_C), TVM_EXIT(7));
	ck_assert_uint_eq(vm.stats.exits[EXIT_CHAIN], 1);
	ck_assert_uint_eq(cc_stats(vm.cc)->chained, 1);
	struct block *c = cc_lookup(vm.cc, AB_C, 0, CS_LIMIT, MODE), *b = cc_lookup(vm.cc, AB_B, 0, CS_LIMIT, MODE);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_eq(c->exit[0].to, b);
	ck_assert_uint_eq(b->incoming, slot_ref(c, 0));

	ck_assert_int_eq(tvm_run(&vm, AB_C), TVM_EXIT(7));
	ck_assert_uint_eq(vm.stats.exits[EXIT_CHAIN], 1);       /* unchanged */
	ck_assert_uint_eq(vm.stats.exits[EXIT_CALLOUT], 2);
	ck_assert_uint_eq(cc_stats(vm.cc)->blocks, 2);
}
END_TEST

/* ---- invalidation ---- */

#define Q_Q 0x101000u
#define Q_QLOOP 0x101007u
#define Q_BACK 0x10100cu
static const uint8_t q[] = {
	/* q: */
	0x31, 0xc0,                              /* 101000  xor eax,eax */
	0xb9, 0x05, 0x00, 0x00, 0x00,            /* 101002  mov ecx,0x5 */
	/* qloop: */
	0xe9, 0xf4, 0xef, 0xff, 0xff,            /* 101007  jmp 0x100000 */
	/* back: */
	0x49,                                    /* 10100c  dec ecx */
	0x75, 0xf8,                              /* 10100d  jne qloop */
	0xe6, 0xf4,                              /* 10100f  out 0xf4,al */
};
static const uint8_t p1[] = {
	/* p1: */
	0x83, 0xc0, 0x07,                        /* 100000  add eax,0x7 */
	0xe9, 0x04, 0x10, 0x00, 0x00,            /* 100003  jmp 0x10100c */
};
static const uint8_t p1b[] = {
	/* p1: */
	0x83, 0xc0, 0x09,                        /* 100000  add eax,0x9 */
	0xe9, 0x04, 0x10, 0x00, 0x00,            /* 100003  jmp 0x10100c */
};

static void load_q_p1(void)
{
	tvm_load(&vm, 0x101000, q, sizeof(q));
	tvm_load(&vm, 0x100000, p1, sizeof(p1));
}

/* Every block with bytes on the page goes, whatever its key; blocks elsewhere stay. */
START_TEST(invalidate_page_removes_every_block)
{
	tvm_load(&vm, TVM_CODE, ab, sizeof(ab));
	tvm_load(&vm, 0x101000, q, sizeof(q));
	static const uint32_t on_page[] = { AB_A, AB_B, AB_C, AB_D };
	for (int i = 0; i < 4; i++)
		translate(on_page[i]);
	vm.cpu.cr0 |= CR0_TS;                           /* a fifth, under another mode */
	translate(AB_B);
	uint32_t mode_ts = MODE;
	vm.cpu.cr0 &= ~CR0_TS;
	struct block *other = translate(Q_Q);
	ck_assert_int_eq(cc_invalidate_page(vm.cc, 0x100), 5);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(cc_lookup(vm.cc, on_page[i], 0, CS_LIMIT, MODE) == NULL, "block %#x survived",
			      on_page[i]);
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_B, 0, CS_LIMIT, mode_ts));
	ck_assert_ptr_eq(cc_lookup(vm.cc, Q_Q, 0, CS_LIMIT, MODE), other);
	ck_assert(other->valid);
	ck_assert_uint_eq(cc_stats(vm.cc)->invalidated_blocks, 5);
	ck_assert_int_eq(cc_invalidate_page(vm.cc, 0x100), 0);
	ck_assert_int_eq(cc_invalidate_page(vm.cc, TVM_MEM >> 12), 0);   /* past RAM */
}
END_TEST

/* Run q (five calls of p1 through qloop) and find its blocks: qloop, p1, back. */
static void run_q_p1(struct block **qb, struct block **pb, struct block **bb)
{
	load_q_p1();
	ck_assert_int_eq(tvm_run(&vm, Q_Q), TVM_EXIT(35));
	ck_assert_uint_eq(REG(R_EAX), 35);
	*qb = cc_lookup(vm.cc, Q_QLOOP, 0, CS_LIMIT, MODE);
	*pb = cc_lookup(vm.cc, 0x100000, 0, CS_LIMIT, MODE);
	*bb = cc_lookup(vm.cc, Q_BACK, 0, CS_LIMIT, MODE);
	ck_assert_ptr_nonnull(*qb);
	ck_assert_ptr_nonnull(*pb);
	ck_assert_ptr_nonnull(*bb);
}

/* q (page 0x101) loops five times through p1 (page 0x100): eax = 35. Invalidating
 * page 0x100 removes p1 only, unchains the jumps into it (from the block at q and the
 * one at qloop) and p1's own jump back, and
 * releases the page's write protection; the next run retranslates p1 and chains
 * again. */
START_TEST(invalidate_page_unchains_other_pages)
{
	struct block *qb, *pb, *bb;
	run_q_p1(&qb, &pb, &bb);
	struct block *sb = cc_lookup(vm.cc, Q_Q, 0, CS_LIMIT, MODE);          /* also jumps to p1 */
	ck_assert_ptr_nonnull(sb);
	ck_assert_ptr_eq(sb->exit[0].to, pb);
	ck_assert_ptr_eq(qb->exit[0].to, pb);
	ck_assert_ptr_eq(pb->exit[0].to, bb);
	ck_assert_uint_eq(bb->incoming, slot_ref(pb, 0));
	ck_assert_int_eq(tvm_guest_page_writable(0x100), 0);
	ck_assert_int_eq(tvm_guest_page_writable(0x101), 0);
	uint64_t chained = cc_stats(vm.cc)->chained, blocks = cc_stats(vm.cc)->blocks;

	ck_assert_int_eq(cc_invalidate_page(vm.cc, 0x100), 1);
	ck_assert(!pb->valid);
	ck_assert_ptr_null(cc_lookup(vm.cc, 0x100000, 0, CS_LIMIT, MODE));
	ck_assert_ptr_null(qb->exit[0].to);
	ck_assert_ptr_null(sb->exit[0].to);
	ck_assert_uint_eq(rel32_dest(qb->exit[0].field), qb->exit[0].stub);
	ck_assert_uint_eq(rel32_dest(sb->exit[0].field), sb->exit[0].stub);
	ck_assert_uint_eq(pb->incoming, 0);
	ck_assert_uint_eq(bb->incoming, 0);                     /* p1's jump back is gone */
	ck_assert_uint_eq(cc_stats(vm.cc)->unchained, 2);
	ck_assert_uint_eq(cc_stats(vm.cc)->invalidated_blocks, 1);
	ck_assert(!cc_page_has_code(vm.cc, 0x100));
	ck_assert(cc_page_has_code(vm.cc, 0x101));
	ck_assert_int_eq(tvm_guest_page_writable(0x100), 1);
	ck_assert_int_eq(tvm_guest_page_writable(0x101), 0);
	ck_assert_ptr_eq(cc_lookup(vm.cc, Q_QLOOP, 0, CS_LIMIT, MODE), qb);

	ck_assert_int_eq(tvm_run(&vm, Q_Q), TVM_EXIT(35));
	ck_assert_uint_eq(REG(R_EAX), 35);
	ck_assert_uint_eq(cc_stats(vm.cc)->blocks, blocks + 1);         /* p1 only */
	ck_assert_uint_eq(cc_stats(vm.cc)->chained, chained + 3);       /* q, qloop -> p1 -> back */
	struct block *pb2 = cc_lookup(vm.cc, 0x100000, 0, CS_LIMIT, MODE);
	ck_assert_ptr_nonnull(pb2);
	ck_assert_ptr_eq(qb->exit[0].to, pb2);
	ck_assert_uint_eq(rel32_dest(qb->exit[0].field), pb2->entries[0].host);
}
END_TEST

/* The monitor's own write of new code over p1 ("add eax, 9") invalidates it: q's
 * chained jump must not reach the old translation. */
START_TEST(write_phys_invalidates_chained_target)
{
	load_q_p1();
	ck_assert_int_eq(tvm_run(&vm, Q_Q), TVM_EXIT(35));
	struct block *qb = cc_lookup(vm.cc, Q_QLOOP, 0, CS_LIMIT, MODE);
	ck_assert_ptr_nonnull(qb->exit[0].to);
	tvm_load(&vm, 0x100000, p1b, sizeof(p1b));
	ck_assert_ptr_null(qb->exit[0].to);
	ck_assert_uint_eq(cc_stats(vm.cc)->unchained, 2);
	ck_assert_int_eq(tvm_run(&vm, Q_Q), TVM_EXIT(45));
	ck_assert_uint_eq(REG(R_EAX), 45);
}
END_TEST

#define SPAN_SPAN 0x100ffbu
#define SPAN_TAIL 0x101002u
static const uint8_t span[] = {
	/* span: */
	0x90, 0x90,                              /* 100ffb  nop x 2 */
	0xb8, 0x11, 0x11, 0x11, 0x11,            /* 100ffd  mov eax,0x11111111 */
	/* tail: */
	0xc3,                                    /* 101002  ret */
};

/* A block whose last instruction runs into the next page lists both pages, and page
 * protection lasts as long as the page has a block: invalidating page 0x100 kills the
 * spanning block but page 0x101 keeps the block that starts there. */
START_TEST(protection_released_with_last_block)
{
	tvm_load(&vm, SPAN_SPAN, span, sizeof(span));
	struct block *x = translate(SPAN_SPAN), *y = translate(SPAN_TAIL);
	ck_assert_uint_eq(x->npages, 2);
	ck_assert_uint_eq(x->page[0], 0x100);
	ck_assert_uint_eq(x->page[1], 0x101);
	ck_assert_uint_eq(x->ninsn, 3);                 /* ends at the page: fall-through */
	ck_assert_uint_eq(x->exit[0].target, SPAN_TAIL);
	ck_assert_uint_eq(y->npages, 1);
	ck_assert_uint_eq(y->page[0], 0x101);
	ck_assert_int_eq(tvm_guest_page_writable(0x100), 0);
	ck_assert_int_eq(tvm_guest_page_writable(0x101), 0);

	ck_assert_int_eq(cc_invalidate_page(vm.cc, 0x100), 1);
	ck_assert(!x->valid);
	ck_assert(y->valid);
	ck_assert_int_eq(tvm_guest_page_writable(0x100), 1);
	ck_assert_int_eq(tvm_guest_page_writable(0x101), 0);   /* y still there */
	ck_assert(cc_page_has_code(vm.cc, 0x101));
	ck_assert_ptr_eq(cc_lookup(vm.cc, SPAN_TAIL, 0, CS_LIMIT, MODE), y);

	ck_assert_int_eq(cc_invalidate_page(vm.cc, 0x101), 1);
	ck_assert(!y->valid);
	ck_assert_int_eq(tvm_guest_page_writable(0x101), 1);
	ck_assert(!cc_page_has_code(vm.cc, 0x101));
	ck_assert_int_eq(cc_invalidate_page(vm.cc, 0x101), 0);
}
END_TEST

/* A write to either page of a spanning block invalidates it, and so does
 * invalidating either page. */
START_TEST(spanning_block_invalidated_from_either_page)
{
	tvm_load(&vm, SPAN_SPAN, span, sizeof(span));
	struct block *x = translate(SPAN_SPAN);
	tvm_wr32(&vm, 0x101800, 0);                     /* data on the second page */
	ck_assert(!x->valid);
	ck_assert_ptr_null(cc_lookup(vm.cc, SPAN_SPAN, 0, CS_LIMIT, MODE));
	ck_assert_int_eq(tvm_guest_page_writable(0x100), 1);
	ck_assert_int_eq(tvm_guest_page_writable(0x101), 1);

	x = translate(SPAN_SPAN);
	tvm_wr32(&vm, 0x100100, 0);                     /* data on the first page */
	ck_assert(!x->valid);
	ck_assert_ptr_null(cc_lookup(vm.cc, SPAN_SPAN, 0, CS_LIMIT, MODE));

	x = translate(SPAN_SPAN);
	ck_assert_int_eq(cc_invalidate_page(vm.cc, 0x101), 1);
	ck_assert(!x->valid);
	ck_assert_int_eq(tvm_guest_page_writable(0x100), 1);
}
END_TEST

#define DRIVER_DRIVER 0x102000u
static const uint8_t driver[] = {
	/* driver: */
	0xe8, 0xf6, 0xef, 0xff, 0xff,            /* 102000  call 0x100ffb */
	0x89, 0xc6,                              /* 102005  mov esi,eax */
	0xc6, 0x05, 0x01, 0x10, 0x10, 0x00, 0x22, /* 102007  mov byte ds:0x101001,0x22 */
	0xe8, 0xe8, 0xef, 0xff, 0xff,            /* 10200e  call 0x100ffb */
	0x89, 0xc7,                              /* 102013  mov edi,eax */
	0xc6, 0x05, 0xfe, 0x0f, 0x10, 0x00, 0x33, /* 102015  mov byte ds:0x100ffe,0x33 */
	0xe8, 0xda, 0xef, 0xff, 0xff,            /* 10201c  call 0x100ffb */
	0x89, 0xc5,                              /* 102021  mov ebp,eax */
	0xe6, 0xf4,                              /* 102023  out 0xf4,al */
};

/* The guest patches the immediate of "mov eax, 0x11111111" at 0x100ffd, whose bytes
 * straddle pages 0x100 and 0x101: first its top byte (second page), then its low
 * byte (first page), calling it after each patch. */
START_TEST(guest_patches_spanning_block_on_either_page)
{
	tvm_load(&vm, SPAN_SPAN, span, sizeof(span));
	tvm_load(&vm, DRIVER_DRIVER, driver, sizeof(driver));
	ck_assert_int_eq(tvm_run(&vm, DRIVER_DRIVER), TVM_EXIT(0x33));
	ck_assert_uint_eq(REG(R_ESI), 0x11111111);
	ck_assert_uint_eq(REG(R_EDI), 0x22111111);
	ck_assert_uint_eq(REG(R_EBP), 0x22111133);
	ck_assert_uint_ge(vm.stats.smc_invalidations, 2);
	struct block *x = cc_lookup(vm.cc, SPAN_SPAN, 0, CS_LIMIT, MODE);
	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(x->npages, 2);
}
END_TEST

/* ---- one-shot blocks ---- */

/* A one-shot translation holds one instruction, is never looked up or listed on its
 * page (which stays writable), but cc_block_at still finds it for fault mapping. */
START_TEST(oneshot_block_is_not_listed)
{
	tvm_load(&vm, TVM_CODE, ab, sizeof(ab));
	struct block *o = rw_translate(vm.rw, AB_A, true);
	ck_assert_ptr_nonnull(o);
	ck_assert(!o->valid);
	ck_assert_uint_eq(o->ninsn, 1);
	ck_assert_ptr_null(cc_lookup(vm.cc, AB_A, 0, CS_LIMIT, MODE));
	ck_assert(!cc_page_has_code(vm.cc, PAGE(AB_A)));
	ck_assert_int_eq(tvm_guest_page_writable(PAGE(AB_A)), 1);
	ck_assert_ptr_null(cc_block(vm.cc, o->id));
	ck_assert_ptr_eq(cc_block_at(vm.cc, o->host), o);
	ck_assert_uint_eq(cc_side_lookup(o, o->host)->eip, AB_A);
	ck_assert_uint_eq(cc_stats(vm.cc)->blocks, 0);
}
END_TEST

/* ---- detach ---- */

static const uint8_t nop5[GUARD_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

/* Detaching a block (here: an INVLPG of its page) closes its entry's guard and leaves
 * the chains into it as they are; the first jump through the guard attaches it again
 * (one exit, no translation), and the guard stays open after. A chain from the block's
 * own page jumps past the guard. */
START_TEST(detach_closes_the_guard)
{
	struct block *qb, *pb, *bb;
	run_q_p1(&qb, &pb, &bb);
	ck_assert_ptr_eq(qb->exit[0].to, pb);
	uint32_t g = pb->entries[0].host;
	ck_assert_uint_eq(rel32_dest(qb->exit[0].field), g);    /* another page: the guard */
	ck_assert_ptr_eq(bb->exit[0].to, qb);                   /* back -> qloop, one page */
	ck_assert_uint_eq(rel32_dest(bb->exit[0].field), qb->entries[0].host + GUARD_LEN);
	ck_assert_mem_eq((const void *)(uintptr_t)g, nop5, GUARD_LEN);
	ck_assert(!pb->guarded);

	cc_flush_linear_page(vm.cc, 0x100);
	ck_assert(pb->guarded);
	ck_assert_uint_eq(*(const uint8_t *)(uintptr_t)g, 0xe9);
	ck_assert_uint_eq(rel32_dest(g + 1), pb->entries[0].guard_exit);
	ck_assert_ptr_eq(qb->exit[0].to, pb);                   /* the chain stays */
	ck_assert_uint_eq(rel32_dest(qb->exit[0].field), g);
	ck_assert(!qb->guarded);

	uint64_t blocks = cc_stats(vm.cc)->blocks;
	ck_assert_int_eq(tvm_run(&vm, Q_Q), TVM_EXIT(35));
	ck_assert_uint_eq(REG(R_EAX), 35);
	ck_assert_uint_eq(vm.stats.exits[EXIT_GUARD], 1);
	ck_assert_uint_eq(cc_stats(vm.cc)->guards_opened, 1);
	ck_assert_uint_eq(cc_stats(vm.cc)->blocks, blocks);     /* nothing retranslated */
	ck_assert(!pb->guarded);
	ck_assert_mem_eq((const void *)(uintptr_t)g, nop5, GUARD_LEN);
	ck_assert_int_eq(tvm_run(&vm, Q_Q), TVM_EXIT(35));
	ck_assert_uint_eq(vm.stats.exits[EXIT_GUARD], 1);
}
END_TEST

/* ---- flush ---- */

/* cc_flush drops every block, releases every page, empties the lookup table, starts
 * allocating from the beginning of the cache again and bumps the generation. */
START_TEST(flush_empties_everything)
{
	load_q_p1();
	tvm_load(&vm, TVM_CODE + 0x2000, ab, sizeof(ab));
	ck_assert_int_eq(tvm_run(&vm, Q_Q), TVM_EXIT(35));
	struct block *a = translate(TVM_CODE + 0x2000);
	uint32_t gen = cc_generation(vm.cc), id = a->id, host = a->host;
	ck_assert_ptr_eq(cc_block(vm.cc, id), a);
	ck_assert_ptr_eq(cc_block(vm.cc, 0), cc_lookup(vm.cc, Q_Q, 0, CS_LIMIT, MODE));
	uint32_t first_host = cc_block(vm.cc, 0)->host;
	ck_assert_uint_ge(first_host, CACHE_ADDR);

	cc_flush(vm.cc);
	ck_assert_uint_eq(cc_generation(vm.cc), gen + 1);
	ck_assert_uint_eq(cc_stats(vm.cc)->flushes, 1);
	static const uint32_t eips[] = { Q_Q, Q_QLOOP, Q_BACK, 0x100000, TVM_CODE + 0x2000 };
	for (size_t i = 0; i < sizeof(eips) / sizeof(eips[0]); i++)
		ck_assert_msg(cc_lookup(vm.cc, eips[i], 0, CS_LIMIT, MODE) == NULL, "block %#x survived",
			      eips[i]);
	for (uint32_t p = 0x100; p <= 0x102; p++) {
		ck_assert(!cc_page_has_code(vm.cc, p));
		ck_assert_int_eq(tvm_guest_page_writable(p), 1);
	}
	ck_assert_ptr_null(cc_block(vm.cc, 0));
	ck_assert_ptr_null(cc_block(vm.cc, id));
	ck_assert_ptr_null(cc_block_at(vm.cc, host));
	ck_assert_ptr_null(cc_block_at(vm.cc, first_host));
	uint32_t filled = 0;
	for (uint32_t i = 0; i < LOOKUP_ENTRIES; i++)
		filled += table_entry(i)->neg_eip != 1;
	ck_assert_uint_eq(filled, 0);

	struct block *n = translate(Q_Q);
	ck_assert_uint_eq(n->id, 0);
	ck_assert_uint_eq(n->host, first_host);                 /* allocation starts over */
	ck_assert_ptr_eq(cc_block(vm.cc, 0), n);
	ck_assert_int_eq(tvm_run(&vm, Q_Q), TVM_EXIT(35));
	ck_assert_uint_eq(cc_generation(vm.cc), gen + 1);
}
END_TEST

/*
 * 400 blocks in a loop run three times, with a 16 KiB cache: the cache fills up and
 * is flushed while the guest runs, chains made before a flush must not be completed
 * after it, and the lookup table must not send a ret to a dropped block. Block i is
 * "add eax, i & 0x3f; jmp +0", or "call f" for every tenth; f is "inc edx; ret".
 */
#define SC_BLOCKS 400
START_TEST(small_cache_flushes_while_running)
{
	static uint8_t code[16 + 5 * SC_BLOCKS + 16];
	uint8_t *p = code;
	const uint32_t top = TVM_CODE + 9;
	uint32_t f_addr = TVM_CODE + 9 + 5 * SC_BLOCKS + 10, want_eax = 0, want_edx = 0;
	static const uint8_t head[] = {
		0xb9, 0x03, 0x00, 0x00, 0x00,   /* mov ecx, 3 */
		0x31, 0xc0,                     /* xor eax, eax */
		0x31, 0xd2,                     /* xor edx, edx */
	};
	memcpy(p, head, sizeof(head));
	p += sizeof(head);
	for (int i = 0; i < SC_BLOCKS; i++) {
		uint32_t at = TVM_CODE + (uint32_t)(p - code);
		if (i % 10 == 9) {
			uint32_t rel = f_addr - (at + 5);
			*p++ = 0xe8;                    /* call f */
			memcpy(p, &rel, 4);
			p += 4;
			want_edx += 3;
		} else {
			*p++ = 0x83;                    /* add eax, imm8 */
			*p++ = 0xc0;
			*p++ = (uint8_t)(i & 0x3f);
			*p++ = 0xeb;                    /* jmp +0 */
			*p++ = 0x00;
			want_eax += 3 * (uint32_t)(i & 0x3f);
		}
	}
	uint32_t rel = top - (TVM_CODE + (uint32_t)(p - code) + 7);
	*p++ = 0x49;                                    /* dec ecx */
	*p++ = 0x0f;                                    /* jnz top (rel32) */
	*p++ = 0x85;
	memcpy(p, &rel, 4);
	p += 4;
	*p++ = 0xe6;                                    /* out 0xf4, al */
	*p++ = 0xf4;
	ck_assert_uint_eq(TVM_CODE + (uint32_t)(p - code), f_addr - 1);
	*p++ = 0x90;                                    /* (padding) */
	*p++ = 0x42;                                    /* f: inc edx */
	*p++ = 0xc3;                                    /* ret */

	vm_destroy(&vm);
	tvm_create_cache(&vm, 16 << 10);
	tvm_run_code(&vm, code, (size_t)(p - code));
	tvm_assert_exit(&vm, want_eax & 0xff);
	ck_assert_uint_eq(REG(R_EAX), want_eax);
	ck_assert_uint_eq(REG(R_EDX), want_edx);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	ck_assert_uint_gt(cc_stats(vm.cc)->flushes, 2);
	ck_assert_uint_eq(cc_generation(vm.cc), cc_stats(vm.cc)->flushes);
}
END_TEST

/* ---- host address -> block -> guest EIP ---- */

#define SIDE_B1 0x100000u
#define SIDE_I1 0x100005u
#define SIDE_I2 0x10000cu
#define SIDE_I3 0x10000eu
#define SIDE_B2 0x100020u
static const uint8_t side[] = {
	/* b1: */
	0xb8, 0x01, 0x00, 0x00, 0x00,            /* 100000  mov eax,0x1 */
	/* i1: */
	0x65, 0x8b, 0x1d, 0x10, 0x00, 0x00, 0x00, /* 100005  mov ebx,dword gs:0x10 */
	/* i2: */
	0x01, 0xd8,                              /* 10000c  add eax,ebx */
	/* i3: */
	0xc3,                                    /* 10000e  ret */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,  /* 10000f  nop x 8 */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,  /* 100017  nop x 8 */
	0x90,                                    /* 10001f  nop */
	/* b2: */
	0x90,                                    /* 100020  nop */
	0x40,                                    /* 100021  inc eax */
	0xeb, 0xdc,                              /* 100022  jmp b1 */
};

/* cc_block_at finds the block holding any byte of its host code (and none in the
 * alignment gap after it); cc_side_lookup maps each byte to the guest instruction
 * whose translation contains it. The host offsets are checked independently by the
 * bytes found there (IDENT instructions are copied verbatim; gs: is redirected to fs:
 * between two FS reloads). */
START_TEST(block_at_and_side_lookup)
{
	tvm_load(&vm, TVM_CODE, side, sizeof(side));
	struct block *b1 = translate(SIDE_B1), *b2 = translate(SIDE_B2);
	const uint8_t *h = (const uint8_t *)(uintptr_t)b1->host;
	static const uint32_t eips[] = { SIDE_B1, SIDE_I1, SIDE_I2, SIDE_I3 };

	ck_assert_uint_ge(b1->host, CACHE_ADDR);
	ck_assert_uint_eq(b1->nside, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(b1->side[i].eip, eips[i]);
		if (i)
			ck_assert_uint_gt(b1->side[i].hoff, b1->side[i - 1].hoff);
	}
	/* after the entry's guard */
	ck_assert_uint_eq(b1->side[0].hoff, b1->entries[0].host + GUARD_LEN - b1->host);
	ck_assert_uint_eq(b1->side[3].flags, 0);  /* ret: a fault at its POP leaves ECX as it was */
	ck_assert_uint_eq(b1->side[0].flags, 0);
	static const uint8_t mov_eax_1[] = { 0xb8, 0x01, 0x00, 0x00, 0x00 };
	ck_assert_mem_eq(h + b1->side[0].hoff, mov_eax_1, 5);
	/* mov fs, gs:[VCPU_ADDR + VC_HSEL_GGS]; mov ebx, fs:[0x10]; mov fs, gs:[...FS] */
	const uint8_t *g = h + b1->side[1].hoff;
	uint32_t abs;
	ck_assert_mem_eq(g, "\x65\x8e\x25", 3);
	memcpy(&abs, g + 3, 4);
	ck_assert_uint_eq(abs, VCPU_ADDR + VC_HSEL_GGS);
	ck_assert_mem_eq(g + 7, "\x64\x8b\x1d\x10\x00\x00\x00", 7);
	ck_assert_mem_eq(g + 14, "\x65\x8e\x25", 3);
	ck_assert_uint_eq(b1->side[2].hoff, b1->side[1].hoff + 21);
	ck_assert_mem_eq(h + b1->side[2].hoff, "\x01\xd8", 2);
	ck_assert_uint_eq(b1->side[3].hoff, b1->side[2].hoff + 2);

	for (uint32_t off = 0; off < b1->host_len; off++) {
		uint32_t a = b1->host + off;
		int want = off < b1->side[1].hoff ? 0 : off < b1->side[2].hoff ? 1 :
			   off < b1->side[3].hoff ? 2 : 3;
		ck_assert_ptr_eq(cc_block_at(vm.cc, a), b1);
		const struct side_entry *se = cc_side_lookup(b1, a);
		ck_assert_msg(se && se->eip == eips[want], "host +%u: eip %#x, want %#x", off,
			      se ? se->eip : 0, eips[want]);
	}
	ck_assert_ptr_null(cc_block_at(vm.cc, CACHE_ADDR - 1));
	ck_assert_uint_ge(b2->host, b1->host + b1->host_len);
	for (uint32_t a = b1->host + b1->host_len; a < b2->host; a++)
		ck_assert_ptr_null(cc_block_at(vm.cc, a));     /* the gap between them */
	ck_assert_ptr_eq(cc_block_at(vm.cc, b2->host), b2);
	ck_assert_ptr_eq(cc_block_at(vm.cc, b2->host + b2->host_len - 1), b2);
	ck_assert_ptr_null(cc_block_at(vm.cc, b2->host + b2->host_len));
	ck_assert_uint_eq(cc_side_lookup(b2, b2->host)->eip, SIDE_B2);
	ck_assert_uint_eq(cc_side_lookup(b2, b2->host + b2->host_len - 1)->eip, SIDE_B2 + 2);
}
END_TEST

#define DIVZ_DIVI 0x100010u
#define DIVZ_HANDLER 0x100014u
static const uint8_t divz[] = {
	/* start: */
	0xb8, 0x0a, 0x00, 0x00, 0x00,            /* 100000  mov eax,0xa */
	0x65, 0x8b, 0x1d, 0x10, 0x00, 0x02, 0x00, /* 100005  mov ebx,dword gs:0x20010 */
	0x31, 0xd2,                              /* 10000c  xor edx,edx */
	0x31, 0xc9,                              /* 10000e  xor ecx,ecx */
	/* divi: */
	0xf7, 0xf1,                              /* 100010  div ecx */
	0xe6, 0xf4,                              /* 100012  out 0xf4,al */
	/* handler: */
	0xb8, 0x44, 0x00, 0x00, 0x00,            /* 100014  mov eax,0x44 */
	0xe6, 0xf4,                              /* 100019  out 0xf4,al */
};

/* A call's continuation is an entry point with a guard of its own: a host address in
 * it stands for no guest instruction (the call before it has run), past it for the
 * next one. */
START_TEST(side_lookup_in_a_continuation_guard)
{
	static const uint8_t code[] = {
		0xe8, 0x06, 0x00, 0x00, 0x00,   /* 100000  call 0x10000b */
		0xb8, 0x01, 0x00, 0x00, 0x00,   /* 100005  mov eax,0x1 */
		0xf4,                           /* 10000a  hlt */
		0xc3,                           /* 10000b  ret */
	};
	tvm_load(&vm, TVM_CODE, code, sizeof(code));
	struct block *b = translate(TVM_CODE);
	ck_assert_uint_eq(b->nentries, 2);
	const struct entry *en = &b->entries[1];
	ck_assert_uint_eq(en->eip, TVM_CODE + 5);
	ck_assert_uint_ne(en->guard_exit, 0);
	for (uint32_t k = 0; k < GUARD_LEN; k++)
		ck_assert_ptr_null(cc_side_lookup(b, en->host + k));
	ck_assert_uint_eq(cc_side_lookup(b, en->host + GUARD_LEN)->eip, TVM_CODE + 5);
	ck_assert_uint_eq(cc_side_lookup(b, b->entries[0].host)->eip, TVM_CODE);
}
END_TEST

/* A real host fault: the host EIP the signal handler recorded maps back through
 * cc_block_at and cc_side_lookup to the div, the fifth instruction of its block, after
 * a gs: instruction whose translation is longer than its guest bytes. */
START_TEST(fault_host_eip_maps_to_guest_eip)
{
	tvm_setup_tables(&vm, 0x1000, 0x3000);
	tvm_set_gate(&vm, 0x3000, VEC_DE, DIVZ_HANDLER);
	ck_assert_int_eq(tvm_run_code(&vm, divz, sizeof(divz)), TVM_EXIT(0x44));
	ck_assert_int_eq(vm.rt.fault.trapno, 0);
	struct block *b = cc_block_at(vm.cc, vm.rt.fault.host_eip);
	ck_assert_ptr_eq(b, cc_lookup(vm.cc, TVM_CODE, 0, CS_LIMIT, MODE));
	const struct side_entry *se = cc_side_lookup(b, vm.rt.fault.host_eip);
	ck_assert_ptr_nonnull(se);
	ck_assert_uint_eq(se->eip, DIVZ_DIVI);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 12), DIVZ_DIVI);   /* pushed EIP */
}
END_TEST

/* ---- regressions: bugs this suite found in trapeze, fixed since ---- */

static const uint8_t tablekey[] = {
	/* start: */
	0x31, 0xf6,                              /* 100000  xor esi,esi */
	0xba, 0x03, 0x00, 0x00, 0x00,            /* 100002  mov edx,0x3 */
	/* round: */
	0xb9, 0xe8, 0x03, 0x00, 0x00,            /* 100007  mov ecx,0x3e8 */
	/* hot: */
	0xe8, 0x1d, 0x00, 0x00, 0x00,            /* 10000c  call f */
	0xe2, 0xf9,                              /* 100011  loop hot */
	0x0f, 0x20, 0xc0,                        /* 100013  mov eax,cr0 */
	0x83, 0xc8, 0x08,                        /* 100016  or eax,0x8 */
	0x0f, 0x22, 0xc0,                        /* 100019  mov cr0,eax */
	0xe8, 0x0d, 0x00, 0x00, 0x00,            /* 10001c  call f */
	0x83, 0xe0, 0xf7,                        /* 100021  and eax,0xfffffff7 */
	0x0f, 0x22, 0xc0,                        /* 100024  mov cr0,eax */
	0x4a,                                    /* 100027  dec edx */
	0x75, 0xdd,                              /* 100028  jne round */
	0x89, 0xf0,                              /* 10002a  mov eax,esi */
	0xe6, 0xf4,                              /* 10002c  out 0xf4,al */
	/* f: */
	0x46,                                    /* 10002e  inc esi */
	0xc3,                                    /* 10002f  ret */
};

/* Regression (was a bug in codecache.c cc_set_table_key / cpu.c cpu_run): the indirect-branch table
 * is filled only when a block is committed, and emptied when its (CS base, mode) key
 * changes. Setting and clearing CR0.TS (part of the mode) switches the key away and
 * back; blocks translated before never re-enter the table, and a miss found by the
 * dispatcher does not refill it, so every later return to them leaves the code cache:
 * 3 x 1000 call/ret pairs with two TS toggles give about 1000 lookup misses instead of
 * a handful. Correct results, but each miss is a full monitor exit (a guest kernel
 * doing lazy FPU switching toggles TS at every context switch). */
START_TEST(lookup_table_refilled_after_key_switch)
{
	ck_assert_int_eq(tvm_run_code(&vm, tablekey, sizeof(tablekey)), TVM_EXIT(3003 & 0xff));
	ck_assert_uint_eq(REG(R_ESI), 3003);
	ck_assert_uint_lt(vm.stats.lookup_misses, 50);
}
END_TEST

static Suite *codecache_suite(void)
{
	Suite *s = suite_create("codecache");
	struct { const char *name; const TTest *t[8]; } groups[] = {
		{ "lookup", { lookup_by_eip_cs_base_and_mode, lookup_table_entries } },
		{ "chain", { chain_patches_and_records_incoming, dispatcher_chains_on_first_exit } },
		{ "invalidate", { invalidate_page_removes_every_block,
				  invalidate_page_unchains_other_pages,
				  write_phys_invalidates_chained_target,
				  protection_released_with_last_block,
				  spanning_block_invalidated_from_either_page,
				  guest_patches_spanning_block_on_either_page,
				  oneshot_block_is_not_listed } },
		{ "detach", { detach_closes_the_guard } },
		{ "flush", { flush_empties_everything, small_cache_flushes_while_running } },
		{ "addresses", { block_at_and_side_lookup, fault_host_eip_maps_to_guest_eip,
				 side_lookup_in_a_continuation_guard } },
		{ "regressions", { lookup_table_refilled_after_key_switch } },
	};
	size_t ngroups = sizeof(groups) / sizeof(groups[0]);
	for (size_t g = 0; g < ngroups; g++) {
		TCase *tc = tcase_create(groups[g].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 30);
		for (int i = 0; i < 8 && groups[g].t[i]; i++)
			tcase_add_test(tc, groups[g].t[i]);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codecache_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * test_ptsnap.c - the copies of page-table entries a slot's mappings were made from
 * (shadowmmu/ptsnap.h): a snapshot holds while the entries equal their copies and the
 * key is the same, fails on any change of an entry some mapping depends on, and goes
 * invalid where it cannot keep its invariant (one entry read with two values by two
 * mappings, too many pages, a removal it never saw).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../shadowmmu/ptsnap.h"

#define PAGES 32
static uint8_t ram[PAGES * 4096];
static struct ptsnap *s;
static const struct ptsnap_key key = { .v = { 0x1000 } };

static uint32_t rd32(uint32_t pa) { uint32_t v; memcpy(&v, ram + pa, 4); return v; }
static void wr32(uint32_t pa, uint32_t v) { memcpy(ram + pa, &v, 4); }

/* A mapping whose walk read the directory entry at pde and the table entry at pte
 * as they are now. */
static void ref_now(uint32_t pde, uint32_t pte)
{
	ptsnap_ref(s, ram, pde, rd32(pde), 4);
	ptsnap_ref(s, ram, pte, rd32(pte), 4);
}

static void setup(void)
{
	for (uint32_t i = 0; i < sizeof(ram) / 4; i++)
		wr32(i * 4, i * 0x01010101u + 0x27);
	s = ptsnap_new();
	ck_assert_ptr_nonnull(s);
	ptsnap_rebuild_begin(s, &key);
}

static void teardown(void)
{
	ptsnap_free(s);
}

START_TEST(holds_until_an_entry_changes)
{
	ref_now(0x1000, 0x2000);
	ref_now(0x1000, 0x2004);
	ref_now(0x1004, 0x3ff8);
	ck_assert(ptsnap_holds(s, ram, &key));
	/* Entries nobody depends on, in other lines: no matter. */
	wr32(0x2800, 1);
	wr32(0x3000, 1);
	wr32(0x3f80, 1);
	ck_assert(ptsnap_holds(s, ram, &key));
	/* A table entry, then a directory entry, some mapping read. */
	wr32(0x2004, rd32(0x2004) ^ 0x20);      /* A cleared, say */
	ck_assert(!ptsnap_holds(s, ram, &key));
	wr32(0x2004, rd32(0x2004) ^ 0x20);
	ck_assert(ptsnap_holds(s, ram, &key));
	wr32(0x1004, 0);
	ck_assert(!ptsnap_holds(s, ram, &key));
}
END_TEST

START_TEST(another_key_does_not_hold)
{
	ref_now(0x1000, 0x2000);
	struct ptsnap_key other = { .v = { 0x5000 } }, pae = key;
	pae.pae = true;
	ck_assert(!ptsnap_holds(s, ram, &other));
	ck_assert(!ptsnap_holds(s, ram, &pae));
	ck_assert(ptsnap_holds(s, ram, &key));
}
END_TEST

/* The directory entry changed between two mappings' walks: the copy cannot serve both
 * (the first mapping would be kept on the second's value), so the snapshot gives up. */
START_TEST(two_values_of_one_entry_invalidate)
{
	ref_now(0x1000, 0x2000);
	wr32(0x1000, 0x7007);
	ref_now(0x1000, 0x7800);
	ck_assert(!ptsnap_valid(s));
	ck_assert(!ptsnap_holds(s, ram, &key));
}
END_TEST

/* Once nobody depends on an entry, a new value of it is the copy. */
START_TEST(unref_frees_an_entry)
{
	ref_now(0x1000, 0x2000);
	ptsnap_unref(s, 0x1000);
	ptsnap_unref(s, 0x2000);
	wr32(0x1000, 0x7007);
	wr32(0x2000, 0x9007);
	ref_now(0x1000, 0x2000);
	ck_assert(ptsnap_valid(s));
	ck_assert(ptsnap_holds(s, ram, &key));
	/* Two mappings through one table entry (a table under two directory entries):
	 * the same value serves both, and one going leaves the other's copy. */
	ref_now(0x1008, 0x2000);
	ptsnap_unref(s, 0x1008);
	ptsnap_unref(s, 0x2000);
	wr32(0x2000, 0x1234);
	ck_assert(!ptsnap_holds(s, ram, &key));
}
END_TEST

START_TEST(unref_of_unknown_invalidates)
{
	ref_now(0x1000, 0x2000);
	ptsnap_unref(s, 0x6000);
	ck_assert(!ptsnap_valid(s));
	ptsnap_rebuild_begin(s, &key);
	ref_now(0x1000, 0x2000);
	ptsnap_unref(s, 0x2000);
	ptsnap_unref(s, 0x2000);        /* once too often */
	ck_assert(!ptsnap_valid(s));
}
END_TEST

START_TEST(too_many_pages_invalidate)
{
	for (uint32_t p = 0; p < PTSNAP_PAGES; p++)
		ptsnap_ref(s, ram, 0x1000 + p * 0x1000, rd32(0x1000 + p * 0x1000), 4);
	ck_assert(ptsnap_valid(s));
	ptsnap_ref(s, ram, 0x1000 + PTSNAP_PAGES * 0x1000, 0, 4);
	ck_assert(!ptsnap_valid(s));
}
END_TEST

/* PAE: 8-byte entries; a change of the high half counts (XD, physical bits). */
START_TEST(pae_entries_whole)
{
	struct ptsnap_key k = { .v = { 0x1001, 0, 0, 0 }, .pae = true };
	ptsnap_rebuild_begin(s, &k);
	uint64_t v;
	memcpy(&v, ram + 0x2008, 8);
	ptsnap_ref(s, ram, 0x2008, v, 8);
	ck_assert(ptsnap_holds(s, ram, &k));
	ram[0x2008 + 7] ^= 0x80;
	ck_assert(!ptsnap_holds(s, ram, &k));
}
END_TEST

/* Lines are kept whole: an entry nobody reads next to one somebody does counts (a
 * flush then checks page by page); lines far apart are kept, the ones between not. */
START_TEST(lines_kept_whole)
{
	ref_now(0x1000, 0x2400);
	ref_now(0x1000, 0x2ffc);
	ck_assert(ptsnap_holds(s, ram, &key));
	wr32(0x2404, 5);                        /* the same line as 0x2400, nobody's */
	ck_assert(!ptsnap_holds(s, ram, &key));
	wr32(0x2404, 0x2404 / 4 * 0x01010101u + 0x27);
	ck_assert(ptsnap_holds(s, ram, &key));
	wr32(0x2800, 5);                        /* a line between */
	ck_assert(ptsnap_holds(s, ram, &key));
	wr32(0x2ffc, 5);                        /* the last entry of the page */
	ck_assert(!ptsnap_holds(s, ram, &key));
}
END_TEST

int main(void)
{
	Suite *su = suite_create("ptsnap");
	TCase *tc = tcase_create("ptsnap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, holds_until_an_entry_changes);
	tcase_add_test(tc, another_key_does_not_hold);
	tcase_add_test(tc, two_values_of_one_entry_invalidate);
	tcase_add_test(tc, unref_frees_an_entry);
	tcase_add_test(tc, unref_of_unknown_invalidates);
	tcase_add_test(tc, too_many_pages_invalidate);
	tcase_add_test(tc, pae_entries_whole);
	tcase_add_test(tc, lines_kept_whole);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * test_virtio.c - the split virtqueue (devices/virtio.c) on a fake guest RAM of 64 KiB:
 * queue sizes (powers of two up to 256 only) and ring placement, a chain taken and
 * given back (used ring, indexes), an indirect table, and the hostile chains: loops,
 * indexes out of range, buffers outside RAM or wrapping, nested or empty indirect
 * tables, an available index too far ahead. Writable buffers are mapped for writing
 * (the monitor drops translated code there) and readable ones are not.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../devices/virtio.h"

#define RAM   0x10000u
#define DESC  0x1000u
#define AVAIL 0x2000u
#define USED  0x3000u
#define NUM   16

static uint8_t ram[RAM];
static int write_maps;
static struct virtq q;
static struct virtq_chain c;

static void *fake_map(void *opaque, uint64_t pa, uint64_t len, bool write)
{
	(void)opaque;
	if (pa > RAM || len > RAM - pa)
		return NULL;
	write_maps += write;
	return ram + pa;
}
static const struct dma_space dma = { fake_map, NULL };

static void desc(int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = ram + DESC + 16 * i;
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

/* Offer head as the next available entry (the ring's idx one further). */
static void offer(uint16_t head)
{
	uint16_t idx;
	memcpy(&idx, ram + AVAIL + 2, 2);
	memcpy(ram + AVAIL + 4 + 2 * (idx % NUM), &head, 2);
	idx++;
	memcpy(ram + AVAIL + 2, &idx, 2);
}

static void setup(void)
{
	memset(ram, 0, sizeof(ram));
	write_maps = 0;
	ck_assert(virtq_setup(&q, &dma, NUM, DESC, AVAIL, USED));
}

START_TEST(sizes_and_placement)
{
	struct virtq v;
	ck_assert(!virtq_setup(&v, &dma, 0, DESC, AVAIL, USED));
	ck_assert(!virtq_setup(&v, &dma, 3, DESC, AVAIL, USED));
	ck_assert(!virtq_setup(&v, &dma, 24, DESC, AVAIL, USED));
	ck_assert(!virtq_setup(&v, &dma, 512, DESC, AVAIL, USED));
	ck_assert_int_eq(v.num, 0);
	ck_assert(virtq_setup(&v, &dma, 256, DESC, AVAIL, USED));
	ck_assert(!virtq_setup(&v, &dma, NUM, RAM - 8 * NUM, AVAIL, USED));    /* table past the end */
	ck_assert(!virtq_setup(&v, &dma, NUM, DESC, AVAIL, RAM - 8));
	ck_assert(!virtq_setup(&v, &dma, NUM, DESC, 0xfffffffffffffff0ull, USED));
}
END_TEST

START_TEST(chain_and_used)
{
	desc(0, 0x4000, 16, 1, 1);              /* readable, NEXT */
	desc(1, 0x5000, 512, 3, 2);             /* writable, NEXT */
	desc(2, 0x6000, 1, 2, 0);               /* writable */
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), 0);
	offer(0);
	ck_assert(virtq_has_avail(&q, &dma));
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), 1);
	ck_assert_uint_eq(c.nread, 1);
	ck_assert_uint_eq(c.nwrite, 2);
	ck_assert_uint_eq(c.read_len, 16);
	ck_assert_uint_eq(c.write_len, 513);
	ck_assert_int_eq(write_maps, 2);
	ck_assert_ptr_eq(c.seg[1].p, ram + 0x5000);
	ck_assert(!virtq_has_avail(&q, &dma));
	uint8_t b = 0x5a;
	ck_assert_uint_eq(virtq_chain_write(&c, 512, &b, 1), 1);
	ck_assert_uint_eq(ram[0x6000], 0x5a);
	ck_assert(virtq_push(&q, &dma, c.head, 513));
	uint16_t used_idx;
	uint32_t elem[2];
	memcpy(&used_idx, ram + USED + 2, 2);
	memcpy(elem, ram + USED + 4, 8);
	ck_assert_uint_eq(used_idx, 1);
	ck_assert_uint_eq(elem[0], 0);
	ck_assert_uint_eq(elem[1], 513);
	ck_assert(virtq_wants_interrupt(&q, &dma));
	ram[AVAIL] = 1;                         /* VIRTQ_AVAIL_F_NO_INTERRUPT */
	ck_assert(!virtq_wants_interrupt(&q, &dma));
}
END_TEST

START_TEST(indirect)
{
	uint8_t *t = ram + 0x7000;
	uint64_t a = 0x4000;
	uint32_t l = 16;
	uint16_t f = 1, n = 1;
	memcpy(t, &a, 8); memcpy(t + 8, &l, 4); memcpy(t + 12, &f, 2); memcpy(t + 14, &n, 2);
	a = 0x5000; l = 1; f = 2;
	memcpy(t + 16, &a, 8); memcpy(t + 24, &l, 4); memcpy(t + 28, &f, 2);
	desc(3, 0x7000, 32, 4, 0);
	offer(3);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), 1);
	ck_assert_uint_eq(c.head, 3);
	ck_assert_uint_eq(c.read_len, 16);
	ck_assert_uint_eq(c.write_len, 1);
}
END_TEST

START_TEST(hostile)
{
	desc(0, 0x4000, 16, 1, 0);              /* loops on itself */
	offer(0);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -ELOOP);
	desc(0, 0x4000, 16, 1, NUM);            /* next out of range */
	offer(0);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -EPROTO);
	desc(0, RAM - 8, 16, 0, 0);             /* past the end of RAM */
	offer(0);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -EFAULT);
	desc(0, 0xfffffffffffffff0ull, 0x20, 0, 0);     /* wraps */
	offer(0);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -EFAULT);
	desc(0, 0x5000, 1, 3, 1);               /* readable after writable */
	desc(1, 0x4000, 16, 0, 0);
	offer(0);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -EPROTO);
	desc(0, DESC, 32, 4, 0);                /* indirect table holding an indirect one */
	offer(0);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -EPROTO);
	desc(0, 0x7000, 0, 4, 0);               /* empty indirect table */
	offer(0);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -EPROTO);
	desc(0, 0x7000, 16, 4 | 1, 1);          /* indirect with NEXT */
	offer(0);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -EPROTO);
	ck_assert_uint_eq(q.last_avail, 8);
	uint16_t idx = (uint16_t)(q.last_avail + NUM + 1);     /* a queue and more ahead */
	memcpy(ram + AVAIL + 2, &idx, 2);
	ck_assert_int_eq(virtq_pop(&q, &dma, &c), -EPROTO);
}
END_TEST

static Suite *virtio_suite(void)
{
	Suite *s = suite_create("virtio");
	TCase *tc = tcase_create("virtq");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, sizes_and_placement);
	tcase_add_test(tc, chain_and_used);
	tcase_add_test(tc, indirect);
	tcase_add_test(tc, hostile);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(virtio_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

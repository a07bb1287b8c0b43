/*
 * para_block.c - the para-x86 block device (docs/para-x86.md, sections 3 and 8) on a
 * 64 KiB image whose 4 KiB block b holds the words (b << 16) | k, k = 0..1023
 * (run-para-block.sh makes it). With "ro" on the command line the image is read-only.
 *
 * Checks: the device record, ring_setup's refusals, a read, a batch of reads with one
 * notify and one event, a write read back (or EROFS), a flush, the per-request errors,
 * and a ring whose producer index is absurd: EBUSY, and the VM goes on. The script
 * checks afterwards that the write (flushed) reached the image.
 */
#include <stdbool.h>

#include "pguest.h"

#define BLOCKS  16u
#define WRITTEN 5u              /* the block the write test fills with 0x5a5a0000 | k */

struct blk_req { uint32_t id; uint16_t op, zero; uint32_t block, buf; };
struct blk_rsp { uint32_t id; int32_t status; };
struct ring {
	volatile uint32_t req_prod, req_cons, rsp_prod, rsp_cons;
	uint8_t pad[48];
	union { struct blk_req q; struct blk_rsp a; uint8_t raw[64]; } slot[63];
};

static struct ring ring __attribute__((aligned(4096)));
static uint32_t buf[9][1024] __attribute__((aligned(4096)));

static bool readonly(void)
{
	const char *c = (const char *)start->cmdline;
	return c[0] == 'r' && c[1] == 'o' && c[2] == 0;
}

/* Post one request (not yet notified); its slot. */
static unsigned post(uint32_t id, uint16_t op, uint32_t block, uint32_t b)
{
	unsigned s = ring.req_prod % 63;
	ring.slot[s].q = (struct blk_req){ id, op, 0, block, b };
	ring.req_prod++;
	return s;
}

/* One request, notified alone: its response status. */
static int32_t one(uint16_t op, uint32_t block, uint32_t b)
{
	unsigned s = post(0x77, op, block, b);
	int32_t n = hc_ring_notify(0);
	if (n != 1)
		return 1000 + n;
	return ring.slot[s].a.id == 0x77 ? ring.slot[s].a.status : 2000;
}

static bool block_is(const uint32_t *b, uint32_t block)
{
	for (uint32_t k = 0; k < 1024; k++)
		if (b[k] != (block << 16 | k))
			return false;
	return true;
}

static void test_device(void)
{
	check_eq("ndev", start->ndev, 1);
	check_eq("dev-type", start->dev[0].type, PARA_DEV_BLOCK);
	check_eq("dev-blocks", start->dev[0].a, BLOCKS);
	check_eq("dev-event", start->dev[0].event, PARA_EVENT_DEVICE);
	check_eq("dev-readonly-flag", start->dev[0].flags & 1, readonly());
	check_err("setup-dev-1", hc_ring_setup(1, (uint32_t)&ring, 0), PARA_EINVAL);
	check_err("setup-unaligned", hc_ring_setup(0, (uint32_t)&ring + 64, 0), PARA_EINVAL);
	check_err("setup-outside-ram", hc_ring_setup(0, start->mem_size, 0), PARA_EFAULT);
	check_err("notify-before-setup", hc_ring_notify(0), PARA_EINVAL);
	check_eq("setup", hc_ring_setup(0, (uint32_t)&ring, 0), 0);
	check_eq("setup-zeroes-indices", ring.req_prod | ring.req_cons | ring.rsp_prod, 0);
}

static void test_reads(void)
{
	hc_event_ack(~0u);
	check_eq("read-one", one(0, 3, (uint32_t)buf[0]), 0);
	check(block_is(buf[0], 3), "read-one-data");
	check_eq("read-event", hc_event_ack(1u << PARA_EVENT_DEVICE) >> PARA_EVENT_DEVICE & 1, 1);
	/* A batch: eight reads, one notify, one event. */
	unsigned first = ring.req_prod;
	for (uint32_t k = 0; k < 8; k++)
		post(100 + k, 0, k, (uint32_t)buf[1 + k]);
	check_eq("batch-notify-count", hc_ring_notify(0), 8);
	bool ok = true;
	for (uint32_t k = 0; k < 8; k++) {
		struct blk_rsp a = ring.slot[(first + k) % 63].a;
		ok = ok && a.id == 100 + k && a.status == 0 && block_is(buf[1 + k], k);
	}
	check(ok, "batch-responses-and-data");
	check_eq("batch-indices", ring.req_cons == ring.req_prod && ring.rsp_prod == ring.req_prod, 1);
	check_eq("notify-nothing-posted", hc_ring_notify(0), 0);
}

static void test_write(void)
{
	for (uint32_t k = 0; k < 1024; k++)
		buf[0][k] = 0x5a5a0000u | k;
	if (readonly()) {
		check_err("write-readonly", one(1, WRITTEN, (uint32_t)buf[0]), PARA_EROFS);
		check_eq("reread-after-refused-write", one(0, WRITTEN, (uint32_t)buf[1]), 0);
		check(block_is(buf[1], WRITTEN), "refused-write-left-block");
	} else {
		check_eq("write", one(1, WRITTEN, (uint32_t)buf[0]), 0);
		check_eq("reread", one(0, WRITTEN, (uint32_t)buf[1]), 0);
		check(memcmp(buf[0], buf[1], 4096) == 0, "reread-data");
	}
	check_eq("flush", one(2, 0, 0), 0);
}

static void test_bad_requests(void)
{
	check_err("read-past-end", one(0, BLOCKS, (uint32_t)buf[0]), PARA_EIO);
	check_err("read-block-ffffffff", one(0, 0xffffffffu, (uint32_t)buf[0]), PARA_EIO);
	check_err("buf-unaligned", one(0, 1, (uint32_t)buf[0] + 8), PARA_EFAULT);
	check_err("buf-outside-ram", one(0, 1, start->mem_size), PARA_EFAULT);
	check_err("buf-at-4g", one(0, 1, 0xfffff000u), PARA_EFAULT);
	check_err("bad-op", one(7, 1, (uint32_t)buf[0]), PARA_EINVAL);
	check_err("notify-dev-8", hc_ring_notify(8), PARA_EINVAL);
	/* An absurd producer index breaks the ring, and only the ring. */
	ring.req_prod += 1000;
	check_err("absurd-index-busy", hc_ring_notify(0), PARA_EBUSY);
	check_err("broken-stays-busy", hc_ring_notify(0), PARA_EBUSY);
	check_eq("console-after-broken-ring", hc_console_write("ok\n", 3), 3);
	/* A ring set up again starts over. */
	check_eq("setup-again", hc_ring_setup(0, (uint32_t)&ring, 0), 0);
	check_eq("read-after-setup-again", one(0, 2, (uint32_t)buf[0]), 0);
	check(block_is(buf[0], 2), "read-after-setup-again-data");
}

void test_main(void)
{
	test_device();
	test_reads();
	test_write();
	test_bad_requests();
}

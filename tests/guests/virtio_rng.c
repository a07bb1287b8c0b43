/*
 * virtio_rng.c - a virtio entropy device on PCI through the legacy interface (Virtio
 * 1.2, 5.4): found as 1af4:1005 with subsystem 4, one queue; a 64-byte buffer comes
 * back filled (used length 64, not all zero, different the next time), a chain of two
 * buffers is filled across both, the ISR says so.
 *
 * run-virtio-rng.sh runs it under QEMU (-device virtio-rng-pci) and trapeze (--rng);
 * without the device (run-guest.sh) it checks only that none is there.
 */
#include "virtio.h"

#define DEVICE_RNG 0x1005

static uint8_t ring[VQ_MEM] __attribute__((aligned(4096)));
static uint8_t buf[2][64];

static bool all_zero(const uint8_t *p, int n)
{
	for (int i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* One request: the chain of n buffers of len bytes from buf[0]; used length or -1. */
static int request(struct vq *q, int n, uint32_t len)
{
	for (int k = 0; k < n; k++)
		q->desc[k] = (struct desc){ (uint32_t)buf[k], len, D_WRITE | (k + 1 < n ? D_NEXT : 0),
					    (uint16_t)(k + 1) };
	vq_offer(q, 0);
	vq_kick(q);
	return vq_wait(q) ? (int)q->last_len : -1;
}

void test_main(void)
{
	guest_init();
	idt_init();
	int slot = vio_find(DEVICE_RNG);
	if (slot < 0) {
		pass("no-virtio-rng");
		return;
	}
	pass("virtio-rng-found");
	check_eq("pci-subsystem", pci_rd(slot, 0x2c), 0x00041af4);
	uint16_t io = vio_bar(slot, 0xc000);
	struct vq q;
	vio_reset(io, 0);
	vq_init(&q, io, 0, ring);
	check(q.num && !(q.num & (q.num - 1)), "queue-size-power-of-two");
	vio_driver_ok(io);
	(void)inb(io + R_ISR);

	check_eq("read-64", (uint32_t)request(&q, 1, 64), 64);
	check(!all_zero(buf[0], 64), "read-64-not-zero");
	check_eq("isr-used", inb(io + R_ISR), 1);
	check_eq("isr-read-clears", inb(io + R_ISR), 0);
	uint8_t first[64];
	memcpy(first, buf[0], 64);
	memset(buf, 0, sizeof(buf));
	check_eq("read-2x32", (uint32_t)request(&q, 2, 32), 64);
	check(!all_zero(buf[0], 32) && !all_zero(buf[1], 32), "read-2x32-both-filled");
	memset(buf, 0, sizeof(buf));
	request(&q, 1, 64);
	check(memcmp(first, buf[0], 64) != 0, "read-differs");
}

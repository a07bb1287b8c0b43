/*
 * virtio_blk.c - a virtio block device on PCI through the legacy interface (Virtio
 * 1.2, 4.1.4.10; 2.7 split virtqueues; 5.2 the block device), as a driver uses it:
 * the PCI scan finds 1af4:1001 (subsystem 2), BAR 0 is I/O; reset, feature
 * negotiation, the queue's page, DRIVER_OK; reads (one and several data buffers, an
 * indirect table), writes read back, FLUSH, GET_ID, an unknown type, requests past the
 * end or not whole sectors; the ISR (read clears it, INTx follows it through the PCI
 * status bit and the 8259's IRR, level-triggered as a BIOS leaves the ELCR) and
 * VIRTQ_AVAIL_F_NO_INTERRUPT. Then
 * the same function through the modern interface (4.1.4): its vendor capabilities,
 * VERSION_1 and FEATURES_OK, a queue of 64 entries with its three areas apart, reads,
 * writes, FLUSH, the ISR region, and the ring's indexes wrapping.
 *
 * run-virtio.sh gives it a disk of DISK_SECTORS sectors, each filled with its LBA as
 * 32-bit words, under QEMU (-device virtio-blk-pci, serial trapeze-vda) and trapeze
 * (--disk IMG,if=virtio), read-write and read-only: with VIRTIO_BLK_F_RO every write
 * must answer IOERR. Checks named "hostile-..." run under trapeze only (QEMU's answers
 * to a broken driver are its own): rings and buffers outside RAM, loops, indexes out
 * of range, an available index too far ahead, nested indirect tables, a missing status
 * byte; each must leave the device needing a reset (status bit 0x40, a configuration
 * interrupt) and serving nothing until the reset, and work again after it. Without a
 * device (run-guest.sh) it checks only that none is there.
 */
#include <stdbool.h>

#include "irq.h"
#include "virtio.h"

#define DISK_SECTORS    2048u           /* run-virtio.sh makes the image this size */
#define DEVICE_BLK      0x1001

#define F_SEG_MAX       2
#define F_RO            5
#define F_BLK_SIZE      6
#define F_FLUSH         9
#define T_IN            0
#define T_OUT           1
#define T_FLUSH         4
#define T_GET_ID        8
#define S_OK            0
#define S_IOERR         1
#define S_UNSUPP        2
#define NO_ANSWER       0x100           /* blk(): no used entry came */

struct hdr {
	uint32_t type, reserved;
	uint64_t sector;
} __attribute__((packed));

static uint8_t ring[VQ_MEM] __attribute__((aligned(4096)));
static struct desc itable[8] __attribute__((aligned(16)));
static uint8_t data[8 * 512] __attribute__((aligned(4096)));
static struct hdr hd;
static volatile uint8_t status;

static int slot = -1;
static uint16_t io;
static struct vq vq;
static bool ro;

/* Reset, negotiate want & offered, set queue 0 up, DRIVER_OK. */
static void bring_up(uint32_t want)
{
	vio_reset(io, want);
	vq_init(&vq, io, 0, ring);
	vio_driver_ok(io);
}

/* Offer the chain at descriptor head, kick, wait for its used entry: the status byte,
 * or NO_ANSWER. */
static int submit(uint16_t head)
{
	vq_offer(&vq, head);
	vq_kick(&vq);
	return vq_wait(&vq) ? status : NO_ANSWER;
}

/* A request of type at sector, len bytes of data at buf (none if len is 0), as a
 * header, data and status chain in descriptors 0-2; nbufs splits the data in two. */
static int blk(uint32_t type, uint64_t sector, void *buf, uint32_t len, int nbufs)
{
	hd = (struct hdr){ type, 0, sector };
	status = 0xff;
	uint16_t dflags = type == T_OUT ? 0 : D_WRITE;
	int n = 0;
	vq.desc[n] = (struct desc){ (uint32_t)&hd, sizeof(hd), D_NEXT, 1 };
	n++;
	if (len) {
		uint32_t first = nbufs == 2 ? len / 2 : len;
		vq.desc[n] = (struct desc){ (uint32_t)buf, first, dflags | D_NEXT, (uint16_t)(n + 1) };
		n++;
		if (nbufs == 2) {
			vq.desc[n] = (struct desc){ (uint32_t)buf + first, len - first, dflags | D_NEXT,
						  (uint16_t)(n + 1) };
			n++;
		}
	}
	vq.desc[n] = (struct desc){ (uint32_t)&status, 1, D_WRITE, 0 };
	return submit(0);
}

/* Is every word of sector lba in buf its LBA (the image as made) plus add? */
static bool sector_is(const uint8_t *buf, uint32_t lba, uint32_t add)
{
	const uint32_t *w = (const uint32_t *)buf;
	for (int i = 0; i < 128; i++)
		if (w[i] != lba + add)
			return false;
	return true;
}

static void fill(uint8_t *buf, uint32_t v)
{
	uint32_t *w = (uint32_t *)buf;
	for (int i = 0; i < 128; i++)
		w[i] = v;
}

static void test_pci(void)
{
	uint32_t id = pci_rd(slot, 0x2c);
	check_eq("pci-subsystem", id, 0x00021af4);
	check_eq("pci-revision", pci_rd(slot, 0x08) & 0xff, 0);
	check_eq("pci-int-pin", pci_rd(slot, 0x3c) >> 8 & 0xff, 1);
	uint32_t bar = pci_rd(slot, 0x10);
	check(bar & 1, "pci-bar0-io");
	pci_wr(slot, 0x10, 0xffffffffu);
	uint32_t mask = pci_rd(slot, 0x10);
	check((mask & 1) && (~(mask & ~3u) + 1) >= 0x40, "pci-bar0-size");
	pci_wr(slot, 0x10, bar);
	io = vio_bar(slot, 0xc000);
}

static void test_setup(void)
{
	outb(io + R_STATUS, 0);
	check_eq("reset-status", inb(io + R_STATUS), 0);
	uint32_t f = inl(io + R_HOST_F);
	ro = f & (1u << F_RO);
	check(f & (1u << F_FLUSH), "features-flush");
	check(f & (1u << F_BLK_SIZE), "features-blk-size");
	check(f & (1u << F_INDIRECT), "features-indirect");
	bring_up(1u << F_FLUSH | 1u << F_BLK_SIZE | 1u << F_SEG_MAX | 1u << F_RO | 1u << F_INDIRECT);
	check_eq("guest-features", inl(io + R_GUEST_F),
		 (1u << F_FLUSH | 1u << F_BLK_SIZE | 1u << F_SEG_MAX | 1u << F_INDIRECT) | (ro ? 1u << F_RO : 0));
	check(vq.num && vq.num <= 1024 && !(vq.num & (vq.num - 1)), "queue-size-power-of-two");
	check_eq("queue-pfn", inl(io + R_PFN), (uint32_t)ring >> 12);
	outw(io + R_QSEL, 1);
	check_eq("queue1-absent", inw(io + R_QNUM), 0);
	outw(io + R_QSEL, 0);
	check_eq("status-driver-ok", inb(io + R_STATUS), ST_ACK | ST_DRIVER | ST_DRIVER_OK);
	check_eq("capacity-lo", inl(io + R_CONFIG), DISK_SECTORS);
	check_eq("capacity-hi", inl(io + R_CONFIG + 4), 0);
	check_eq("blk-size", inl(io + R_CONFIG + 20), 512);
}

static void test_reads(void)
{
	memset(data, 0, sizeof(data));
	check_eq("read-0", blk(T_IN, 0, data, 512, 1), S_OK);
	check(sector_is(data, 0, 0), "read-0-data");
	check_eq("read-0-used-len", vq.last_len, 513);
	memset(data, 0, sizeof(data));
	check_eq("read-100x8-two-buffers", blk(T_IN, 100, data, 8 * 512, 2), S_OK);
	bool ok = true;
	for (int i = 0; i < 8; i++)
		ok &= sector_is(data + 512 * i, 100 + i, 0);
	check(ok, "read-100x8-data");
	check_eq("read-last", blk(T_IN, DISK_SECTORS - 1, data, 512, 1), S_OK);
	check(sector_is(data, DISK_SECTORS - 1, 0), "read-last-data");
	check_eq("read-past-end", blk(T_IN, DISK_SECTORS, data, 512, 1), S_IOERR);
	check_eq("read-across-end", blk(T_IN, DISK_SECTORS - 1, data, 1024, 1), S_IOERR);
	check_eq("read-huge-sector", blk(T_IN, ~0ull, data, 512, 1), S_IOERR);
	check_eq("read-not-whole-sectors", blk(T_IN, 0, data, 100, 1), S_IOERR);
	check_eq("read-empty", blk(T_IN, 0, data, 0, 1), S_OK);

	/* The same read through an indirect table (2.7.5.3). */
	memset(data, 0, sizeof(data));
	hd = (struct hdr){ T_IN, 0, 7 };
	status = 0xff;
	itable[0] = (struct desc){ (uint32_t)&hd, sizeof(hd), D_NEXT, 1 };
	itable[1] = (struct desc){ (uint32_t)data, 512, D_WRITE | D_NEXT, 2 };
	itable[2] = (struct desc){ (uint32_t)&status, 1, D_WRITE, 0 };
	vq.desc[5] = (struct desc){ (uint32_t)itable, 3 * sizeof(struct desc), D_INDIRECT, 0 };
	check_eq("read-indirect", submit(5), S_OK);
	check(sector_is(data, 7, 0), "read-indirect-data");
}

static void test_writes(void)
{
	int want = ro ? S_IOERR : S_OK;
	fill(data, 0xa5000000u + 5);
	fill(data + 512, 0xa5000000u + 6);
	check_eq("write-5x2", blk(T_OUT, 5, data, 1024, 2), want);
	check_eq("write-used-len", vq.last_len, 1);
	memset(data, 0, sizeof(data));
	blk(T_IN, 5, data, 1024, 1);
	check(sector_is(data, 5, ro ? 0 : 0xa5000000u) &&
	      sector_is(data + 512, 6, ro ? 0 : 0xa5000000u), "write-5x2-readback");
	fill(data, 0x5a000000u + DISK_SECTORS - 1);
	check_eq("write-last", blk(T_OUT, DISK_SECTORS - 1, data, 512, 1), want);
	check_eq("write-past-end", blk(T_OUT, DISK_SECTORS, data, 512, 1), S_IOERR);
	check_eq("write-across-end", blk(T_OUT, DISK_SECTORS - 1, data, 1024, 1), S_IOERR);
	check_eq("write-not-whole-sectors", blk(T_OUT, 9, data, 300, 1), S_IOERR);
	check_eq("flush", blk(T_FLUSH, 0, data, 0, 1), S_OK);
}

static void test_misc(void)
{
	memset(data, 0xee, 32);
	check_eq("get-id", blk(T_GET_ID, 0, data, 20, 1), S_OK);
	check(!memcmp(data, "trapeze-vda", 12), "get-id-string");
	check_eq("get-id-used-len", vq.last_len, 21);
	check_eq("unknown-type", blk(0xfe, 0, data, 0, 1), S_UNSUPP);
}

/* The interrupt: ISR bit 0 after a request, INTx seen in the PCI status register and
 * at the 8259 (the line level-triggered in the ELCR, as a BIOS leaves it for PCI);
 * reading the ISR clears all three. With NO_INTERRUPT the ISR stays clear. */
static void test_interrupt(void)
{
	int line = pci_rd(slot, 0x3c) & 0xff;
	check(line >= 3 && line <= 15 && line != 8, "int-line-routed");
	/* A BIOS leaves the line level-triggered in the ELCR (SeaBIOS does). */
	check(inb(0x4d0 + (line >> 3)) & 1 << (line & 7), "elcr-line-level");
	pic_init();
	(void)inb(io + R_ISR);
	blk(T_IN, 0, data, 512, 1);
	bool slave = line >= 8;
	uint8_t bit = (uint8_t)(1 << (line & 7));
	check(pci_rd(slot, 0x04) >> 16 & 0x8, "pci-status-intx");
	check(pic_irr(slave) & bit, "pic-irr-raised");
	check_eq("isr-used", inb(io + R_ISR), 1);
	check_eq("isr-read-clears", inb(io + R_ISR), 0);
	check(!(pci_rd(slot, 0x04) >> 16 & 0x8), "pci-status-intx-clear");
	check(!(pic_irr(slave) & bit), "pic-irr-lowered");
	vq.avail[0] = 1;                           /* VIRTQ_AVAIL_F_NO_INTERRUPT */
	check_eq("no-interrupt-request", blk(T_IN, 0, data, 512, 1), S_OK);
	check_eq("no-interrupt-isr", inb(io + R_ISR), 0);
	vq.avail[0] = 0;
}

/* ---- hostile drivers (trapeze only) ---- */

/* The device failed: no used entry, NEEDS_RESET and a configuration interrupt; a good
 * request is not served either; after a reset the device works again. */
static void expect_failed(const char *name, int got)
{
	bool ok = got == NO_ANSWER && (inb(io + R_STATUS) & ST_NEEDS_RESET) &&
		  (inb(io + R_ISR) & 2);
	outb(io + R_STATUS, inb(io + R_STATUS) | ST_DRIVER_OK);   /* the bit stays */
	ok &= (inb(io + R_STATUS) & ST_NEEDS_RESET) != 0;
	ok &= blk(T_IN, 0, data, 512, 1) == NO_ANSWER;
	bring_up(1u << F_FLUSH | 1u << F_INDIRECT);
	ok &= !(inb(io + R_STATUS) & ST_NEEDS_RESET);
	memset(data, 0, 512);
	ok &= blk(T_IN, 3, data, 512, 1) == S_OK && sector_is(data, 3, 0);
	check(ok, name);
}

/* One descriptor d as a whole chain (the header, missing the rest). */
static int chain_of(struct desc d0, struct desc d1, struct desc d2)
{
	hd = (struct hdr){ T_IN, 0, 0 };
	status = 0xff;
	vq.desc[0] = d0;
	vq.desc[1] = d1;
	vq.desc[2] = d2;
	return submit(0);
}

static void test_hostile(void)
{
	struct desc h = { (uint32_t)&hd, sizeof(hd), D_NEXT, 1 };
	struct desc st = { (uint32_t)&status, 1, D_WRITE, 0 };
	struct desc d = { (uint32_t)data, 512, D_WRITE | D_NEXT, 2 };

	bring_up(1u << F_FLUSH | 1u << F_INDIRECT);     /* the legacy interface again */

	expect_failed("hostile-buffer-outside-ram",
		      chain_of(h, (struct desc){ 0xf0000000u, 512, D_WRITE | D_NEXT, 2 }, st));
	expect_failed("hostile-buffer-above-4g",
		      chain_of(h, (struct desc){ 0x100000000ull, 512, D_WRITE | D_NEXT, 2 }, st));
	expect_failed("hostile-length-wraps",
		      chain_of(h, (struct desc){ 0xfffffffffffff000ull, 0x2000, D_WRITE | D_NEXT, 2 }, st));
	expect_failed("hostile-length-huge",
		      chain_of(h, (struct desc){ (uint32_t)data, 0xffffffffu, D_WRITE | D_NEXT, 2 }, st));
	expect_failed("hostile-chain-loops",
		      chain_of(h, (struct desc){ (uint32_t)data, 512, D_WRITE | D_NEXT, 1 }, st));
	expect_failed("hostile-next-out-of-range",
		      chain_of(h, (struct desc){ (uint32_t)data, 512, D_WRITE | D_NEXT, 4000 }, st));
	expect_failed("hostile-readable-after-writable",
		      chain_of(h, d, (struct desc){ (uint32_t)&status, 1, 0, 0 }));
	expect_failed("hostile-no-status-byte",
		      chain_of((struct desc){ (uint32_t)&hd, sizeof(hd), 0, 0 }, d, st));
	expect_failed("hostile-short-header",
		      chain_of((struct desc){ (uint32_t)&hd, 8, D_NEXT, 1 }, d, st));

	/* An indirect table that points to itself, one outside RAM, one that loops. */
	itable[0] = (struct desc){ (uint32_t)itable, 2 * sizeof(struct desc), D_INDIRECT, 0 };
	vq.desc[5] = (struct desc){ (uint32_t)itable, 2 * sizeof(struct desc), D_INDIRECT, 0 };
	expect_failed("hostile-indirect-nested", submit(5));
	vq.desc[5] = (struct desc){ 0xf0000000u, 3 * sizeof(struct desc), D_INDIRECT, 0 };
	expect_failed("hostile-indirect-outside-ram", submit(5));
	itable[0] = (struct desc){ (uint32_t)&hd, sizeof(hd), D_NEXT, 1 };
	itable[1] = (struct desc){ (uint32_t)data, 512, D_WRITE | D_NEXT, 1 };
	vq.desc[5] = (struct desc){ (uint32_t)itable, 2 * sizeof(struct desc), D_INDIRECT, 0 };
	expect_failed("hostile-indirect-loops", submit(5));
	vq.desc[5] = (struct desc){ (uint32_t)itable, 20, D_INDIRECT, 0 };
	expect_failed("hostile-indirect-bad-length", submit(5));

	/* An available index a whole queue and more ahead. */
	vq.desc[0] = h;
	vq.desc[1] = d;
	vq.desc[2] = st;
	vq.avail[2] = 0;
	vq.next_avail = (uint16_t)(vq.next_avail + vq.num + 1);
	vq.avail[1] = vq.next_avail;
	outw(io + R_NOTIFY, 0);
	expect_failed("hostile-avail-index-too-far", vq.used[1] == vq.last_used ? NO_ANSWER : 0);

	/* Rings outside RAM: the page itself, and a page whose used ring would be. */
	outb(io + R_STATUS, 0);
	outb(io + R_STATUS, ST_ACK | ST_DRIVER);
	outl(io + R_PFN, 0xfffff);
	expect_failed("hostile-rings-outside-ram", NO_ANSWER);
	outb(io + R_STATUS, 0);
	outl(io + R_PFN, 0x7fff);               /* the last page of 128 MiB */
	expect_failed("hostile-used-ring-outside-ram", NO_ANSWER);

	/* BAR 0 over COM1's ports decodes nothing (COM1 keeps them: these lines still
	 * print); BAR 1 over RAM leaves RAM as it was. Both work again where they were. */
	uint32_t bar0 = pci_rd(slot, 0x10), bar1 = pci_rd(slot, 0x14);
	pci_wr(slot, 0x10, 0x3f8 | 1);
	bool ok = inl(0x380 + R_HOST_F) == 0xffffffffu;
	pci_wr(slot, 0x10, bar0);
	check(ok && inl(io + R_HOST_F) != 0xffffffffu, "hostile-bar0-over-com1");
	static volatile uint32_t ram_word[1024] __attribute__((aligned(4096)));
	ram_word[0] = 0x12345678;
	if ((bar1 & 6) == 0) {                  /* trapeze's BAR 1 is 32-bit */
		pci_wr(slot, 0x14, (uint32_t)ram_word);
		ok = ram_word[0] == 0x12345678;
		ram_word[0] = 0x9abcdef0;
		ok &= ram_word[0] == 0x9abcdef0;
		pci_wr(slot, 0x14, bar1);
	}
	check(ok, "hostile-bar1-over-ram");

	/* A kick for a queue that does not exist changes nothing. */
	outw(io + R_NOTIFY, 7);
	outw(io + R_NOTIFY, 0xffff);
	memset(data, 0, 512);
	check(blk(T_IN, 9, data, 512, 1) == S_OK && sector_is(data, 9, 0) &&
	      !(inb(io + R_STATUS) & ST_NEEDS_RESET), "hostile-notify-bad-queue");
}

/* ---- the modern interface (4.1.4), through the same function's capabilities ---- */

#define MODERN_QSIZE    64

static uint8_t mdesc[4096] __attribute__((aligned(4096)));
static uint8_t mavail[4096] __attribute__((aligned(4096)));
static uint8_t mused[4096] __attribute__((aligned(4096)));

/* Reset; negotiate VERSION_1 and FLUSH; queue 0 of size qsize with its three areas
 * apart; enable it. */
static void modern_up(uint16_t qsize, uint64_t desc_addr)
{
	vio_modern_features(1u << F_FLUSH | 1u << F_RO, 1);
	memset(mdesc, 0, sizeof(mdesc));
	memset(mavail, 0, sizeof(mavail));
	memset(mused, 0, sizeof(mused));
	vq_modern_init(&vq, 0, qsize, desc_addr, (uint32_t)mavail, (uint32_t)mused);
}

static void test_modern(void)
{
	check(vio_modern_find(slot), "modern-capabilities");
	if (!vmod.common)
		return;
	c8(C_STATUS, 0);
	check_eq("modern-reset-status", vmod.common[C_STATUS], 0);
	c32(C_DFSELECT, 1);
	check_eq("modern-version-1-offered", r32(C_DF) & 1, 1);
	c32(C_DFSELECT, 0);
	check(r32(C_DF) & (1u << F_FLUSH), "modern-flush-offered");
	check_eq("modern-num-queues", r16(C_NUMQ), 1);
	modern_up(MODERN_QSIZE, (uint32_t)mdesc);
	check_eq("modern-features-ok", vmod.common[C_STATUS], ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	c32(C_GFSELECT, 1);
	check_eq("modern-version-1-accepted", r32(C_GF), 1);
	check_eq("modern-queue-size", r16(C_QSIZE), MODERN_QSIZE);
	check_eq("modern-queue-enabled", r16(C_QENABLE), 1);
	c8(C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	check_eq("modern-capacity", *(volatile uint32_t *)vmod.devcfg, DISK_SECTORS);
	(void)*vmod.isr;

	memset(data, 0, 512);
	check_eq("modern-read-3", blk(T_IN, 3, data, 512, 1), S_OK);
	check(sector_is(data, 3, 0), "modern-read-3-data");
	check_eq("modern-isr-used", *vmod.isr, 1);
	check_eq("modern-isr-read-clears", *vmod.isr, 0);
	fill(data, 0xc0000000u + 12);
	check_eq("modern-write-12", blk(T_OUT, 12, data, 512, 1), ro ? S_IOERR : S_OK);
	memset(data, 0, 512);
	blk(T_IN, 12, data, 512, 2);
	check(sector_is(data, 12, ro ? 0 : 0xc0000000u), "modern-write-12-readback");
	check_eq("modern-flush", blk(T_FLUSH, 0, data, 0, 1), S_OK);
	/* More requests than the queue holds: the indexes wrap around it. */
	bool ok = true;
	for (int i = 100; i < 100 + 2 * MODERN_QSIZE + 3; i++)
		ok &= blk(T_IN, (uint64_t)i, data, 512, 1) == S_OK && sector_is(data, i, 0);
	check(ok, "modern-ring-wraps");
	c8(C_STATUS, 0);
}

/* A queue size not a power of two, and rings outside RAM (trapeze only). */
static void test_modern_hostile(void)
{
	if (!vmod.common)
		return;
	modern_up(3, (uint32_t)mdesc);
	check((vmod.common[C_STATUS] & ST_NEEDS_RESET) && !r16(C_QENABLE), "hostile-modern-queue-size-3");
	modern_up(MODERN_QSIZE, 0xf0000000u);
	check((vmod.common[C_STATUS] & ST_NEEDS_RESET) && !r16(C_QENABLE), "hostile-modern-rings-outside-ram");
	modern_up(MODERN_QSIZE, (uint32_t)mdesc);
	c8(C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	memset(data, 0, 512);
	check(!(vmod.common[C_STATUS] & ST_NEEDS_RESET) && blk(T_IN, 4, data, 512, 1) == S_OK &&
	      sector_is(data, 4, 0), "hostile-modern-recovers");
	c8(C_STATUS, 0);
}

void test_main(void)
{
	guest_init();
	idt_init();
	slot = vio_find(DEVICE_BLK);
	if (slot < 0) {
		pass("no-virtio-blk");
		return;
	}
	pass("virtio-blk-found");
	test_pci();
	test_setup();
	test_reads();
	test_writes();
	test_misc();
	test_interrupt();
	test_modern();
	if (!under_qemu()) {
		test_modern_hostile();
		test_hostile();
	}
}

/*
 * virtio_blk.c - the virtio block device (see virtio_blk.h; Virtio 1.2, 5.2).
 *
 * One request queue of 256 entries. A request is a chain: the 16-byte header
 * {type, reserved, sector} readable, then the data (readable for a write, writable for
 * a read or GET_ID), then a writable status byte, the chain's last byte. Each request
 * is served when the driver kicks the queue, synchronously, straight between the image
 * and the chain's buffers in guest RAM (blockdev_readv/writev); the used length is the
 * chain's writable bytes, as QEMU reports it. A chain without a header or a status
 * byte is the driver breaking the device (QEMU's "virtio_error"): the transport fails
 * it. A request outside the disk, or of a length that is not whole sectors, answers
 * IOERR with nothing moved; a write to a read-only disk IOERR; an unknown type UNSUPP.
 *
 * Ordering and durability: writes reach the file in the order they are served;
 * VIRTIO_BLK_F_FLUSH is offered (a write-back cache) and a FLUSH answers after
 * fdatasync, so what the guest flushed survives the monitor being killed.
 */
#include "virtio_blk.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "blockdev.h"
#include "virtio_pci.h"

#define QUEUE_SIZE      256
#define SEG_MAX         (QUEUE_SIZE - 2)        /* data buffers besides header and status */
#define SECTOR          512u
#define ID_BYTES        20                      /* VIRTIO_BLK_ID_BYTES */
#define PCI_CLASS_STORAGE_SCSI 0x010000         /* QEMU's class for virtio-blk */

/* Feature bits (5.2.3). */
#define F_SEG_MAX       2
#define F_RO            5
#define F_BLK_SIZE      6
#define F_FLUSH         9

/* Request types and status (5.2.6). */
enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

/* The configuration layout (5.2.4) up to what is offered: capacity, size_max, seg_max,
 * geometry, blk_size. */
enum { CFG_CAPACITY = 0, CFG_SEG_MAX = 12, CFG_BLK_SIZE = 20, CFG_LEN = 24 };

struct req_header {
	uint32_t type, reserved;
	uint64_t sector;
};

struct virtio_blk {
	struct virtio_pci *t;
	struct blockdev *disk;
	char id[ID_BYTES];
	uint8_t config[CFG_LEN];
	struct virtq_chain chain;       /* the request being served (too big for the stack) */
	struct iovec iov[VIRTQ_MAX_SIZE];
};

/* The iovec of bytes [off, off + len) of the segments seg[0 .. n): how many pieces. */
static int chain_iov(const struct virtq_seg *seg, unsigned n, uint64_t off, uint64_t len,
		     struct iovec *iov)
{
	int k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (off >= seg[i].len) {
			off -= seg[i].len;
			continue;
		}
		uint64_t m = seg[i].len - off;
		if (m > len)
			m = len;
		iov[k++] = (struct iovec){ seg[i].p + off, (size_t)m };
		len -= m;
		off = 0;
	}
	return k;
}

/* IN and OUT: the data is the readable part after the header (OUT) or the writable
 * part before the status byte (IN). */
static uint8_t read_write(struct virtio_blk *b, const struct req_header *h, bool out)
{
	const struct virtq_chain *c = &b->chain;
	int n = out ? chain_iov(c->seg, c->nread, sizeof(*h), c->read_len - sizeof(*h), b->iov)
		    : chain_iov(c->seg + c->nread, c->nwrite, 0, c->write_len - 1, b->iov);
	int r = out ? blockdev_writev(b->disk, h->sector, b->iov, n)
		    : blockdev_readv(b->disk, h->sector, b->iov, n);
	return r < 0 ? S_IOERR : S_OK;
}

/* GET_ID: the id string, NUL-terminated if it fits, in at most 20 bytes (5.2.6). */
static uint8_t get_id(struct virtio_blk *b)
{
	size_t len = strnlen(b->id, ID_BYTES);
	len += len < ID_BYTES;
	if (len > b->chain.write_len - 1)
		len = (size_t)(b->chain.write_len - 1);
	virtq_chain_write(&b->chain, 0, b->id, len);
	return S_OK;
}

/* Serve the request in b->chain: its status, or -1 if the chain has no header or no
 * status byte. */
static int serve(struct virtio_blk *b)
{
	struct virtq_chain *c = &b->chain;
	struct req_header h;
	if (c->read_len < sizeof(h) || c->write_len < 1)
		return -1;
	virtq_chain_read(c, 0, &h, sizeof(h));
	switch (h.type) {
	case T_IN:
		return read_write(b, &h, false);
	case T_OUT:
		return read_write(b, &h, true);
	case T_FLUSH:
		return blockdev_flush(b->disk) < 0 ? S_IOERR : S_OK;
	case T_GET_ID:
		return get_id(b);
	default:
		return S_UNSUPP;
	}
}

static void blk_notify(void *opaque, struct virtio_pci *t, int qi)
{
	struct virtio_blk *b = opaque;
	struct virtq *q = virtio_pci_queue(t, qi);
	const struct dma_space *dma = virtio_pci_dma(t);
	bool done = false;
	for (;;) {
		int r = virtq_pop(q, dma, &b->chain);
		if (r < 0) {
			virtio_pci_fail(t, virtq_strerror(r));
			break;
		}
		if (!r)
			break;
		int status = serve(b);
		if (status < 0) {
			virtio_pci_fail(t, "a block request without its header or status byte");
			break;
		}
		uint8_t s = (uint8_t)status;
		virtq_chain_write(&b->chain, b->chain.write_len - 1, &s, 1);
		uint32_t used = b->chain.write_len > UINT32_MAX ? UINT32_MAX : (uint32_t)b->chain.write_len;
		if (!virtq_push(q, dma, b->chain.head, used)) {
			virtio_pci_fail(t, "the used ring outside guest RAM");
			break;
		}
		done = true;
	}
	if (done)
		virtio_pci_used(t, qi);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

struct virtio_blk *virtio_blk_create(const struct virtio_pci_host *host, int slot,
				     struct blockdev *disk, const char *id)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->disk = disk;
	memcpy(b->id, id, strnlen(id, ID_BYTES));
	uint64_t cap = blockdev_sectors(disk);
	memcpy(b->config + CFG_CAPACITY, &cap, 8);
	put32(b->config + CFG_SEG_MAX, SEG_MAX);
	put32(b->config + CFG_BLK_SIZE, SECTOR);
	uint32_t features = 1u << F_SEG_MAX | 1u << F_BLK_SIZE | 1u << F_FLUSH |
			    1u << VIRTIO_F_RING_INDIRECT_DESC;
	if (blockdev_readonly(disk))
		features |= 1u << F_RO;
	const struct virtio_pci_dev dev = {
		.type = VIRTIO_ID_BLOCK, .class_code = PCI_CLASS_STORAGE_SCSI, .features = features,
		.nqueues = 1, .queue_size = QUEUE_SIZE, .config = b->config, .config_len = CFG_LEN,
		.notify = blk_notify, .opaque = b,
	};
	b->t = virtio_pci_create(host, slot, &dev);
	if (!b->t) {
		free(b);
		return NULL;
	}
	return b;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_pci_destroy(b->t);
	free(b);
}

void virtio_blk_bios_init(struct virtio_blk *b, uint16_t port, uint32_t mem)
{
	virtio_pci_bios_init(b->t, port, mem);
}

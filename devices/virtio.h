/*
 * virtio.h - the split virtqueue of a virtio device, transport-independent (Virtio 1.2,
 * 2.7 "Split Virtqueues"; a legacy device lays out the same rings, 2.7.2).
 *
 * A queue is three areas of guest RAM the driver fills: the descriptor table (16
 * bytes a descriptor: address, length, flags NEXT/WRITE/INDIRECT, next), the available
 * ring (flags, idx, the heads of the chains offered) and the used ring (flags, idx,
 * {id, len} for each chain the device is done with). The device keeps its own two
 * counters (the next available entry to take, the next used entry to fill) and reads
 * everything else from guest memory each time, since the guest may change it at any
 * moment: nothing read from there is trusted twice.
 *
 * Hostile input: a chain is walked at most queue-size descriptors (a loop ends there),
 * every index is checked against its table, every buffer must lie in RAM (dma.h), an
 * available index more than a queue ahead is refused. Any of those is the driver's
 * error: virtq_pop() says so, and the transport marks the device as needing a reset
 * (Virtio 1.2, 2.1 "Device Status Field", DEVICE_NEEDS_RESET) and takes nothing more from it.
 *
 * Interface: virtq_setup() when the driver gives the queue's addresses; then per
 * notification virtq_pop() until it returns 0, virtq_push() for each chain done,
 * virtq_wants_interrupt() once after the batch.
 */
#ifndef TRAPEZE_VIRTIO_H
#define TRAPEZE_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dma.h"

/* Device types (Virtio 1.2, 5 "Device Types"). */
enum { VIRTIO_ID_NET = 1, VIRTIO_ID_BLOCK = 2, VIRTIO_ID_RNG = 4 };

/* Feature bits every device here may offer (6 "Reserved Feature Bits"). */
#define VIRTIO_F_NOTIFY_ON_EMPTY        24
#define VIRTIO_F_RING_INDIRECT_DESC     28

#define VIRTQ_MAX_SIZE  256     /* the largest queue a device here offers */

struct virtq {
	uint16_t num;                   /* entries, a power of two; 0: not set up */
	uint64_t desc, avail, used;     /* guest physical addresses of the three areas */
	uint16_t last_avail;            /* the next available entry to take */
	uint16_t used_idx;              /* the next used entry to fill */
};

/* One buffer of a chain, in the monitor's view of guest RAM. */
struct virtq_seg {
	uint8_t *p;
	uint32_t len;
};

/* A chain taken from the available ring: its readable buffers (the driver's to the
 * device) seg[0 .. nread), then its writable ones seg[nread .. nread + nwrite). */
struct virtq_chain {
	uint16_t head;
	unsigned nread, nwrite;
	uint64_t read_len, write_len;   /* bytes in each part */
	struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

/* Set the queue up with num entries at those addresses (reset: counters to 0).
 * false, the queue left unset, when num is not a power of two up to VIRTQ_MAX_SIZE or
 * an area is not all RAM. */
bool virtq_setup(struct virtq *q, const struct dma_space *dma, uint16_t num, uint64_t desc,
		 uint64_t avail, uint64_t used);
/* The queue as after a reset: not set up. */
void virtq_reset(struct virtq *q);

/* Take the next chain the driver offers into c: 1, 0 if there is none, or a negative
 * errno if the driver broke the queue (-EPROTO: a bad index, an available index too far
 * ahead, a readable buffer after a writable one, nested or empty indirect tables;
 * -ELOOP: a chain longer than the queue; -EFAULT: a buffer or ring not in RAM). */
int virtq_pop(struct virtq *q, const struct dma_space *dma, struct virtq_chain *c);
/* Does the driver offer a chain not taken yet (set up, the ring in RAM)? */
bool virtq_has_avail(const struct virtq *q, const struct dma_space *dma);
/* What a negative virtq_pop() says, for a person. */
const char *virtq_strerror(int err);
/* Give chain head back through the used ring, len bytes written into it. false if
 * the used ring is not in RAM. */
bool virtq_push(struct virtq *q, const struct dma_space *dma, uint16_t head, uint32_t len);
/* Does the driver want an interrupt for used buffers (VIRTQ_AVAIL_F_NO_INTERRUPT
 * clear)? */
bool virtq_wants_interrupt(const struct virtq *q, const struct dma_space *dma);

/* Copy len bytes at offset off of the chain's readable part to buf (writable part
 * from buf): how many bytes moved (fewer at the part's end). */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *buf, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *buf, size_t len);

#endif

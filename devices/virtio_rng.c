/*
 * virtio_rng.c - the virtio entropy device (see virtio_rng.h; Virtio 1.2, 5.4): one
 * request queue, no features, no configuration. Each chain's writable buffers are
 * filled from the host's getrandom() (non-blocking: the pool is up by the time a guest
 * runs), the used length the bytes written; readable buffers are ignored (5.4.6.1).
 */
#include "virtio_rng.h"

#include <stdlib.h>
#include <sys/random.h>

#include "virtio_pci.h"

#define QUEUE_SIZE      64
#define PCI_CLASS_OTHER 0x00ff00        /* QEMU's class for virtio-rng */

struct virtio_rng {
	struct virtio_pci *t;
	struct virtq_chain chain;
};

/* Fill the chain's writable buffers: the bytes written. */
static uint32_t fill(const struct virtq_chain *c)
{
	uint64_t done = 0;
	for (unsigned k = c->nread; k < c->nread + c->nwrite; k++) {
		ssize_t n = getrandom(c->seg[k].p, c->seg[k].len, GRND_NONBLOCK);
		if (n <= 0)
			break;
		done += (uint64_t)n;
		if ((size_t)n < c->seg[k].len)
			break;
	}
	return done > UINT32_MAX ? UINT32_MAX : (uint32_t)done;
}

static void rng_notify(void *opaque, struct virtio_pci *t, int qi)
{
	struct virtio_rng *r = opaque;
	struct virtq *q = virtio_pci_queue(t, qi);
	const struct dma_space *dma = virtio_pci_dma(t);
	bool done = false;
	for (;;) {
		int st = virtq_pop(q, dma, &r->chain);
		if (st < 0) {
			virtio_pci_fail(t, virtq_strerror(st));
			break;
		}
		if (!st)
			break;
		if (!virtq_push(q, dma, r->chain.head, fill(&r->chain))) {
			virtio_pci_fail(t, "the used ring outside guest RAM");
			break;
		}
		done = true;
	}
	if (done)
		virtio_pci_used(t, qi);
}

struct virtio_rng *virtio_rng_create(const struct virtio_pci_host *host, int slot)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	const struct virtio_pci_dev dev = {
		.type = VIRTIO_ID_RNG, .class_code = PCI_CLASS_OTHER, .nqueues = 1,
		.queue_size = QUEUE_SIZE, .notify = rng_notify, .opaque = r,
	};
	r->t = virtio_pci_create(host, slot, &dev);
	if (!r->t) {
		free(r);
		return NULL;
	}
	return r;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_pci_destroy(r->t);
	free(r);
}

void virtio_rng_bios_init(struct virtio_rng *r, uint16_t port, uint32_t mem)
{
	virtio_pci_bios_init(r->t, port, mem);
}

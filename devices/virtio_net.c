/*
 * virtio_net.c - the virtio network device (see virtio_net.h; Virtio 1.2, 5.1): queue 0
 * receives, queue 1 transmits; only VIRTIO_NET_F_MAC is offered (QEMU's default MAC
 * from the back end), so every frame is preceded by a struct virtio_net_hdr without
 * offloads (5.1.6): 10 bytes for a legacy driver, 12 with VERSION_1 (num_buffers, 1 on
 * receive without mergeable buffers); its fields are 0 on receive and ignored on
 * transmit. The chains are read and written as byte streams, so the header
 * may share a buffer with the frame or not (5.1.6.6's legacy layouts both work).
 *
 * Transmit: each chain's readable bytes after the header are one frame, sent when the
 * driver kicks queue 1 (a frame shorter than an Ethernet header, or longer than
 * NETDEV_MTU_FRAME, is dropped as a wire would); used length 0. Receive: whenever the
 * board polls (a frame's arrival wakes the monitor) and when the driver posts buffers,
 * each waiting frame goes into the next chain offered on queue 0, cut to its writable
 * bytes; the used length is header plus frame. With no buffer posted frames stay in
 * the back end.
 */
#include "virtio_net.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "netdev.h"
#include "virtio_pci.h"

#define QUEUE_SIZE      256
#define RXQ             0
#define TXQ             1
#define HDR_LEGACY      10              /* struct virtio_net_hdr, 5.1.6 */
#define HDR_V1          12              /* ... and num_buffers */
#define RX_BATCH        64              /* frames taken per poll: a flood cannot hold us */
#define F_MAC           5
#define PCI_CLASS_ETHERNET 0x020000

struct virtio_net {
	struct virtio_pci *t;
	struct netdev *net;
	uint8_t config[6];              /* mac */
	uint8_t frame[HDR_V1 + NETDEV_MTU_FRAME];
	struct virtq_chain chain;
};

static size_t hdr_len(const struct virtio_net *n)
{
	return virtio_pci_features(n->t) & VIRTIO_PCI_F_VERSION_1 ? HDR_V1 : HDR_LEGACY;
}

/* Take the next chain of queue qi into n->chain: 1, 0 for none, -1 after failing the
 * device. */
static int take(struct virtio_net *n, int qi)
{
	int r = virtq_pop(virtio_pci_queue(n->t, qi), virtio_pci_dma(n->t), &n->chain);
	if (r < 0) {
		virtio_pci_fail(n->t, virtq_strerror(r));
		return -1;
	}
	return r;
}

static bool give_back(struct virtio_net *n, int qi, uint32_t len)
{
	if (virtq_push(virtio_pci_queue(n->t, qi), virtio_pci_dma(n->t), n->chain.head, len))
		return true;
	virtio_pci_fail(n->t, "the used ring outside guest RAM");
	return false;
}

static void transmit(struct virtio_net *n)
{
	bool done = false;
	size_t hdr = hdr_len(n);
	while (take(n, TXQ) > 0) {
		uint64_t len = n->chain.read_len;
		if (len >= hdr + 14 && len <= hdr + NETDEV_MTU_FRAME) {
			virtq_chain_read(&n->chain, 0, n->frame, (size_t)len);
			netdev_send(n->net, n->frame + hdr, (size_t)len - hdr);
		}
		if (!give_back(n, TXQ, 0))
			return;
		done = true;
	}
	if (done)
		virtio_pci_used(n->t, TXQ);
}

void virtio_net_poll(struct virtio_net *n)
{
	struct virtq *q = virtio_pci_queue(n->t, RXQ);
	const struct dma_space *dma = virtio_pci_dma(n->t);
	bool done = false;
	if (!virtio_pci_ready(n->t))
		return;
	size_t hdr = hdr_len(n);
	for (int k = 0; k < RX_BATCH && virtq_has_avail(q, dma); k++) {
		memset(n->frame, 0, hdr);
		if (hdr == HDR_V1)
			n->frame[HDR_LEGACY] = 1;       /* num_buffers */
		ssize_t len = netdev_recv(n->net, n->frame + hdr, NETDEV_MTU_FRAME);
		if (len <= 0 || take(n, RXQ) <= 0)
			break;
		size_t got = virtq_chain_write(&n->chain, 0, n->frame, hdr + (size_t)len);
		if (!give_back(n, RXQ, (uint32_t)got))
			return;
		done = true;
	}
	if (done)
		virtio_pci_used(n->t, RXQ);
}

int virtio_net_wait_fd(struct virtio_net *n)
{
	virtio_net_poll(n);
	return virtio_pci_ready(n->t) && virtq_has_avail(virtio_pci_queue(n->t, RXQ),
							 virtio_pci_dma(n->t)) ? netdev_fd(n->net) : -1;
}

static void net_notify(void *opaque, struct virtio_pci *t, int qi)
{
	struct virtio_net *n = opaque;
	(void)t;
	if (qi == TXQ)
		transmit(n);
	else
		virtio_net_poll(n);
}

struct virtio_net *virtio_net_create(const struct virtio_pci_host *host, int slot,
				     struct netdev *net)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->net = net;
	netdev_mac(net, n->config);
	const struct virtio_pci_dev dev = {
		.type = VIRTIO_ID_NET, .class_code = PCI_CLASS_ETHERNET, .features = 1u << F_MAC,
		.nqueues = 2, .queue_size = QUEUE_SIZE, .config = n->config,
		.config_len = sizeof(n->config), .notify = net_notify, .opaque = n,
	};
	n->t = virtio_pci_create(host, slot, &dev);
	if (!n->t) {
		free(n);
		return NULL;
	}
	return n;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_pci_destroy(n->t);
	free(n);
}

void virtio_net_bios_init(struct virtio_net *n, uint16_t port, uint32_t mem)
{
	virtio_pci_bios_init(n->t, port, mem);
}

/*
 * pc_virtio.c - the PC's virtio devices on its PCI bus (pci.c), plugged in after the
 * board's fixed set (pc.c), each only when asked for:
 *
 *   virtio-blk   slot 4 + k (k < 8)   --disk FILE,if=virtio, the k-th such disk (vda,
 *                                     vdb, ... in Linux's order); GET_ID answers
 *                                     "trapeze-vdX"
 *   virtio-rng   slot 12              --rng: the host's getrandom()
 *   virtio-net   slot 13              --net ...,model=virtio: the --net back end
 *
 * Each has its legacy registers in I/O BAR 0 at port 0xc000 + 0x100 (slot - 4), its
 * modern ones in memory BAR 1 at 0xfe000000 + 0x4000 (slot - 4) (below the I/O APIC)
 * and INTA# on its slot's PIRQ. Slots 1-3 stay free (QEMU's PIIX, VGA and NIC sit there).
 * There is no firmware, so each BAR is programmed and I/O decoding turned on here,
 * where SeaBIOS would have put them (its I/O window starts at 0xc000); a kernel keeps
 * them.
 */
#include "pc_virtio.h"

#include <errno.h>

#include "board.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "virtio_rng.h"

#define DISK_SLOT       4
#define RNG_SLOT        12
#define NET_SLOT        13
#define FIRST_PORT      0xc000u
#define PORT_STRIDE     0x100u
#define FIRST_MEM       0xfe000000u
#define MEM_STRIDE      0x4000u

static uint16_t bar_port(int slot) { return (uint16_t)(FIRST_PORT + PORT_STRIDE * (unsigned)(slot - DISK_SLOT)); }
static uint32_t bar_mem(int slot) { return FIRST_MEM + MEM_STRIDE * (unsigned)(slot - DISK_SLOT); }

static void blk_free(void *o) { virtio_blk_destroy(o); }
static void rng_free(void *o) { virtio_rng_destroy(o); }
static void net_up(void *o, uint64_t now) { (void)now; virtio_net_poll(o); }
static int net_fd(void *o) { return virtio_net_wait_fd(o); }
static void net_free(void *o) { virtio_net_destroy(o); }

/* Add the record of a device just created; -ENOMEM if its constructor failed. */
static int add(struct board *b, void *dev, struct board_dev d)
{
	if (!dev)
		return -ENOMEM;
	d.opaque = dev;
	return board_add(b, &d);
}

int pc_add_virtio(struct board *b, struct pci_bus *pci, const struct dma_space *dma,
		  const struct pc_virtio_config *cfg)
{
	const struct virtio_pci_host host = { pci, board_io(b), board_mmio(b), *dma };
	if (cfg->ndisks > PC_VIRTIO_MAX_DISKS)
		return -EINVAL;
	for (int k = 0; k < cfg->ndisks; k++) {
		char id[] = "trapeze-vda";
		id[sizeof(id) - 2] = (char)('a' + k);
		struct virtio_blk *blk = virtio_blk_create(&host, DISK_SLOT + k, cfg->disks[k], id);
		int r = add(b, blk, (struct board_dev){ .name = "virtio-blk", .destroy = blk_free });
		if (r < 0)
			return r;
		virtio_blk_bios_init(blk, bar_port(DISK_SLOT + k), bar_mem(DISK_SLOT + k));
	}
	if (cfg->rng) {
		struct virtio_rng *rng = virtio_rng_create(&host, RNG_SLOT);
		int r = add(b, rng, (struct board_dev){ .name = "virtio-rng", .destroy = rng_free });
		if (r < 0)
			return r;
		virtio_rng_bios_init(rng, bar_port(RNG_SLOT), bar_mem(RNG_SLOT));
	}
	if (cfg->net) {
		struct virtio_net *net = virtio_net_create(&host, NET_SLOT, cfg->net);
		int r = add(b, net, (struct board_dev){ .name = "virtio-net", .update = net_up,
							.wait_fd = net_fd, .destroy = net_free });
		if (r < 0)
			return r;
		virtio_net_bios_init(net, bar_port(NET_SLOT), bar_mem(NET_SLOT));
	}
	return 0;
}

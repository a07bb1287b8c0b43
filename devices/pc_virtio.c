/*
 * pc_virtio.c - the PC's virtio devices on its PCI bus (pci.c), plugged in after the
 * board's fixed set (pc.c):
 *
 *   virtio-blk   slot 4 + k, function 0   --disk FILE,if=virtio, the k-th such disk
 *                (0 <= k < 8)             (vda, vdb, ... in Linux's order); BAR 0 at
 *                                         port 0xc000 + 0x100 k; INTA# on the slot's
 *                                         PIRQ; GET_ID answers "trapeze-vdX"
 *
 * Slots 1-3 stay free (QEMU's PIIX, VGA and NIC sit there). There is no firmware, so
 * each function's BAR is programmed and its I/O decoding turned on here, where SeaBIOS
 * would have put them (its I/O window starts at 0xc000); a kernel keeps them.
 */
#include "pc_virtio.h"

#include <errno.h>

#include "board.h"
#include "virtio_blk.h"

#define FIRST_SLOT      4
#define FIRST_PORT      0xc000u
#define PORT_STRIDE     0x100u

static void blk_free(void *o) { virtio_blk_destroy(o); }

int pc_add_virtio_disks(struct board *b, struct pci_bus *pci, const struct dma_space *dma,
			struct blockdev *const *disks, int n)
{
	if (n > PC_VIRTIO_MAX_DISKS)
		return -EINVAL;
	for (int k = 0; k < n; k++) {
		char id[] = "trapeze-vda";
		id[sizeof(id) - 2] = (char)('a' + k);
		struct virtio_blk *blk = virtio_blk_create(pci, FIRST_SLOT + k, board_io(b), dma,
							   disks[k], id);
		if (!blk)
			return -ENOMEM;
		int r = board_add(b, &(struct board_dev){ .name = "virtio-blk", .opaque = blk,
							  .destroy = blk_free });
		if (r < 0)
			return r;
		virtio_blk_bios_init(blk, (uint16_t)(FIRST_PORT + PORT_STRIDE * (unsigned)k));
	}
	return 0;
}

/*
 * ata.h - an ATA (IDE) channel in PIO mode: the PC's primary channel (command block
 * 0x1f0-0x1f7, control block 0x3f6, IRQ 14) with one disk as device 0, or none.
 *
 * The disk is a struct blockdev (blockdev.h) the caller keeps open while the channel
 * lives; NULL gives a channel with no device on it, whose registers read as QEMU's
 * empty channel does (0).
 */
#ifndef TRAPEZE_ATA_H
#define TRAPEZE_ATA_H

#include <stdint.h>

#include "ioport.h"

struct ata;
struct blockdev;

/* The channel at cmd..cmd+7 and ctl (the device control / alternate status port) on
 * io, interrupting on irq; disk may be NULL. NULL on failure (ports taken, no memory). */
struct ata *ata_create(struct iobus *io, uint16_t cmd, uint16_t ctl, struct irq_line irq,
		       struct blockdev *disk);
/* Free the channel (not the disk); its ports stay claimed, so destroy the iobus with it. */
void ata_destroy(struct ata *a);

#endif

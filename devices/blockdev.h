/*
 * blockdev.h - a disk image behind the guest's disks: a raw file, read and written in
 * whole sectors, flushed on demand, optionally read-only.
 *
 * Each disk model (ata.c for full x86, the para-x86 block ring in monitor/) reads and
 * writes through one of these; none of them touches the file itself. Writes reach the
 * file in the order they are made (pwrite) and are durable after blockdev_flush()
 * (fdatasync): a guest that flushed loses nothing when trapeze is killed.
 *
 * Interface: blockdev_open() at VM creation (--disk FILE[,ro]); blockdev_read(),
 * blockdev_write(), blockdev_flush(); blockdev_close().
 */
#ifndef TRAPEZE_BLOCKDEV_H
#define TRAPEZE_BLOCKDEV_H

#include <stdbool.h>
#include <stdint.h>

struct blockdev;
struct iovec;

/* Open the image at path; NULL with errno set (EINVAL: not a regular file, or its size
 * is not a whole number of 512-byte sectors). */
struct blockdev *blockdev_open(const char *path, bool readonly);
void blockdev_close(struct blockdev *d);

uint64_t blockdev_sectors(const struct blockdev *d);        /* 512-byte sectors */
bool blockdev_readonly(const struct blockdev *d);

/* count sectors from sector lba to or from buf. 0, or a negative errno: -EIO past the
 * end (nothing moved) or on a host error, -EROFS for a write to a read-only disk. */
int blockdev_read(struct blockdev *d, uint64_t lba, uint32_t count, void *buf);
int blockdev_write(struct blockdev *d, uint64_t lba, uint32_t count, const void *buf);
/* The same for a scattered buffer (a bus master's, virtio_blk.c): the iovcnt pieces
 * of iov, whose lengths add up to whole sectors (else -EINVAL, nothing moved). */
int blockdev_readv(struct blockdev *d, uint64_t lba, const struct iovec *iov, int iovcnt);
int blockdev_writev(struct blockdev *d, uint64_t lba, const struct iovec *iov, int iovcnt);
/* Every write before it reaches the disk: 0 or -EIO. */
int blockdev_flush(struct blockdev *d);

#endif

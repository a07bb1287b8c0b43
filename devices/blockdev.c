/*
 * blockdev.c - a raw disk image as 512-byte sectors (see blockdev.h).
 *
 * Reads and writes go straight to the file with pread/pwrite (the host's page cache
 * orders them as made); a flush is fdatasync. Each request is checked against the
 * image's size before anything moves: a guest cannot read or write past its disk.
 */
#define _GNU_SOURCE
#include "blockdev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SECTOR 512u

struct blockdev {
	int fd;
	bool readonly;
	uint64_t sectors;
};

struct blockdev *blockdev_open(const char *path, bool readonly)
{
	int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	int e = 0;
	if (fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode) || st.st_size % SECTOR)
		e = EINVAL;
	if (e) {
		close(fd);
		errno = e;
		return NULL;
	}
	struct blockdev *d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	d->fd = fd;
	d->readonly = readonly;
	d->sectors = (uint64_t)st.st_size / SECTOR;
	return d;
}

void blockdev_close(struct blockdev *d)
{
	if (!d)
		return;
	close(d->fd);
	free(d);
}

uint64_t blockdev_sectors(const struct blockdev *d) { return d->sectors; }
bool blockdev_readonly(const struct blockdev *d) { return d->readonly; }

static bool in_range(const struct blockdev *d, uint64_t lba, uint32_t count)
{
	return lba <= d->sectors && count <= d->sectors - lba;
}

int blockdev_read(struct blockdev *d, uint64_t lba, uint32_t count, void *buf)
{
	if (!in_range(d, lba, count))
		return -EIO;
	size_t len = (size_t)count * SECTOR, done = 0;
	while (done < len) {
		ssize_t n = pread(d->fd, (char *)buf + done, len - done, (off_t)(lba * SECTOR + done));
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int blockdev_write(struct blockdev *d, uint64_t lba, uint32_t count, const void *buf)
{
	if (d->readonly)
		return -EROFS;
	if (!in_range(d, lba, count))
		return -EIO;
	size_t len = (size_t)count * SECTOR, done = 0;
	while (done < len) {
		ssize_t n = pwrite(d->fd, (const char *)buf + done, len - done,
				   (off_t)(lba * SECTOR + done));
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Move the pieces of iov to or from the file at byte offset pos, resuming after
 * short transfers. */
static int move_iov(int fd, off_t pos, const struct iovec *iov, int iovcnt, bool write)
{
	for (int k = 0; k < iovcnt; k++) {
		size_t done = 0;
		while (done < iov[k].iov_len) {
			char *p = (char *)iov[k].iov_base + done;
			size_t len = iov[k].iov_len - done;
			ssize_t n = write ? pwrite(fd, p, len, pos) : pread(fd, p, len, pos);
			if (n <= 0)
				return -EIO;
			done += (size_t)n;
			pos += n;
		}
	}
	return 0;
}

/* The sectors a scattered buffer covers, checked against the disk: 0 or -errno. */
static int iov_sectors(const struct blockdev *d, uint64_t lba, const struct iovec *iov, int iovcnt)
{
	uint64_t len = 0;
	for (int k = 0; k < iovcnt; k++)
		len += iov[k].iov_len;
	if (len % SECTOR)
		return -EINVAL;
	uint64_t count = len / SECTOR;
	return lba <= d->sectors && count <= d->sectors - lba ? 0 : -EIO;
}

int blockdev_readv(struct blockdev *d, uint64_t lba, const struct iovec *iov, int iovcnt)
{
	int r = iov_sectors(d, lba, iov, iovcnt);
	return r < 0 ? r : move_iov(d->fd, (off_t)(lba * SECTOR), iov, iovcnt, false);
}

int blockdev_writev(struct blockdev *d, uint64_t lba, const struct iovec *iov, int iovcnt)
{
	if (d->readonly)
		return -EROFS;
	int r = iov_sectors(d, lba, iov, iovcnt);
	return r < 0 ? r : move_iov(d->fd, (off_t)(lba * SECTOR), iov, iovcnt, true);
}

int blockdev_flush(struct blockdev *d)
{
	if (d->readonly)
		return 0;
	return fdatasync(d->fd) < 0 ? -EIO : 0;
}

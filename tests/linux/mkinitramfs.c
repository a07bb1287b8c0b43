/*
 * mkinitramfs.c - write a Linux initramfs: an uncompressed "newc" cpio archive
 * (the kernel's Documentation/driver-api/early-userspace/buffer-format.rst) holding
 * busybox, an /init script and the directories and device nodes a minimal system
 * needs. A host tool, so that building the guest's root file system needs neither
 * root (mknod) nor a cpio program.
 *
 * usage: mkinitramfs OUT BUSYBOX INIT [NAME=FILE...]
 *   extra NAME=FILE pairs are copied to /NAME (mode 0755).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *out;
static uint32_t ino = 1;
static long written;

static void pad4(void)
{
	while (written & 3) {
		fputc(0, out);
		written++;
	}
}

static void entry(const char *name, uint32_t mode, uint32_t rmaj, uint32_t rmin,
		  const void *data, uint32_t size)
{
	size_t namesize = strlen(name) + 1;
	written += fprintf(out, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08zX%08X",
			   ino++, mode, 0, 0, (mode & 0170000) == 0040000 ? 2 : 1, 0, size,
			   0, 0, rmaj, rmin, namesize, 0);
	fwrite(name, 1, namesize, out);
	written += (long)namesize;
	pad4();
	if (size) {
		fwrite(data, 1, size, out);
		written += size;
		pad4();
	}
}

static void *slurp(const char *path, uint32_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "mkinitramfs: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "mkinitramfs: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	*size = (uint32_t)n;
	return buf;
}

static void file(const char *name, const char *path, uint32_t perm)
{
	uint32_t size;
	void *data = slurp(path, &size);
	entry(name, 0100000 | perm, 0, 0, data, size);
	free(data);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: mkinitramfs OUT BUSYBOX INIT [NAME=FILE...]\n");
		return 2;
	}
	out = fopen(argv[1], "wb");
	if (!out) {
		fprintf(stderr, "mkinitramfs: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	static const char *const dirs[] = { "bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev",
					     "proc", "sys", "tmp", "etc", "root", "mnt" };
	for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++)
		entry(dirs[k], 0040755, 0, 0, NULL, 0);
	entry("dev/console", 0020600, 5, 1, NULL, 0);
	entry("dev/null", 0020666, 1, 3, NULL, 0);
	entry("dev/ttyS0", 0020660, 4, 64, NULL, 0);
	file("bin/busybox", argv[2], 0755);
	file("init", argv[3], 0755);
	for (int k = 4; k < argc; k++) {
		char *eq = strchr(argv[k], '=');
		if (!eq) {
			fprintf(stderr, "mkinitramfs: %s: want NAME=FILE\n", argv[k]);
			return 2;
		}
		*eq = 0;
		file(argv[k], eq + 1, 0755);
	}
	entry("TRAILER!!!", 0, 0, 0, NULL, 0);
	if (fclose(out) != 0) {
		fprintf(stderr, "mkinitramfs: writing %s failed\n", argv[1]);
		return 1;
	}
	return 0;
}

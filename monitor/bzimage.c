/*
 * bzimage.c - the Linux 32-bit boot protocol (Documentation/arch/x86/boot.rst).
 *
 * The protected-mode kernel (the file after its 1 + setup_sects sectors of real-mode
 * setup) goes at 1 MiB; the zero page (struct boot_params) gets the image's setup
 * header, an e820 map of guest RAM, the command line and the initrd; the CPU starts
 * at code32_start in flat 32-bit protected mode with a GDT holding __BOOT_CS (0x10)
 * and __BOOT_DS (0x18), interrupts and paging off, ESI = the zero page.
 *
 * Guest memory below 1 MiB: GDT at 0x6000, zero page at 0x7000, command line at
 * 0x8000; the initrd at the top of RAM below initrd_addr_max.
 */
#include "bzimage.h"

#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "vm.h"
#include "../shadowmmu/mem.h"

#define GDT_AT          0x6000u
#define ZERO_PAGE_AT    0x7000u
#define CMDLINE_AT      0x8000u
#define CMDLINE_MAX     0x8000u         /* up to 0x10000 */
#define KERNEL_AT       0x100000u

/* Offsets in the image and in struct boot_params (boot.rst, zero-page.rst). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG   0x1fe
#define HDR_JUMP        0x200
#define HDR_MAGIC       0x202
#define HDR_VERSION     0x206
#define HDR_LOADER_TYPE 0x210
#define HDR_LOADFLAGS   0x211
#define HDR_CODE32      0x214
#define HDR_RAMDISK     0x218
#define HDR_RAMDISK_SZ  0x21c
#define HDR_CMDLINE     0x228
#define HDR_INITRD_MAX  0x22c
#define HDR_CMDLINE_SZ  0x238
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE   0x2d0

#define E820_RAM        1
#define E820_RESERVED   2

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

bool bz_probe(const uint8_t *img, size_t size)
{
	return size >= 0x300 && rd16(img + HDR_BOOT_FLAG) == 0xaa55 &&
	       !memcmp(img + HDR_MAGIC, "HdrS", 4) && rd16(img + HDR_VERSION) >= 0x203;
}

int bz_load(struct vm *vm, const uint8_t *img, size_t size, const char *append,
	    const char *initrd, char *err, size_t n)
{
	uint32_t setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	size_t pm_off = (size_t)(setup_sects + 1) * 512;
	if (pm_off >= size)
		return load_fail(err, n, "bzImage is truncated (setup of %u sectors)", setup_sects);
	if (!(img[HDR_LOADFLAGS] & 1))
		return load_fail(err, n, "zImage (loaded low) kernels are not supported");
	size_t pm_size = size - pm_off;
	if (KERNEL_AT + pm_size > vm->mem.size)
		return load_fail(err, n, "kernel (%zu KiB) does not fit in guest memory", pm_size >> 10);
	if (!mem_write_phys(&vm->mem, KERNEL_AT, img + pm_off, pm_size))
		return load_fail(err, n, "cannot write the kernel to guest memory");

	/* The zero page: the image's setup header, then what the loader fills in. */
	static uint8_t bp[4096];
	memset(bp, 0, sizeof(bp));
	size_t hdr_end = 0x202 + img[HDR_JUMP + 1];
	if (hdr_end > sizeof(bp) || hdr_end > size)
		return load_fail(err, n, "bzImage setup header is malformed");
	memcpy(bp + HDR_SETUP_SECTS, img + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
	bp[HDR_LOADER_TYPE] = 0xff;                     /* no registered loader id */
	uint32_t cmd_max = rd32(img + HDR_CMDLINE_SZ);
	if (!cmd_max || cmd_max > CMDLINE_MAX - 1)
		cmd_max = CMDLINE_MAX - 1;
	size_t cmd_len = strlen(append ? append : "");
	if (cmd_len > cmd_max)
		return load_fail(err, n, "command line longer than the kernel's %u bytes", cmd_max);
	if (!mem_write_phys(&vm->mem, CMDLINE_AT, append ? append : "", cmd_len + 1))
		return load_fail(err, n, "no room for the command line");
	wr32(bp + HDR_CMDLINE, CMDLINE_AT);

	if (initrd) {
		size_t isize;
		uint8_t *rd = load_file("initrd", initrd, &isize, err, n);
		if (!rd)
			return -1;
		if (!isize) {
			free(rd);
			return load_fail(err, n, "cannot read initrd %s", initrd);
		}
		uint64_t max = rd32(img + HDR_INITRD_MAX);
		uint64_t top = vm->mem.size < max + 1 ? vm->mem.size : max + 1;
		uint64_t at = (top - isize) & ~0xfffull;
		if (isize >= top || at < KERNEL_AT + pm_size) {
			free(rd);
			return load_fail(err, n, "initrd (%zu KiB) does not fit below the kernel's limit",
				    isize >> 10);
		}
		bool ok = mem_write_phys(&vm->mem, at, rd, isize);
		free(rd);
		if (!ok)
			return load_fail(err, n, "cannot write the initrd to guest memory");
		wr32(bp + HDR_RAMDISK, (uint32_t)at);
		wr32(bp + HDR_RAMDISK_SZ, (uint32_t)isize);
	}

	/* e820: conventional memory, the EBDA and BIOS hole, everything from 1 MiB. */
	struct e820 {
		uint64_t addr, size;
		uint32_t type;
	} __attribute__((packed)) map[] = {
		{ 0, 0x9fc00, E820_RAM },
		{ 0x9fc00, 0x400, E820_RESERVED },
		{ 0xf0000, 0x10000, E820_RESERVED },
		{ KERNEL_AT, vm->mem.size - KERNEL_AT, E820_RAM },
	};
	memcpy(bp + BP_E820_TABLE, map, sizeof(map));
	bp[BP_E820_ENTRIES] = sizeof(map) / sizeof(map[0]);
	if (!mem_write_phys(&vm->mem, ZERO_PAGE_AT, bp, sizeof(bp)))
		return load_fail(err, n, "no room for the zero page");

	/* A GDT with the protocol's selectors; the kernel loads its own soon. */
	static const uint64_t gdt[4] = {
		0, 0, 0x00cf9b000000ffffull /* 0x10 code */, 0x00cf93000000ffffull /* 0x18 data */,
	};
	if (!mem_write_phys(&vm->mem, GDT_AT, gdt, sizeof(gdt)))
		return load_fail(err, n, "no room for the boot GDT");
	struct cpu *c = &vm->cpu;
	c->gdtr = (struct dtr){ .base = GDT_AT, .limit = sizeof(gdt) - 1 };
	load_flat_segments(vm, 0x10, 0x18);
	for (int r = 0; r < 8; r++)
		c->sh->regs[r] = 0;
	c->sh->regs[R_ESI] = ZERO_PAGE_AT;
	c->sh->eip = rd32(img + HDR_CODE32) ? rd32(img + HDR_CODE32) : KERNEL_AT;
	return 0;
}

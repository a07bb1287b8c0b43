/*
 * fwcfg.c - the fw_cfg selector and data ports (see fwcfg.h). Items, after QEMU's
 * docs/specs/fw_cfg.rst: 0x0000 signature "QEMU", 0x0001 the interface ID (bit 0:
 * the traditional interface; no DMA), 0x0003 the RAM size (64-bit), 0x0005 the number
 * of CPUs and 0x000f the maximum (16-bit), all little-endian. Writing the selector
 * rewinds the item's offset; reads past an item's end, and of items not listed, give 0,
 * as QEMU's do. The data port is byte-wide: a wider read takes successive bytes.
 */
#include "fwcfg.h"

#include <stdlib.h>
#include <string.h>

#define FW_CFG_PORT_SEL  0x510
#define FW_CFG_PORT_DATA 0x511

enum {
	FW_CFG_SIGNATURE = 0x00, FW_CFG_ID = 0x01, FW_CFG_RAM_SIZE = 0x03,
	FW_CFG_NB_CPUS = 0x05, FW_CFG_MAX_CPUS = 0x0f,
};
#define ID_TRADITIONAL 1u

struct fwcfg {
	uint64_t ram_size;
	uint16_t sel;
	uint32_t off;
};

/* Byte off of the selected item, 0 past its end. */
static uint8_t item_byte(const struct fwcfg *f)
{
	uint8_t item[8] = { 0 };
	uint32_t len = 0;
	uint64_t v = 0;
	switch (f->sel) {
	case FW_CFG_SIGNATURE:
		memcpy(item, "QEMU", 4);
		len = 4;
		break;
	case FW_CFG_ID:
		v = ID_TRADITIONAL;
		len = 4;
		break;
	case FW_CFG_RAM_SIZE:
		v = f->ram_size;
		len = 8;
		break;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		v = 1;
		len = 2;
		break;
	}
	if (f->sel != FW_CFG_SIGNATURE)
		for (uint32_t i = 0; i < 8; i++)
			item[i] = (uint8_t)(v >> (8 * i));
	return f->off < len ? item[f->off] : 0;
}

static uint32_t fw_read(void *opaque, uint16_t port, int size)
{
	struct fwcfg *f = opaque;
	if (port != FW_CFG_PORT_DATA)
		return 0;
	uint32_t v = 0;
	for (int i = 0; i < size; i++) {
		v |= (uint32_t)item_byte(f) << (8 * i);
		if (f->off < 0x10000)
			f->off++;
	}
	return v;
}

static void fw_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct fwcfg *f = opaque;
	(void)size;
	if (port != FW_CFG_PORT_SEL)
		return;         /* the data port's writes are deprecated; ignored */
	f->sel = (uint16_t)val;
	f->off = 0;
}

struct fwcfg *fwcfg_create(struct iobus *io, uint64_t ram_size)
{
	struct fwcfg *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->ram_size = ram_size;
	static const struct io_ports ports[] = { { FW_CFG_PORT_SEL, 2, fw_read, fw_write } };
	if (io_claim(io, ports, 1, f) < 0) {
		free(f);
		return NULL;
	}
	return f;
}

void fwcfg_destroy(struct fwcfg *f) { free(f); }

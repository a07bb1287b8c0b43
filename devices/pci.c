/*
 * pci.c - PCI bus 0 and its host bridge (see pci.h). The configuration header layout,
 * the command register and BAR sizing follow the PCI Local Bus Specification 3.0,
 * chapter 6 ("Configuration Space"); configuration mechanism #1 is its 3.2.2.3.2.
 *
 * Owns the functions' configuration spaces and the CONFIG_ADDRESS register. A guest
 * access reaches the function CONFIG_ADDRESS names; a function nobody registered reads
 * as all ones (no DEVSEL#: the host bridge ends the cycle with a master abort).
 */
#include "pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_ADDRESS  0xcf8
#define CONFIG_DATA     0xcfc
#define ADDR_ENABLE     0x80000000u

/* Header registers (PCI 3.0, 6.1). */
enum {
	CFG_VENDOR = 0x00, CFG_DEVICE = 0x02, CFG_COMMAND = 0x04, CFG_STATUS = 0x06,
	CFG_REVISION = 0x08, CFG_CLASS = 0x09, CFG_CACHE_LINE = 0x0c, CFG_LATENCY = 0x0d,
	CFG_HEADER = 0x0e, CFG_BAR0 = 0x10, CFG_SUBSYS_VENDOR = 0x2c, CFG_SUBSYS = 0x2e,
	CFG_ROM = 0x30, CFG_INT_LINE = 0x3c, CFG_INT_PIN = 0x3d, CFG_DEVICE_SPECIFIC = 0x40,
};
#define CMD_IO          0x0001
#define CMD_MEM         0x0002
#define CMD_MASTER      0x0004
#define CMD_PARITY      0x0040
#define CMD_SERR        0x0100
#define CMD_INTX_OFF    0x0400
#define STATUS_INTX     0x0008
#define HEADER_MULTI    0x80
#define BARS            6

struct bar {
	uint32_t size;                  /* 0: not implemented (reads 0, writes ignored) */
	enum pci_bar_kind kind;
	uint32_t told_addr;             /* what map() was last told */
	bool told_enabled;
};

struct pci_func {
	struct pci_bus *bus;
	int dev, fn;
	uint8_t config[256];
	uint8_t wmask[256];             /* header bits software may write */
	struct bar bar[BARS];
	struct pci_func_ops ops;
	void *opaque;
	bool irq_level;                 /* the INTx pin, before the interrupt-disable bit */
};

struct pci_bus {
	uint32_t address;               /* CONFIG_ADDRESS */
	struct pci_func *fn[32][8];
	struct irq_line pirq[PCI_PIRQS];
	uint8_t pirq_isa_irq[PCI_PIRQS];
	uint8_t pirq_asserted[PCI_PIRQS];       /* how many functions drive each PIRQ */
};

static uint32_t get(const uint8_t *c, int reg, int size)
{
	uint32_t v = 0;
	for (int i = size - 1; i >= 0; i--)
		v = v << 8 | c[reg + i];
	return v;
}

static void put(uint8_t *c, int reg, int size, uint32_t v)
{
	for (int i = 0; i < size; i++)
		c[reg + i] = (uint8_t)(v >> (8 * i));
}

static int pirq_of(const struct pci_func *f)
{
	int pin = f->config[CFG_INT_PIN];
	return (f->dev + pin - 1) & (PCI_PIRQS - 1);
}

/* The INTx pin as the bus sees it: the function's level unless interrupts are off. */
static bool intx_out(const struct pci_func *f)
{
	return f->irq_level && !(get(f->config, CFG_COMMAND, 2) & CMD_INTX_OFF);
}

/* Drive the PIRQ line after f's output went from `was` to its present level. */
static void intx_changed(struct pci_func *f, bool was)
{
	bool now = intx_out(f);
	if (was == now || !f->config[CFG_INT_PIN])
		return;
	struct pci_bus *b = f->bus;
	int p = pirq_of(f);
	b->pirq_asserted[p] = (uint8_t)(b->pirq_asserted[p] + (now ? 1 : -1));
	irq_set(&b->pirq[p], b->pirq_asserted[p] != 0);
}

void pci_set_irq(struct pci_func *f, int level)
{
	bool was = intx_out(f);
	f->irq_level = level != 0;
	uint16_t st = (uint16_t)get(f->config, CFG_STATUS, 2);
	put(f->config, CFG_STATUS, 2, f->irq_level ? st | STATUS_INTX : st & ~STATUS_INTX);
	intx_changed(f, was);
}

/* Tell the function where each of its BARs decodes now, when that changed. */
static void tell_bars(struct pci_func *f)
{
	uint16_t cmd = (uint16_t)get(f->config, CFG_COMMAND, 2);
	for (int i = 0; i < BARS; i++) {
		struct bar *b = &f->bar[i];
		if (!b->size)
			continue;
		bool io = b->kind == PCI_BAR_IO;
		uint32_t addr = get(f->config, CFG_BAR0 + 4 * i, 4) & (io ? ~3u : ~15u);
		bool en = cmd & (io ? CMD_IO : CMD_MEM);
		if (addr == b->told_addr && en == b->told_enabled)
			continue;
		b->told_addr = addr;
		b->told_enabled = en;
		if (f->ops.map)
			f->ops.map(f->opaque, i, addr, en);
	}
}

/* The BAR's low bits (PCI 3.0, 6.2.5.1): I/O space bit 0; memory type and prefetch. */
static uint32_t bar_flags(enum pci_bar_kind k)
{
	return k == PCI_BAR_IO ? 1u : k == PCI_BAR_MEM32_PREFETCH ? 8u : 0u;
}

/* A write to a BAR: the address bits above its size take the value, the size bits
 * stay 0, so that all ones reads back as the size mask. */
static void bar_write(struct pci_func *f, int i, int reg, int size, uint32_t v)
{
	struct bar *b = &f->bar[i];
	int base = CFG_BAR0 + 4 * i;
	uint32_t d = get(f->config, base, 4);
	uint8_t tmp[4];
	put(tmp, 0, 4, d);
	put(tmp, reg - base, size, v);
	d = get(tmp, 0, 4);
	if (!b->size)
		return;
	put(f->config, base, 4, (d & ~(b->size - 1)) | bar_flags(b->kind));
}

static void header_write(struct pci_func *f, int reg, int size, uint32_t v)
{
	bool was = intx_out(f);
	if (reg >= CFG_BAR0 && reg < CFG_BAR0 + 4 * BARS) {
		bar_write(f, (reg - CFG_BAR0) / 4, reg, size, v);
	} else {
		for (int i = 0; i < size; i++) {
			uint8_t m = f->wmask[reg + i], b = (uint8_t)(v >> (8 * i));
			f->config[reg + i] = (uint8_t)((f->config[reg + i] & ~m) | (b & m));
		}
	}
	intx_changed(f, was);
	tell_bars(f);
}

static uint32_t func_read(struct pci_func *f, int reg, int size)
{
	if (reg >= CFG_DEVICE_SPECIFIC && f->ops.cfg_read)
		return f->ops.cfg_read(f->opaque, reg, size);
	return get(f->config, reg, size);
}

static void func_write(struct pci_func *f, int reg, int size, uint32_t v)
{
	if (reg >= CFG_DEVICE_SPECIFIC) {
		if (f->ops.cfg_write)
			f->ops.cfg_write(f->opaque, reg, size, v);
		return;
	}
	header_write(f, reg, size, v);
}

/* The function CONFIG_ADDRESS selects, or NULL (disabled, another bus, nobody). */
static struct pci_func *selected(const struct pci_bus *b)
{
	uint32_t a = b->address;
	if (!(a & ADDR_ENABLE) || ((a >> 16) & 0xff) != 0)
		return NULL;
	return b->fn[(a >> 11) & 31][(a >> 8) & 7];
}

/* CONFIG_ADDRESS is a dword register: narrower accesses to 0xcf8-0xcfb are not
 * configuration cycles (PCI 3.0, 3.2.2.3.2), and nothing here answers them. */
static uint32_t pci_io_read(void *opaque, uint16_t port, int size)
{
	struct pci_bus *b = opaque;
	if (port < CONFIG_DATA)
		return port == CONFIG_ADDRESS && size == 4 ? b->address : 0xffffffffu;
	struct pci_func *f = selected(b);
	int reg = (int)(b->address & 0xfc) + (port & 3);
	if (!f || (reg & 3) + size > 4)
		return 0xffffffffu;
	return func_read(f, reg, size);
}

static void pci_io_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct pci_bus *b = opaque;
	if (port < CONFIG_DATA) {
		if (port == CONFIG_ADDRESS && size == 4)
			b->address = val & 0x80fffffcu;
		return;
	}
	struct pci_func *f = selected(b);
	int reg = (int)(b->address & 0xfc) + (port & 3);
	if (f && (reg & 3) + size <= 4)
		func_write(f, reg, size, val);
}

struct pci_func *pci_register(struct pci_bus *bus, int dev, int fn, const struct pci_id *id,
			      const struct pci_func_ops *ops, void *opaque)
{
	if (dev < 0 || dev > 31 || fn < 0 || fn > 7 || bus->fn[dev][fn] || id->irq_pin > 4)
		return NULL;
	struct pci_func *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->bus = bus;
	f->dev = dev;
	f->fn = fn;
	if (ops)
		f->ops = *ops;
	f->opaque = opaque;
	uint8_t *c = f->config;
	put(c, CFG_VENDOR, 2, id->vendor);
	put(c, CFG_DEVICE, 2, id->device);
	c[CFG_REVISION] = id->revision;
	put(c, CFG_CLASS, 3, id->class_code);
	put(c, CFG_SUBSYS_VENDOR, 2, id->subsys_vendor);
	put(c, CFG_SUBSYS, 2, id->subsys);
	c[CFG_INT_PIN] = id->irq_pin;
	/* What a BIOS leaves: the line the pin is routed to (PCI 3.0, 6.2.4). */
	if (id->irq_pin)
		c[CFG_INT_LINE] = bus->pirq_isa_irq[pirq_of(f)];
	put(f->wmask, CFG_COMMAND, 2, CMD_IO | CMD_MEM | CMD_MASTER | CMD_PARITY | CMD_SERR | CMD_INTX_OFF);
	f->wmask[CFG_CACHE_LINE] = 0xff;
	f->wmask[CFG_LATENCY] = 0xff;
	f->wmask[CFG_INT_LINE] = 0xff;
	bus->fn[dev][fn] = f;
	/* A device with more than one function says so in function 0's header type. */
	if (fn && bus->fn[dev][0])
		bus->fn[dev][0]->config[CFG_HEADER] |= HEADER_MULTI;
	if (!fn)
		for (int k = 1; k < 8; k++)
			if (bus->fn[dev][k])
				c[CFG_HEADER] |= HEADER_MULTI;
	return f;
}

int pci_set_bar(struct pci_func *f, int bar, uint32_t size, enum pci_bar_kind kind)
{
	uint32_t min = kind == PCI_BAR_IO ? 4 : 16;
	if (bar < 0 || bar >= BARS || size < min || (size & (size - 1)))
		return -EINVAL;
	f->bar[bar] = (struct bar){ .size = size, .kind = kind };
	put(f->config, CFG_BAR0 + 4 * bar, 4, bar_flags(kind));
	return 0;
}

uint8_t *pci_config(struct pci_func *f) { return f->config; }

int pci_intx_routes(const struct pci_bus *bus, struct pci_intx_route *out, int max)
{
	int n = 0;
	for (int d = 0; d < 32; d++)
		for (int fn = 0; fn < 8; fn++) {
			const struct pci_func *f = bus->fn[d][fn];
			if (!f || !f->config[CFG_INT_PIN] || n == max)
				continue;
			/* One entry per (device, pin): functions of a device share its pins. */
			bool seen = false;
			for (int k = 0; k < n; k++)
				seen |= out[k].dev == d && out[k].pin == f->config[CFG_INT_PIN];
			if (!seen)
				out[n++] = (struct pci_intx_route){ (uint8_t)d, f->config[CFG_INT_PIN],
								    bus->pirq_isa_irq[pirq_of(f)] };
		}
	return n;
}

/* The i440FX's PCI and memory controller as device 0 (Intel 82441FX datasheet):
 * vendor 8086, device 1237, revision 2, class host bridge. Its chipset registers
 * (PAM, SMRAM) are not modelled: they read as 0 and ignore writes. */
static uint32_t host_cfg_read(void *opaque, int reg, int size)
{
	(void)opaque;
	(void)reg;
	(void)size;
	return 0;
}

struct pci_bus *pci_create(struct iobus *io, const struct irq_line pirq[PCI_PIRQS],
			   const uint8_t pirq_isa_irq[PCI_PIRQS])
{
	struct pci_bus *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	memcpy(b->pirq, pirq, sizeof(b->pirq));
	memcpy(b->pirq_isa_irq, pirq_isa_irq, sizeof(b->pirq_isa_irq));
	static const struct pci_id i440fx = {
		.vendor = 0x8086, .device = 0x1237, .revision = 2, .class_code = 0x060000,
	};
	static const struct pci_func_ops host_ops = { .cfg_read = host_cfg_read };
	if (!pci_register(b, 0, 0, &i440fx, &host_ops, b))
		goto fail;
	static const struct io_ports ports[] = { { CONFIG_ADDRESS, 8, pci_io_read, pci_io_write } };
	if (io_claim(io, ports, 1, b) < 0)
		goto fail;
	return b;
fail:
	pci_destroy(b);
	return NULL;
}

void pci_destroy(struct pci_bus *bus)
{
	if (!bus)
		return;
	for (int d = 0; d < 32; d++)
		for (int fn = 0; fn < 8; fn++)
			free(bus->fn[d][fn]);
	free(bus);
}

/*
 * pci.h - PCI bus 0 behind a host bridge with configuration mechanism #1 (ports 0xcf8
 * CONFIG_ADDRESS, 0xcfc-0xcff CONFIG_DATA; PCI Local Bus Specification 3.0, 3.2.2.3.2),
 * and the API a PCI function plugs into.
 *
 * A function registers at a device/function number with its identity (a type-0
 * header), its BARs and optional callbacks. The bus keeps the 256-byte configuration
 * space: the header's read-only fields, what software may write (command, cache line,
 * latency, interrupt line), and the BARs, whose size a write of all ones reveals. A
 * function's own registers (capabilities, device-specific space from 0x40) go to its
 * callbacks; a BAR's new address or a change of the command register's decode bits is
 * told to it (map), so it can move its ranges on the buses.
 *
 * INTx: function f's pin (INTA#..INTD#) on device d goes to PIRQ (d + pin - 1) mod 4,
 * as PC slots are swizzled, and each PIRQ to one ISA IRQ line given at creation (what
 * a PIIX's PIRQ route registers hold after a BIOS; the line is also in each function's
 * interrupt-line register). Several functions on one PIRQ share the line (wired OR).
 */
#ifndef TRAPEZE_PCI_H
#define TRAPEZE_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "ioport.h"

struct pci_bus;
struct pci_func;

#define PCI_PIRQS 4

/* Callbacks of a function; each may be NULL. reg is a byte offset in the configuration
 * space, size 1, 2 or 4 and the access within one dword. */
struct pci_func_ops {
	/* Registers at 0x40 and above (and the capability list the header points to):
	 * the function's value; without it they read as config[] holds them. */
	uint32_t (*cfg_read)(void *opaque, int reg, int size);
	void (*cfg_write)(void *opaque, int reg, int size, uint32_t val);
	/* BAR bar now decodes at addr (enabled: the command register lets it decode). */
	void (*map)(void *opaque, int bar, uint32_t addr, bool enabled);
};

/* What a function is (its type-0 header). */
struct pci_id {
	uint16_t vendor, device, subsys_vendor, subsys;
	uint32_t class_code;            /* class, subclass, prog-if: 0x060000 a host bridge */
	uint8_t revision;
	uint8_t irq_pin;                /* 0 none, 1..4 INTA#..INTD# */
};

enum pci_bar_kind { PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM32_PREFETCH };

/* The bus with the host bridge (i440FX, 8086:1237) at 00.0, its ports claimed on io;
 * pirq[i] is the ISA line PIRQ i drives. NULL on failure. */
struct pci_bus *pci_create(struct iobus *io, const struct irq_line pirq[PCI_PIRQS],
			   const uint8_t pirq_isa_irq[PCI_PIRQS]);
/* Free the bus and its functions (not their opaque state). */
void pci_destroy(struct pci_bus *bus);
/* Add function fn (0-7) of device dev (0-31): NULL if taken or out of memory. */
struct pci_func *pci_register(struct pci_bus *bus, int dev, int fn, const struct pci_id *id,
			      const struct pci_func_ops *ops, void *opaque);
/* Give BAR bar (0-5) size bytes (a power of two, at least 16 for memory and 4 for I/O)
 * of kind; 0 or -EINVAL. */
int pci_set_bar(struct pci_func *f, int bar, uint32_t size, enum pci_bar_kind kind);
/* The function's configuration space, for its own registers from 0x40 up. */
uint8_t *pci_config(struct pci_func *f);
/* Drive the function's INTx pin (1 asserted); ignored while the command register's
 * interrupt-disable bit is set. */
void pci_set_irq(struct pci_func *f, int level);

/* A function's INTx as the MP table describes it: source bus IRQ (dev << 2 | pin - 1)
 * and the ISA IRQ it is wired to. Up to max routes into out; how many. */
struct pci_intx_route {
	uint8_t dev, pin, isa_irq;
};
int pci_intx_routes(const struct pci_bus *bus, struct pci_intx_route *out, int max);

#endif

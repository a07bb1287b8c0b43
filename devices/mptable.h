/*
 * mptable.h - the Intel MultiProcessor Specification 1.4 tables a PC BIOS leaves in
 * memory for the operating system: the MP floating pointer structure and the MP
 * configuration table (processor, buses, I/O APIC, I/O and local interrupt
 * assignments), so that a kernel without ACPI finds the local APIC, the I/O APIC and
 * how the ISA and PCI interrupts are wired to it.
 *
 * The board builder says what is there (struct mptable); mptable_build() lays the
 * bytes out for a given guest-physical address, and the monitor copies them there.
 */
#ifndef TRAPEZE_MPTABLE_H
#define TRAPEZE_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_IRQS 48

/* One I/O interrupt assignment: an interrupt of a source bus on an I/O APIC pin. */
struct mptable_irq {
	uint8_t bus;            /* MPTABLE_BUS_ISA or MPTABLE_BUS_PCI */
	uint8_t bus_irq;        /* ISA: the IRQ; PCI: device << 2 | (pin - 1) */
	uint8_t pin;            /* the I/O APIC input */
	uint16_t flags;         /* MP spec Table 4-10: polarity bits 1-0, trigger 3-2 */
};
enum { MPTABLE_BUS_PCI = 0, MPTABLE_BUS_ISA = 1 };     /* bus IDs, as SeaBIOS numbers them */
#define MPTABLE_CONFORMS        0x0             /* as the bus says (ISA: high, edge) */
#define MPTABLE_LEVEL_LOW       0xf             /* active low, level: a PCI INTx */

struct mptable {
	uint8_t lapic_id, lapic_version;
	uint32_t lapic_addr;
	uint32_t cpu_signature, cpu_features;   /* CPUID.1 EAX and EDX */
	uint8_t ioapic_id, ioapic_version;
	uint32_t ioapic_addr;
	struct mptable_irq irq[MPTABLE_MAX_IRQS];
	int nirq;
};

/* The floating pointer and, right after it, the configuration table, for phys (16-byte
 * aligned), into buf: the bytes used, or 0 if len is too small. */
size_t mptable_build(const struct mptable *t, uint32_t phys, uint8_t *buf, size_t len);

#endif

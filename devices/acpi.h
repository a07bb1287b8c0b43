/*
 * acpi.h - the ACPI tables a PC BIOS leaves for the operating system (ACPI 6.4
 * specification, chapter 5): the RSDP in the BIOS area, the RSDT, a FADT (revision 3)
 * with its FACS and DSDT, and a MADT. They describe what the board built: the local
 * APIC and I/O APIC with the PIT's interrupt-source override and the SCI's, the PM1a
 * blocks (acpipm.h) with \_S5 for power-off, and in the DSDT the PCI root bridge with
 * its bus, I/O and memory windows and a _PRT that says which GSI each slot's INTx#
 * reaches.
 *
 * The board builder fills struct acpi; acpi_build() lays the tables out for a
 * guest-physical address and the monitor copies them there, as for the MP table.
 */
#ifndef TRAPEZE_ACPI_H
#define TRAPEZE_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct acpi {
	uint32_t lapic_addr, ioapic_addr;
	uint8_t ioapic_id;
	uint8_t sci_irq;                /* the SCI's ISA IRQ (= GSI), level, active high */
	uint8_t pirq_gsi[4];            /* PIRQ A-D: slot s, INTx# pin p (0-3) is PIRQ (s + p) & 3 */
	uint16_t pm1a_evt, pm1a_cnt;    /* the PM1a blocks' ports */
	uint8_t s5_type;                /* the SLP_TYP of S5 */
	uint32_t pci_mem_base;          /* the PCI memory window: from here up to the I/O APIC */
};

/* The tables for phys (16-byte aligned: the RSDP comes first) into buf: the bytes
 * used, or 0 if len is too small. */
size_t acpi_build(const struct acpi *a, uint32_t phys, uint8_t *buf, size_t len);

#endif

/*
 * ioapic.h - the I/O APIC of a PC chipset (82093AA register set, version 0x20 as in
 * QEMU and the ICH): 24 input pins, each with a redirection-table entry that turns a
 * level or an edge on the pin into an interrupt message to the local APIC, at
 * 0xfec00000 (IOREGSEL at +0x00, IOWIN at +0x10, the EOI register at +0x40).
 *
 * Devices drive the pins through struct irq_line (ioapic_set_irq, irq = the pin); the
 * board decides which ISA IRQ goes to which pin (pc.c). Messages go to the one local
 * APIC; its EOI broadcast for a level-triggered vector comes back as ioapic_eoi().
 */
#ifndef TRAPEZE_IOAPIC_H
#define TRAPEZE_IOAPIC_H

#include <stdint.h>

struct ioapic;
struct lapic;
struct mmiobus;

#define IOAPIC_BASE 0xfec00000u
#define IOAPIC_PINS 24

/* The I/O APIC with ID id, every entry masked, its registers claimed on mmio,
 * delivering to lapic. NULL on failure. */
struct ioapic *ioapic_create(struct mmiobus *mmio, struct lapic *lapic, uint8_t id);
void ioapic_destroy(struct ioapic *io);
/* An irq_line set callback: drive pin irq (0..23) to level (1 asserted). */
void ioapic_set_irq(void *opaque, int irq, int level);
/* The local APIC's EOI of vector: level-triggered entries with that vector clear
 * their remote IRR and deliver again if their line is still asserted. */
void ioapic_eoi(struct ioapic *io, int vector);

#endif

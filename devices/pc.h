/*
 * pc.h - the PC board trapeze emulates: which devices, on which ports and lines (pc.c).
 */
#ifndef TRAPEZE_PC_H
#define TRAPEZE_PC_H

#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "clock.h"

struct acpi;
struct blockdev;
struct lapic;
struct mptable;
struct netdev;
struct pci_bus;
struct uart;

struct pc_config {
	const struct vclock *clock;     /* the timed devices' time (copied by each) */
	int64_t epoch_ns;               /* host realtime at creation: the RTC's wall clock */
	uint64_t ram_size;              /* for the CMOS memory-size bytes */
	int serial_in, serial_out;      /* COM1's host descriptors; serial_in -1 for none */
	bool trace;                     /* log POST codes */
	struct blockdev *disk;          /* the primary ATA disk, or NULL (stays the caller's) */
	struct netdev *net;             /* the NE2000's back end, or NULL: no card (the caller's) */
	struct board_stop_hook stop;    /* reset and debug-exit (copied by each device) */
};

/* The devices others must name: the console, the CPU's own APIC (its MSRs are the
 * monitor's), the PCI bus (for devices plugged in later), and how interrupts are
 * wired (for the MP table). All belong to the board. */
struct pc_parts {
	struct uart *com1;
	struct lapic *lapic;
	struct ioapic *ioapic;
	struct pci_bus *pci;
	uint8_t sci_irq;                /* the ACPI SCI's ISA IRQ */
	uint64_t ram_size;
};

/* Put the PC's devices on b and set its interrupt controller; *out gets the parts
 * above. 0 or negative errno; on failure the devices added so far go with the board. */
int pc_build(struct board *b, const struct pc_config *cfg, struct pc_parts *out);
/* The MP table describing the board pc_build() made: its APICs and interrupt wiring,
 * with the CPU's CPUID.1 signature and features. */
void pc_mptable(const struct pc_parts *parts, uint32_t cpu_signature, uint32_t cpu_features,
		struct mptable *t);
/* The ACPI tables describing the same board (acpi.h). */
void pc_acpi(const struct pc_parts *parts, struct acpi *a);
/* Where a BIOS would leave the MP floating pointer and the ACPI RSDP: the BIOS ROM
 * area, which both specifications have the OS scan (MP spec 4, ACPI 5.2.5.1). */
#define PC_MPTABLE_ADDR 0xf0000u
#define PC_ACPI_ADDR    0xf1000u
#define PC_ACPI_MAX     0x4000u

#endif

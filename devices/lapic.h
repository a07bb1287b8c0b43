/*
 * lapic.h - the local APIC of the one virtual CPU, in xAPIC mode: its registers as a
 * 4 KiB MMIO page (0xfee00000 after reset, moved by IA32_APIC_BASE), the interrupt
 * priority logic (IRR, ISR, TMR, TPR/PPR, EOI), the local vector table and the APIC
 * timer (one-shot, periodic, TSC-deadline), and LINT0 in ExtINT mode, through which
 * the 8259 pair still reaches the CPU (virtual wire mode).
 *
 * The board hands the CPU the local APIC as its interrupt controller (pc.c wraps
 * lapic_pending/lapic_ack into its struct intc). Interrupt messages come from the I/O
 * APIC (lapic_deliver) and from the APIC's own ICR, timer and LVT; the EOI of a
 * level-triggered vector is broadcast back through the hook given at creation. The
 * monitor reaches the two MSRs that belong to the APIC (IA32_APIC_BASE,
 * IA32_TSC_DEADLINE) through lapic_*_msr: it owns the TSC, so it converts a deadline
 * to vclock nanoseconds itself.
 *
 * Interface: lapic_create(); lapic_bios_init() for the state a PC BIOS leaves; the
 * board's update/next_deadline records; the calls below.
 */
#ifndef TRAPEZE_LAPIC_H
#define TRAPEZE_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "intc.h"

struct lapic;
struct mmiobus;

#define LAPIC_DEFAULT_BASE 0xfee00000u

/* The EOI of a level-triggered vector, broadcast to the I/O APICs. */
struct lapic_eoi_hook {
	void (*eoi)(void *opaque, int vector);
	void *opaque;
};

/* The local APIC of APIC ID 0 (the BSP) in its power-up state, its page claimed on mmio;
 * extint is the 8259 pair behind LINT0 (copied). NULL on failure. */
struct lapic *lapic_create(struct mmiobus *mmio, const struct vclock *clk, const struct intc *extint);
void lapic_destroy(struct lapic *a);
void lapic_set_eoi_hook(struct lapic *a, const struct lapic_eoi_hook *h);
/* What a PC BIOS leaves (SeaBIOS on QEMU): software-enabled (spurious vector 0xff),
 * LINT0 ExtINT and LINT1 NMI, so that a guest that only knows the 8259 gets its
 * interrupts through LINT0. */
void lapic_bios_init(struct lapic *a);

/* Is the APIC addressed by a message with this destination (physical: the APIC ID or
 * the broadcast 0xff; logical: the flat or cluster model of DFR/LDR)? */
bool lapic_match(const struct lapic *a, uint8_t dest, bool logical);
/* A fixed (or lowest-priority: one CPU) interrupt message: vector into IRR, and into
 * TMR when level-triggered. A vector below 16 is refused as the SDM says (ESR). */
void lapic_deliver(struct lapic *a, int vector, bool level);

/* INTR to the CPU: an APIC interrupt above the processor priority, or the 8259's
 * through LINT0 (ExtINT) or with the APIC globally disabled. */
bool lapic_pending(const struct lapic *a);
/* The acknowledge: the vector (IRR -> ISR), the 8259's, or the spurious vector. */
int lapic_ack(struct lapic *a);
/* An NMI message (an IPI with delivery mode NMI to this APIC) waits; and its taking.
 * The CPU's NMI blocking is the CPU's (until IRET). */
bool lapic_nmi_pending(const struct lapic *a);
void lapic_nmi_ack(struct lapic *a);

/* The timer: raise what is due by now (vclock ns); when it next is due. */
void lapic_update(struct lapic *a, uint64_t now);
uint64_t lapic_next_deadline(const struct lapic *a);

/* IA32_APIC_BASE (MSR 0x1b). A write returns false when it must #GP (reserved bits,
 * or enabling x2APIC, which this APIC does not have). */
uint64_t lapic_base_msr(const struct lapic *a);
bool lapic_set_base_msr(struct lapic *a, uint64_t v);
/* Is the APIC globally enabled (IA32_APIC_BASE[11]: CPUID.1:EDX.APIC follows it)? */
bool lapic_enabled(const struct lapic *a);
/* IA32_TSC_DEADLINE (MSR 0x6e0): the value last written (0 once it fired), and a write
 * of tsc, due at vclock ns (0 disarms). Only in TSC-deadline mode does it arm. */
uint64_t lapic_tsc_deadline(const struct lapic *a);
void lapic_set_tsc_deadline(struct lapic *a, uint64_t tsc, uint64_t ns);

#endif

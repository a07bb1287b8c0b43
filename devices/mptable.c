/*
 * mptable.c - the MP floating pointer and configuration table (see mptable.h), laid
 * out as the MultiProcessor Specification 1.4 says: chapter 4, "MP Configuration
 * Table" (Figures 4-2 and 4-3, Tables 4-1 to 4-12). Numbers are little-endian, every
 * structure is byte-packed, and each of the two structures sums to zero.
 */
#include "mptable.h"

#include <string.h>

#define FP_LEN          16
#define HEADER_LEN      44
#define PROC_LEN        20
#define ENTRY_LEN       8

enum { ENT_PROCESSOR, ENT_BUS, ENT_IOAPIC, ENT_IOINT, ENT_LOCALINT };
enum { INT_INT, INT_NMI, INT_SMI, INT_EXTINT };

struct out {
	uint8_t *p;
	size_t n;
};

static void b8(struct out *o, uint8_t v) { o->p[o->n++] = v; }
static void b16(struct out *o, uint16_t v) { b8(o, (uint8_t)v); b8(o, (uint8_t)(v >> 8)); }
static void b32(struct out *o, uint32_t v) { b16(o, (uint16_t)v); b16(o, (uint16_t)(v >> 16)); }
static void str(struct out *o, const char *s, size_t width)
{
	size_t l = strlen(s);
	for (size_t i = 0; i < width; i++)
		b8(o, i < l ? (uint8_t)s[i] : ' ');
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)-s;
}

static void interrupt_entry(struct out *o, uint8_t type, uint8_t int_type, uint16_t flags,
			    uint8_t bus, uint8_t bus_irq, uint8_t dest, uint8_t pin)
{
	b8(o, type);
	b8(o, int_type);
	b16(o, flags);
	b8(o, bus);
	b8(o, bus_irq);
	b8(o, dest);
	b8(o, pin);
}

size_t mptable_build(const struct mptable *t, uint32_t phys, uint8_t *buf, size_t len)
{
	int entries = 1 + 2 + 1 + t->nirq + 2;
	size_t table_len = HEADER_LEN + PROC_LEN + (size_t)(entries - 1) * ENTRY_LEN;
	if (len < FP_LEN + table_len || t->nirq < 0 || t->nirq > MPTABLE_MAX_IRQS)
		return 0;
	memset(buf, 0, FP_LEN + table_len);

	/* Floating pointer (4.1): feature byte 1 = 0, a configuration table is present;
	 * feature byte 2 bit 7 (IMCR) clear: virtual wire mode, no PIC mode to leave. */
	struct out o = { buf, 0 };
	str(&o, "_MP_", 4);
	b32(&o, phys + FP_LEN);
	b8(&o, 1);                      /* length in 16-byte units */
	b8(&o, 4);                      /* spec revision 1.4 */
	o.n = FP_LEN;
	buf[10] = checksum(buf, FP_LEN);

	/* Configuration table header (4.2). */
	struct out c = { buf + FP_LEN, 0 };
	str(&c, "PCMP", 4);
	b16(&c, (uint16_t)table_len);
	b8(&c, 4);
	b8(&c, 0);                      /* checksum, below */
	str(&c, "TRAPEZE", 8);
	str(&c, "PC", 12);
	b32(&c, 0);                     /* no OEM table */
	b16(&c, 0);
	b16(&c, (uint16_t)entries);
	b32(&c, t->lapic_addr);
	b16(&c, 0);                     /* no extended table */
	b8(&c, 0);
	b8(&c, 0);

	/* Processor (4.3.1): enabled, the bootstrap processor. */
	b8(&c, ENT_PROCESSOR);
	b8(&c, t->lapic_id);
	b8(&c, t->lapic_version);
	b8(&c, 0x3);
	b32(&c, t->cpu_signature);
	b32(&c, t->cpu_features);
	c.n += 8;
	/* Buses (4.3.2), I/O APIC (4.3.3): enabled. */
	b8(&c, ENT_BUS);
	b8(&c, MPTABLE_BUS_PCI);
	str(&c, "PCI", 6);
	b8(&c, ENT_BUS);
	b8(&c, MPTABLE_BUS_ISA);
	str(&c, "ISA", 6);
	b8(&c, ENT_IOAPIC);
	b8(&c, t->ioapic_id);
	b8(&c, t->ioapic_version);
	b8(&c, 1);
	b32(&c, t->ioapic_addr);
	/* I/O interrupt assignments (4.3.4). */
	for (int i = 0; i < t->nirq; i++) {
		const struct mptable_irq *q = &t->irq[i];
		interrupt_entry(&c, ENT_IOINT, INT_INT, q->flags, q->bus, q->bus_irq, t->ioapic_id, q->pin);
	}
	/* Local interrupts (4.3.5): the 8259's INTR on LINT0 as ExtINT, NMI on LINT1 of
	 * every local APIC (0xff), the virtual-wire wiring of Figure 3-3. */
	interrupt_entry(&c, ENT_LOCALINT, INT_EXTINT, MPTABLE_CONFORMS, MPTABLE_BUS_ISA, 0, 0xff, 0);
	interrupt_entry(&c, ENT_LOCALINT, INT_NMI, MPTABLE_CONFORMS, MPTABLE_BUS_ISA, 0, 0xff, 1);
	buf[FP_LEN + 7] = checksum(buf + FP_LEN, table_len);
	return FP_LEN + table_len;
}

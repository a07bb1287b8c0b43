/*
 * acpi.c - the ACPI tables (see acpi.h), with the AML of the DSDT encoded by hand after
 * the ACPI 6.4 specification, chapter 20 ("ACPI Machine Language Specification") and
 * its resource descriptors, 6.4. Table layouts: RSDP 5.2.5, RSDT 5.2.7, FADT 5.2.9
 * (Table 5.9), FACS 5.2.10, MADT 5.2.12 (Tables 5.44-5.52).
 *
 * Everything is little-endian and byte-packed; each table's checksum makes its bytes
 * sum to zero. The tables follow one another from the RSDP, each 16-byte aligned (the
 * FACS 64-byte aligned, as 5.2.10 requires).
 */
#include "acpi.h"

#include <stdbool.h>
#include <string.h>

#define HEADER_LEN 36

struct out {
	uint8_t *p;
	size_t n, cap;
	bool overflow;
};

static void b8(struct out *o, uint8_t v)
{
	if (o->n < o->cap)
		o->p[o->n] = v;
	else
		o->overflow = true;
	o->n++;
}
static void b16(struct out *o, uint16_t v) { b8(o, (uint8_t)v); b8(o, (uint8_t)(v >> 8)); }
static void b32(struct out *o, uint32_t v) { b16(o, (uint16_t)v); b16(o, (uint16_t)(v >> 16)); }
static void b64(struct out *o, uint64_t v) { b32(o, (uint32_t)v); b32(o, (uint32_t)(v >> 32)); }
static void bytes(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b8(o, (uint8_t)s[i]);
}
static void zeros(struct out *o, size_t n)
{
	while (n--)
		b8(o, 0);
}
static void align(struct out *o, size_t a)
{
	while (o->n % a)
		b8(o, 0);
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)-s;
}

/* The common header (5.2.6); the length and checksum are filled by table_end(). */
static size_t table_begin(struct out *o, const char *sig, uint8_t revision)
{
	align(o, 16);
	size_t at = o->n;
	bytes(o, sig, 4);
	b32(o, 0);
	b8(o, revision);
	b8(o, 0);
	bytes(o, "TRAPEZ", 6);
	bytes(o, "PC      ", 8);
	b32(o, 1);
	bytes(o, "TRPZ", 4);
	b32(o, 1);
	return at;
}

static void table_end(struct out *o, size_t at)
{
	if (o->overflow)
		return;
	uint32_t len = (uint32_t)(o->n - at);
	memcpy(o->p + at + 4, &len, 4);
	o->p[at + 9] = checksum(o->p + at, len);
}

/* ---- AML (chapter 20) ---- */

enum {
	AML_ZERO = 0x00, AML_ONE = 0x01, AML_NAME = 0x08, AML_BYTE = 0x0a, AML_WORD = 0x0b,
	AML_DWORD = 0x0c, AML_SCOPE = 0x10, AML_BUFFER = 0x11, AML_PACKAGE = 0x12,
	AML_EXT = 0x5b, AML_DEVICE = 0x82, AML_ROOT = 0x5c,
};

/* A PkgLength is written once its content is known: pkg_begin() leaves room for the
 * longest encoding (4 bytes), pkg_end() moves the content down to the shortest that
 * holds the length (which counts the PkgLength's own bytes, 20.2.4). */
static size_t pkg_begin(struct out *o)
{
	size_t at = o->n;
	zeros(o, 4);
	return at;
}

static void pkg_end(struct out *o, size_t at)
{
	if (o->overflow)
		return;
	size_t content = o->n - at - 4;
	int n = content + 1 < 0x40 ? 1 : content + 2 < 0x1000 ? 2 : content + 3 < 0x100000 ? 3 : 4;
	size_t len = content + (size_t)n;
	memmove(o->p + at + n, o->p + at + 4, content);
	o->n -= (size_t)(4 - n);
	if (n == 1) {
		o->p[at] = (uint8_t)len;
		return;
	}
	o->p[at] = (uint8_t)((n - 1) << 6 | (len & 0xf));
	for (int i = 1; i < n; i++)
		o->p[at + i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
}

static void aml_int(struct out *o, uint32_t v)
{
	if (v == 0) {
		b8(o, AML_ZERO);
	} else if (v == 1) {
		b8(o, AML_ONE);
	} else if (v <= 0xff) {
		b8(o, AML_BYTE);
		b8(o, (uint8_t)v);
	} else if (v <= 0xffff) {
		b8(o, AML_WORD);
		b16(o, (uint16_t)v);
	} else {
		b8(o, AML_DWORD);
		b32(o, v);
	}
}

/* Name(seg, ...) with the value written by the caller after it. */
static void aml_name(struct out *o, const char *seg)
{
	b8(o, AML_NAME);
	bytes(o, seg, 4);
}

/* \_S5: Package { SLP_TYPa, SLP_TYPb, 0, 0 } (7.4.2.6). */
static void aml_s5(struct out *o, uint8_t type)
{
	b8(o, AML_NAME);
	b8(o, AML_ROOT);
	bytes(o, "_S5_", 4);
	b8(o, AML_PACKAGE);
	size_t p = pkg_begin(o);
	b8(o, 4);
	aml_int(o, type);
	aml_int(o, type);
	aml_int(o, 0);
	aml_int(o, 0);
	pkg_end(o, p);
}

/* Word and DWord address space descriptors (6.4.3.5.3, 6.4.3.5.2): a range the bridge
 * decodes and passes on (producer, fixed minimum and maximum). */
enum { RES_MEM = 0, RES_IO = 1, RES_BUS = 2 };
#define RES_FIXED_RANGE 0x0c

static void res_word(struct out *o, uint8_t type, uint8_t specific, uint16_t min, uint16_t max)
{
	b8(o, 0x88);
	b16(o, 13);
	b8(o, type);
	b8(o, RES_FIXED_RANGE);
	b8(o, specific);
	b16(o, 0);                      /* granularity */
	b16(o, min);
	b16(o, max);
	b16(o, 0);                      /* translation */
	b16(o, (uint16_t)(max - min + 1));
}

static void res_dword_mem(struct out *o, uint32_t min, uint32_t max)
{
	b8(o, 0x87);
	b16(o, 23);
	b8(o, RES_MEM);
	b8(o, RES_FIXED_RANGE);
	b8(o, 0x03);                    /* read-write, cacheable */
	b32(o, 0);
	b32(o, min);
	b32(o, max);
	b32(o, 0);
	b32(o, max - min + 1);
}

/* The root bridge's _CRS: bus 0-255, the configuration ports (consumed), the I/O
 * space around them and the memory windows (VGA, and from the end of RAM to the I/O
 * APIC), as QEMU's DSDT has them. */
static void aml_pci_crs(struct out *o, const struct acpi *a)
{
	aml_name(o, "_CRS");
	b8(o, AML_BUFFER);
	size_t p = pkg_begin(o);
	size_t size_at = o->n;
	b8(o, AML_WORD);
	b16(o, 0);                      /* the buffer's size, below */
	size_t start = o->n;
	res_word(o, RES_BUS, 0, 0x00, 0xff);
	b8(o, 0x47);                    /* I/O port descriptor (6.4.2.5): 0xcf8, 8 ports */
	b8(o, 0x01);
	b16(o, 0xcf8);
	b16(o, 0xcf8);
	b8(o, 0x01);
	b8(o, 0x08);
	res_word(o, RES_IO, 0x03, 0x0000, 0x0cf7);
	res_word(o, RES_IO, 0x03, 0x0d00, 0xffff);
	res_dword_mem(o, 0x000a0000, 0x000bffff);
	res_dword_mem(o, a->pci_mem_base, a->ioapic_addr - 1);
	b8(o, 0x79);                    /* end tag; checksum 0: "treat as valid" */
	b8(o, 0);
	if (!o->overflow) {
		uint16_t size = (uint16_t)(o->n - start);
		memcpy(o->p + size_at + 1, &size, 2);
	}
	pkg_end(o, p);
}

/* _PRT (6.2.13): for every slot 1-31 and pin INTA#-INTD#, the GSI it is wired to
 * (source 0: a fixed GSI, level-triggered, active low). */
static void aml_pci_prt(struct out *o, const struct acpi *a)
{
	aml_name(o, "_PRT");
	b8(o, AML_PACKAGE);
	size_t p = pkg_begin(o);
	b8(o, 31 * 4);
	for (uint32_t slot = 1; slot < 32; slot++)
		for (uint32_t pin = 0; pin < 4; pin++) {
			b8(o, AML_PACKAGE);
			size_t e = pkg_begin(o);
			b8(o, 4);
			aml_int(o, slot << 16 | 0xffff);
			aml_int(o, pin);
			aml_int(o, 0);
			aml_int(o, a->pirq_gsi[(slot + pin) & 3]);
			pkg_end(o, e);
		}
	pkg_end(o, p);
}

/* Scope (\_SB) { Device (PCI0) { _HID PNP0A03, _UID 0, _CRS, _PRT } } */
static void aml_pci_root(struct out *o, const struct acpi *a)
{
	b8(o, AML_SCOPE);
	size_t s = pkg_begin(o);
	b8(o, AML_ROOT);
	bytes(o, "_SB_", 4);
	b8(o, AML_EXT);
	b8(o, AML_DEVICE);
	size_t d = pkg_begin(o);
	bytes(o, "PCI0", 4);
	aml_name(o, "_HID");
	b8(o, AML_DWORD);
	b32(o, 0x030ad041);             /* EISAID("PNP0A03"): a PCI host bridge */
	aml_name(o, "_UID");
	aml_int(o, 0);
	aml_pci_crs(o, a);
	aml_pci_prt(o, a);
	pkg_end(o, d);
	pkg_end(o, s);
}

/* ---- the tables ---- */

static uint32_t phys_of(uint32_t base, size_t off) { return base + (uint32_t)off; }

static size_t build_facs(struct out *o)
{
	align(o, 64);
	size_t at = o->n;
	bytes(o, "FACS", 4);
	b32(o, 64);
	b32(o, 0);                      /* hardware signature */
	b32(o, 0);                      /* firmware waking vector */
	b32(o, 0);                      /* global lock */
	b32(o, 0);                      /* flags */
	b64(o, 0);
	b8(o, 1);                       /* version */
	zeros(o, 31);
	return at;
}

static size_t build_dsdt(struct out *o, const struct acpi *a)
{
	size_t at = table_begin(o, "DSDT", 1);
	aml_s5(o, a->s5_type);
	aml_pci_root(o, a);
	table_end(o, at);
	return at;
}

/* FADT revision 3 (Table 5.9). No SMI command port: the machine is always in ACPI
 * mode. No PM timer, no GPE blocks, C2/C3 not supported. IAPC_BOOT_ARCH: legacy ISA
 * devices and an 8042, so that a kernel probes the keyboard controller without a DSDT
 * entry for it. */
static size_t build_fadt(struct out *o, const struct acpi *a, uint32_t facs, uint32_t dsdt)
{
	size_t at = table_begin(o, "FACP", 3);
	b32(o, facs);
	b32(o, dsdt);
	b8(o, 0);                       /* reserved (INT_MODEL) */
	b8(o, 0);                       /* preferred PM profile: unspecified */
	b16(o, a->sci_irq);
	b32(o, 0);                      /* SMI_CMD */
	b8(o, 0);                       /* ACPI_ENABLE */
	b8(o, 0);                       /* ACPI_DISABLE */
	b8(o, 0);                       /* S4BIOS_REQ */
	b8(o, 0);                       /* PSTATE_CNT */
	b32(o, a->pm1a_evt);
	b32(o, 0);
	b32(o, a->pm1a_cnt);
	b32(o, 0);
	b32(o, 0);                      /* PM2_CNT_BLK */
	b32(o, 0);                      /* PM_TMR_BLK */
	b32(o, 0);                      /* GPE0_BLK */
	b32(o, 0);                      /* GPE1_BLK */
	b8(o, 4);                       /* PM1_EVT_LEN */
	b8(o, 2);                       /* PM1_CNT_LEN */
	b8(o, 0);
	b8(o, 0);
	b8(o, 0);
	b8(o, 0);
	b8(o, 0);                       /* GPE1_BASE */
	b8(o, 0);                       /* CST_CNT */
	b16(o, 0x0fff);                 /* P_LVL2_LAT > 100: no C2 */
	b16(o, 0x0fff);                 /* P_LVL3_LAT > 1000: no C3 */
	b16(o, 0);
	b16(o, 0);
	b8(o, 0);
	b8(o, 0);
	b8(o, 0);                       /* DAY_ALRM */
	b8(o, 0);                       /* MON_ALRM */
	b8(o, 0x32);                    /* CENTURY: the CMOS index, as SeaBIOS's */
	b16(o, 0x0003);                 /* IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042 */
	b8(o, 0);
	/* WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON (none as fixed features). */
	b32(o, 1u << 0 | 1u << 2 | 1u << 4 | 1u << 5);
	zeros(o, 12);                   /* RESET_REG: none */
	b8(o, 0);
	zeros(o, 3);
	b64(o, 0);                      /* X_FIRMWARE_CTRL: FIRMWARE_CTRL is used */
	b64(o, 0);                      /* X_DSDT: DSDT is used */
	zeros(o, 8 * 12);               /* X_ blocks: the 32-bit ones are used */
	table_end(o, at);
	return at;
}

/* MADT (5.2.12): the local APIC, the I/O APIC at GSI 0, overrides for the PIT (ISA
 * IRQ 0 on GSI 2) and the SCI (level, active high), and NMI on every LINT1. */
static size_t build_madt(struct out *o, const struct acpi *a)
{
	size_t at = table_begin(o, "APIC", 3);
	b32(o, a->lapic_addr);
	b32(o, 1);                      /* PCAT_COMPAT: there are 8259s too */
	b8(o, 0);                       /* processor local APIC */
	b8(o, 8);
	b8(o, 0);
	b8(o, 0);
	b32(o, 1);
	b8(o, 1);                       /* I/O APIC */
	b8(o, 12);
	b8(o, a->ioapic_id);
	b8(o, 0);
	b32(o, a->ioapic_addr);
	b32(o, 0);
	b8(o, 2);                       /* interrupt source override: IRQ 0 -> GSI 2 */
	b8(o, 10);
	b8(o, 0);
	b8(o, 0);
	b32(o, 2);
	b16(o, 0);
	b8(o, 2);                       /* the SCI: level, active high (MPS INTI flags) */
	b8(o, 10);
	b8(o, 0);
	b8(o, a->sci_irq);
	b32(o, a->sci_irq);
	b16(o, 0x000d);
	b8(o, 4);                       /* local APIC NMI: all processors, LINT1 */
	b8(o, 6);
	b8(o, 0xff);
	b16(o, 0);
	b8(o, 1);
	table_end(o, at);
	return at;
}

size_t acpi_build(const struct acpi *a, uint32_t phys, uint8_t *buf, size_t len)
{
	struct out o = { buf, 0, len, false };
	/* RSDP (5.2.5.3), ACPI 1.0 form: 20 bytes, the RSDT's address patched below. */
	bytes(&o, "RSD PTR ", 8);
	b8(&o, 0);
	bytes(&o, "TRAPEZ", 6);
	b8(&o, 0);
	b32(&o, 0);
	size_t facs = build_facs(&o);
	size_t dsdt = build_dsdt(&o, a);
	size_t fadt = build_fadt(&o, a, phys_of(phys, facs), phys_of(phys, dsdt));
	size_t madt = build_madt(&o, a);
	size_t rsdt = table_begin(&o, "RSDT", 1);
	b32(&o, phys_of(phys, fadt));
	b32(&o, phys_of(phys, madt));
	table_end(&o, rsdt);
	if (o.overflow)
		return 0;
	uint32_t rsdt_phys = phys_of(phys, rsdt);
	memcpy(buf + 16, &rsdt_phys, 4);
	buf[8] = checksum(buf, 20);
	return o.n;
}

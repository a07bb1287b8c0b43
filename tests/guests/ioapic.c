/*
 * ioapic.c - the I/O APIC at 0xfec00000 and the tables that describe the platform:
 * ID, version (24 entries) and the redirection table read back with its read-only bits;
 * the PIT's IRQ 0 through pin 2 (the PC's interrupt-source override) as an
 * edge-triggered vector with the 8259 masked, and a masked pin delivering nothing;
 * COM1's IRQ 4 as a level-triggered vector: remote IRR set while the local APIC has it
 * in service, cleared by the EOI; the MP table (MP spec 1.4) a BIOS leaves in
 * 0xf0000-0xfffff; PCI configuration mechanism #1 finding the i440FX host bridge at
 * 00.0, nothing at 00.31, and a host bridge BAR that sizes as not implemented.
 */
#include "irq.h"

#define APIC 0xfee00000u
#define IOAPIC 0xfec00000u
#define A_EOI 0xb0
#define A_ISR 0x100

static void apic_wr(uint32_t off, uint32_t v) { *(volatile uint32_t *)(APIC + off) = v; }
static uint32_t io_rd(uint32_t reg)
{
	*(volatile uint32_t *)IOAPIC = reg;
	return *(volatile uint32_t *)(IOAPIC + 0x10);
}
static void io_wr(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC = reg;
	*(volatile uint32_t *)(IOAPIC + 0x10) = v;
}
static void rte_set(int pin, uint32_t lo) { io_wr(0x11 + 2 * pin, 0); io_wr(0x10 + 2 * pin, lo); }
static uint32_t rte_lo(int pin) { return io_rd(0x10 + 2 * pin); }

#define RTE_MASKED (1u << 16)
#define RTE_LEVEL (1u << 15)
#define RTE_REMOTE_IRR (1u << 14)

static volatile uint32_t n_timer, n_com1, com1_remote_irr;

static void on_timer(struct frame *f)
{
	(void)f;
	n_timer++;
	apic_wr(A_EOI, 0);
}

/* COM1's THR-empty interrupt holds the level line up until IIR is read or IER drops
 * it: the handler sees remote IRR, turns the source off, and EOIs. */
static void on_com1(struct frame *f)
{
	(void)f;
	n_com1++;
	com1_remote_irr = rte_lo(4) & RTE_REMOTE_IRR;
	outb(0x3f9, 0);
	apic_wr(A_EOI, 0);
}

static void test_registers(void)
{
	check_eq("ioapic-id", io_rd(0) >> 24 & 0xf, 0);
	/* Version 0x20, maximum redirection entry 23. */
	check_eq("ioapic-version", io_rd(1) & 0xff00ff, 0x170020);
	int masked = 1;
	for (int pin = 0; pin < 24; pin++)
		masked &= (rte_lo(pin) & RTE_MASKED) != 0;
	check(masked, "ioapic-all-masked");
	io_wr(0x10 + 2 * 5, RTE_MASKED | RTE_LEVEL | (1u << 13) | 0x35);
	io_wr(0x11 + 2 * 5, 0xff000000);
	check_eq("rte-low-readback", rte_lo(5), RTE_MASKED | RTE_LEVEL | (1u << 13) | 0x35);
	check_eq("rte-high-readback", io_rd(0x11 + 2 * 5), 0xff000000);
	/* Remote IRR and delivery status are the chip's: a write of them is ignored. */
	io_wr(0x10 + 2 * 5, RTE_MASKED | RTE_REMOTE_IRR | (1u << 12) | 0x35);
	check_eq("rte-readonly-bits", rte_lo(5), RTE_MASKED | 0x35);
	rte_set(5, RTE_MASKED);
}

static void test_pit_through_pin2(void)
{
	idt_set(0x70, isr_stubs[0x70], SEL_CODE, 0x8e);
	exc_set_hook(0x70, on_timer);
	pic_mask(0xff, 0xff);                   /* the 8259 delivers nothing */
	pit_set(0, 2, 1193);                    /* 1 kHz */
	rte_set(2, 0x70);                       /* edge, high, fixed, physical 0 */
	sti();
	int ok = WAIT_UNTIL(n_timer >= 10, EVENT_US);
	cli();
	check(ok, "pit-via-ioapic-pin2");
	check_eq("pit-not-via-8259", irq_stray(0), 0);
	rte_set(2, RTE_MASKED | 0x70);
	/* An edge may have reached the local APIC's IRR before the mask: let it in. */
	sti();
	tb_wait_us(2000);
	cli();
	uint32_t n = n_timer;
	sti();
	tb_wait_us(20000);
	cli();
	check_eq("masked-pin-silent", n_timer - n, 0);
	/* Pin 0 is not the PIT on a PC. */
	rte_set(0, 0x70);
	n = n_timer;
	sti();
	tb_wait_us(20000);
	cli();
	check_eq("pin0-not-pit", n_timer - n, 0);
	rte_set(0, RTE_MASKED);
	sti();
	tb_wait_us(2000);
	cli();
	pit_set(0, 2, 0);
}

static void test_com1_level(void)
{
	idt_set(0x71, isr_stubs[0x71], SEL_CODE, 0x8e);
	exc_set_hook(0x71, on_com1);
	while (!(inb(0x3fd) & 0x20))            /* THR empty */
		;
	outb(0x3fc, 0x08);                      /* MCR OUT2: the UART's IRQ reaches the bus */
	rte_set(4, RTE_LEVEL | 0x71);
	outb(0x3f9, 0x02);                      /* IER: THR empty */
	sti();
	int ok = WAIT_UNTIL(n_com1 > 0, EVENT_US);
	cli();
	check(ok, "com1-level-delivered");
	check_eq("com1-level-once", n_com1, 1);
	check(com1_remote_irr, "remote-irr-while-in-service");
	check(!(rte_lo(4) & RTE_REMOTE_IRR), "remote-irr-cleared-by-eoi");
	rte_set(4, RTE_MASKED);
	outb(0x3fc, 0);
}

static uint8_t sum(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void test_mptable(void)
{
	const uint8_t *fp = 0;
	for (uint32_t a = 0xf0000; a < 0x100000 && !fp; a += 16)
		if (*(const uint32_t *)a == 0x5f504d5f && sum((const uint8_t *)a, 16) == 0)
			fp = (const uint8_t *)a;
	check(fp != 0, "mp-floating-pointer");
	if (!fp)
		return;
	check_eq("mp-spec-1.4", fp[9], 4);
	const uint8_t *t = (const uint8_t *)*(const uint32_t *)(fp + 4);
	uint16_t len = *(const uint16_t *)(t + 4), n = *(const uint16_t *)(t + 34);
	check(*(const uint32_t *)t == 0x504d4350 && sum(t, len) == 0, "mp-config-table");
	check_eq("mp-lapic-address", *(const uint32_t *)(t + 36), 0xfee00000);
	int bsp = 0, isa = 0, pci = 0, ioapic = 0, irq0_pin2 = 0, extint = 0;
	const uint8_t *e = t + 44;
	for (int i = 0; i < n && e < t + len; i++) {
		switch (e[0]) {
		case 0:
			bsp += (e[3] & 3) == 3;
			e += 20;
			continue;
		case 1:
			isa += !memcmp(e + 2, "ISA   ", 6);
			pci += !memcmp(e + 2, "PCI   ", 6);
			break;
		case 2:
			ioapic += *(const uint32_t *)(e + 4) == 0xfec00000;
			break;
		case 3:
			irq0_pin2 += e[5] == 0 && e[7] == 2 && e[1] == 0;
			break;
		case 4:
			extint += e[1] == 3 && e[7] == 0;
			break;
		}
		e += 8;
	}
	check_eq("mp-bsp", bsp, 1);
	check(isa == 1 && pci == 1, "mp-buses");
	check_eq("mp-ioapic", ioapic, 1);
	check(irq0_pin2 >= 1, "mp-irq0-on-pin2");
	check_eq("mp-lint0-extint", extint, 1);
}

static uint32_t pci_rd(int dev, int fn, int reg)
{
	outl(0xcf8, 0x80000000u | dev << 11 | fn << 8 | reg);
	return inl(0xcfc);
}
static void pci_wr(int dev, int fn, int reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | dev << 11 | fn << 8 | reg);
	outl(0xcfc, v);
}

static void test_pci(void)
{
	outl(0xcf8, 0x80000000u);
	check_eq("pci-config-address", inl(0xcf8), 0x80000000u);
	check_eq("pci-host-bridge-id", pci_rd(0, 0, 0), 0x12378086);
	check_eq("pci-host-bridge-class", pci_rd(0, 0, 8) >> 8, 0x060000);
	check_eq("pci-host-bridge-header", pci_rd(0, 0, 0xc) >> 16 & 0x7f, 0);
	check_eq("pci-nothing-at-31", pci_rd(31, 0, 0), 0xffffffffu);
	check_eq("pci-other-bus", pci_rd(0, 0, 0) , 0x12378086);
	outl(0xcf8, 0x80010000u);
	check_eq("pci-bus1-empty", inl(0xcfc), 0xffffffffu);
	/* A 16-bit read in the dword: the device ID. */
	outl(0xcf8, 0x80000000u);
	check_eq("pci-word-read", inw(0xcfe), 0x1237);
	/* The host bridge implements no BAR: sizing reads 0. */
	pci_wr(0, 0, 0x10, 0xffffffffu);
	check_eq("pci-host-bar0-none", pci_rd(0, 0, 0x10), 0);
	/* Vendor ID is read-only. */
	pci_wr(0, 0, 0, 0);
	check_eq("pci-id-read-only", pci_rd(0, 0, 0), 0x12378086);
}

void test_main(void)
{
	guest_init();
	idt_init();
	irq_install();
	pic_init();
	tb_start(2);
	test_registers();
	test_pit_through_pin2();
	test_com1_level();
	test_mptable();
	test_pci();
	guest_finish();
}

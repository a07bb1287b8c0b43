/*
 * pc.c - the PC board: the minimal device set an unmodified 32-bit x86 guest (Linux,
 * a multiboot kernel) expects, each with the reason it is there, what it claims and
 * where its interrupt goes:
 *
 *   8259A pair + ELCR  0x20-0x21, 0xa0-0xa1, 0x4d0-0x4d1  the legacy interrupt
 *                                                         controller; slave on the
 *                                                         master's IR2, its INTR on
 *                                                         the local APIC's LINT0
 *   local APIC         0xfee00000 (4 KiB, movable)        the CPU's interrupt
 *                                                         controller and APIC timer
 *   I/O APIC           0xfec00000 (4 KiB)                 every ISA IRQ on the pin of
 *                                                         its number, but IRQ 0 on
 *                                                         pin 2 (an interrupt-source
 *                                                         override, as PCs wire it)
 *   HPET               0xfed00000 (1 KiB)                 a 100 MHz counter and three
 *                                                         timers on I/O APIC inputs
 *                                                         20-23; in no firmware table
 *   PCI host bridge    0xcf8-0xcff                        bus 0, configuration
 *                                                         mechanism #1; i440FX at
 *                                                         00.0; PIRQ A-D on IRQ 10,
 *                                                         10, 11, 11 (SeaBIOS's)
 *   8254 PIT           0x40-0x43, 0x61 (gate 2, speaker)  IRQ 0: the system tick,
 *                                                         and delay-loop calibration
 *   MC146818 RTC/CMOS  0x70-0x71                          IRQ 8: wall clock, memory
 *                                                         sizes, periodic interrupt
 *   16550A UART COM1   0x3f8-0x3ff                        IRQ 4: the console
 *   i8042              0x60, 0x64, 0x92                   IRQ 1, 12: probed by Linux;
 *                                                         its reset line ends the VM
 *   ATA channel        0x1f0-0x1f7, 0x3f6                 IRQ 14: the primary IDE
 *                                                         channel, --disk as device 0
 *                                                         (empty without it, as QEMU's)
 *   NE2000 (DP8390)    0x300-0x31f                        IRQ 9: the network card,
 *                                                         only with --net (QEMU's
 *                                                         ne2k_isa,iobase=0x300,irq=9)
 *   debug ports        0xf4-0xf7 (debug-exit), 0x80 (POST)  how test guests end
 *   ACPI PM1a blocks   0x600-0x605                        power-off through S5 (the
 *                                                         SCI on IRQ 9, or 5 when the
 *                                                         NE2000 has 9)
 *   fw_cfg             0x510-0x511                        QEMU's firmware
 *                                                         configuration: the CPU
 *                                                         count test suites read
 *
 * The PIT, the RTC and the local APIC's timer are the timed devices; COM1 is polled
 * with them for host input, and the NE2000 for received frames. There is no firmware,
 * so what a PC BIOS leaves behind (CMOS memory sizes, the 8259s' vectors and masks, the
 * local APIC enabled in virtual wire mode) is set here, and the MP table is described
 * here for the monitor to put in memory (pc_mptable).
 *
 * Every ISA IRQ line goes to both the 8259 pair and the I/O APIC, as on a PC; which one
 * the guest listens to is its choice (masks, LINT0). The CPU asks the local APIC, which
 * passes the 8259's interrupts on while LINT0 is ExtINT.
 */
#include "pc.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "ata.h"
#include "acpi.h"
#include "acpipm.h"
#include "debugports.h"
#include "fwcfg.h"
#include "hpet.h"
#include "testdev.h"
#include "i8042.h"
#include "ioapic.h"
#include "ioport.h"
#include "lapic.h"
#include "mmio.h"
#include "mptable.h"
#include "ne2000.h"
#include "pci.h"
#include "pic8259.h"
#include "pit8254.h"
#include "rtc.h"
#include "uart16550.h"

/* The board's view of each device: its own calls, with the opaque pointer untyped. */
static void pic_free(void *o) { pic_destroy(o); }
static void pit_up(void *o, uint64_t now) { pit_update(o, now); }
static uint64_t pit_due(void *o) { return pit_next_deadline(o); }
static void pit_free(void *o) { pit_destroy(o); }
static void rtc_up(void *o, uint64_t now) { rtc_update(o, now); }
static uint64_t rtc_due(void *o) { return rtc_next_deadline(o); }
static void rtc_free(void *o) { rtc_destroy(o); }
static void uart_up(void *o, uint64_t now) { (void)now; uart_poll(o); }
static int uart_fd(void *o) { return uart_poll(o); }
static void uart_free(void *o) { uart_destroy(o); }
static void kbc_free(void *o) { i8042_destroy(o); }
static void debug_free(void *o) { debugports_destroy(o); }
static void ata_free(void *o) { ata_destroy(o); }
static void ne_up(void *o, uint64_t now) { (void)now; ne2000_poll(o); }
static int ne_fd(void *o) { return ne2000_wait_fd(o); }
static void ne_free(void *o) { ne2000_destroy(o); }
static void lapic_up(void *o, uint64_t now) { lapic_update(o, now); }
static uint64_t lapic_due(void *o) { return lapic_next_deadline(o); }
static void lapic_free(void *o) { lapic_destroy(o); }
static void ioapic_free(void *o) { ioapic_destroy(o); }
static void hpet_up(void *o, uint64_t now) { hpet_update(o, now); }
static uint64_t hpet_due(void *o) { return hpet_next_deadline(o); }
static void hpet_free(void *o) { hpet_destroy(o); }
static void pci_free(void *o) { pci_destroy(o); }
static void fwcfg_free(void *o) { fwcfg_destroy(o); }
static void acpipm_free(void *o) { acpipm_destroy(o); }
static void testdev_free(void *o) { testdev_destroy(o); }

/* PCI INTx: PIRQ A-D on the ISA lines SeaBIOS routes them to on QEMU's PIIX. */
static const uint8_t pirq_isa_irq[PCI_PIRQS] = { 10, 10, 11, 11 };

/* The I/O APIC pin of ISA IRQ irq: IRQ 0 (the PIT) on pin 2, where PC chipsets wire
 * the timer (ACPI's interrupt-source override, the MP table's entry); IRQ 2 is the
 * cascade, so a device there drives IRQ 9, as pic_set_irq says. */
static int isa_pin(int irq) { return irq == 0 ? 2 : irq == 2 ? 9 : irq; }

/* The board's interrupt controller: ISA lines fan out to both controllers, the CPU
 * talks to the local APIC. */
struct pc_irq {
	struct pic *pic;
	struct ioapic *ioapic;
	struct lapic *lapic;
};

static void pc_set_irq(void *o, int irq, int level)
{
	struct pc_irq *p = o;
	pic_set_irq(p->pic, irq, level);
	ioapic_set_irq(p->ioapic, isa_pin(irq), level);
}
static bool pc_pending(const void *o) { return lapic_pending(((const struct pc_irq *)o)->lapic); }
static int pc_ack(void *o) { return lapic_ack(((struct pc_irq *)o)->lapic); }
static bool pc_nmi_pending(const void *o) { return lapic_nmi_pending(((const struct pc_irq *)o)->lapic); }
static void pc_nmi_ack(void *o) { lapic_nmi_ack(((struct pc_irq *)o)->lapic); }
static void pc_irq_free(void *o) { free(o); }
static void eoi_to_ioapic(void *o, int vector) { ioapic_eoi(o, vector); }

/* Add the record of a device just created; -ENOMEM if its constructor failed. */
static int add(struct board *b, void *dev, struct board_dev d)
{
	if (!dev)
		return -ENOMEM;
	d.opaque = dev;
	return board_add(b, &d);
}

/* Memory sizes in CMOS, as a PC BIOS leaves them (QEMU's layout). */
static void cmos_memory(struct rtc *rtc, uint64_t ram_size)
{
	uint64_t kb_above_1m = ram_size > (1u << 20) ? (ram_size >> 10) - 1024 : 0;
	if (kb_above_1m > 0xffff)
		kb_above_1m = 0xffff;
	uint64_t above_16m = ram_size > (16u << 20) ? (ram_size - (16u << 20)) >> 16 : 0;
	if (above_16m > 0xffff)
		above_16m = 0xffff;
	rtc_cmos_set(rtc, 0x15, 640 & 0xff);
	rtc_cmos_set(rtc, 0x16, 640 >> 8);
	rtc_cmos_set(rtc, 0x17, (uint8_t)kb_above_1m);
	rtc_cmos_set(rtc, 0x18, (uint8_t)(kb_above_1m >> 8));
	rtc_cmos_set(rtc, 0x30, (uint8_t)kb_above_1m);
	rtc_cmos_set(rtc, 0x31, (uint8_t)(kb_above_1m >> 8));
	rtc_cmos_set(rtc, 0x34, (uint8_t)above_16m);
	rtc_cmos_set(rtc, 0x35, (uint8_t)(above_16m >> 8));
}

/* As a PC BIOS leaves the 8259s: vectors 0x08 and 0x70, all masked but the cascade,
 * so a guest that sets IF before programming them gets nothing. */
static void pic_bios_init(struct iobus *io)
{
	static const uint8_t init[][2] = {
		{ 0x20, 0x11 }, { 0x21, 0x08 }, { 0x21, 0x04 }, { 0x21, 0x01 },
		{ 0xa0, 0x11 }, { 0xa1, 0x70 }, { 0xa1, 0x02 }, { 0xa1, 0x01 },
		{ 0x21, 0xfb }, { 0xa1, 0xff },
	};
	for (size_t k = 0; k < sizeof(init) / sizeof(init[0]); k++)
		io_out(io, init[k][0], 1, init[k][1]);
}

/* The interrupt controllers: the 8259 pair, the local APIC with the pair on LINT0,
 * the I/O APIC delivering to it, and the wiring above as the board's controller. */
static int build_irq(struct board *b, struct pc_parts *out, const struct pc_config *cfg,
		     struct intc *intc)
{
	struct pic *pic = pic_create(board_io(b));
	int r = add(b, pic, (struct board_dev){ .name = "8259 pair", .destroy = pic_free });
	if (r < 0)
		return r;
	struct intc pic_c = pic_intc(pic);
	struct lapic *lapic = lapic_create(board_mmio(b), cfg->clock, &pic_c);
	r = add(b, lapic, (struct board_dev){ .name = "local APIC", .update = lapic_up,
					      .next_deadline = lapic_due, .destroy = lapic_free });
	if (r < 0)
		return r;
	struct ioapic *ioapic = ioapic_create(board_mmio(b), lapic, 0);
	r = add(b, ioapic, (struct board_dev){ .name = "I/O APIC", .destroy = ioapic_free });
	if (r < 0)
		return r;
	lapic_set_eoi_hook(lapic, &(struct lapic_eoi_hook){ eoi_to_ioapic, ioapic });
	out->ioapic = ioapic;
	struct hpet *hpet = hpet_create(board_mmio(b), cfg->clock,
					(struct irq_line){ ioapic_set_irq, ioapic, 0 });
	r = add(b, hpet, (struct board_dev){ .name = "HPET", .update = hpet_up,
					     .next_deadline = hpet_due, .destroy = hpet_free });
	if (r < 0)
		return r;
	lapic_bios_init(lapic);
	struct pc_irq *p = calloc(1, sizeof(*p));
	r = add(b, p, (struct board_dev){ .name = "interrupt wiring", .destroy = pc_irq_free });
	if (r < 0)
		return r;
	*p = (struct pc_irq){ pic, ioapic, lapic };
	*intc = (struct intc){ pc_set_irq, pc_pending, pc_ack, p, pc_nmi_pending, pc_nmi_ack };
	board_set_intc(b, intc);
	out->lapic = lapic;
	return 0;
}

int pc_build(struct board *b, const struct pc_config *cfg, struct pc_parts *out)
{
	struct iobus *io = board_io(b);
	*out = (struct pc_parts){ 0 };
	struct intc intc;
	int r = build_irq(b, out, cfg, &intc);
	if (r < 0)
		return r;

	struct pit *pit = pit_create(io, cfg->clock, intc_line(&intc, 0));
	r = add(b, pit, (struct board_dev){ .name = "8254 PIT", .update = pit_up,
					    .next_deadline = pit_due, .destroy = pit_free });
	if (r < 0)
		return r;
	struct rtc *rtc = rtc_create(io, cfg->clock, cfg->epoch_ns, intc_line(&intc, 8));
	r = add(b, rtc, (struct board_dev){ .name = "RTC", .update = rtc_up,
					    .next_deadline = rtc_due, .destroy = rtc_free });
	if (r < 0)
		return r;
	cmos_memory(rtc, cfg->ram_size);
	pic_bios_init(io);

	struct uart *com1 = uart_create(io, 0x3f8, intc_line(&intc, 4), cfg->serial_in, cfg->serial_out);
	r = add(b, com1, (struct board_dev){ .name = "COM1", .update = uart_up,
					     .wait_fd = uart_fd, .destroy = uart_free });
	if (r < 0)
		return r;
	out->com1 = com1;
	struct i8042 *kbc = i8042_create(io, &cfg->stop, intc_line(&intc, 1), intc_line(&intc, 12));
	r = add(b, kbc, (struct board_dev){ .name = "i8042", .destroy = kbc_free });
	if (r < 0)
		return r;
	struct ata *ata = ata_create(io, 0x1f0, 0x3f6, intc_line(&intc, 14), cfg->disk);
	r = add(b, ata, (struct board_dev){ .name = "ATA primary", .destroy = ata_free });
	if (r < 0)
		return r;
	if (cfg->net) {
		struct ne2000 *ne = ne2000_create(io, 0x300, intc_line(&intc, 9), cfg->net);
		r = add(b, ne, (struct board_dev){ .name = "NE2000", .update = ne_up,
						   .wait_fd = ne_fd, .destroy = ne_free });
		if (r < 0)
			return r;
	}
	struct irq_line pirq[PCI_PIRQS];
	for (int i = 0; i < PCI_PIRQS; i++)
		pirq[i] = intc_line(&intc, pirq_isa_irq[i]);
	struct pci_bus *pci = pci_create(io, pirq, pirq_isa_irq);
	r = add(b, pci, (struct board_dev){ .name = "PCI bus", .destroy = pci_free });
	if (r < 0)
		return r;
	out->pci = pci;
	struct acpipm *pm = acpipm_create(io, &cfg->stop);
	r = add(b, pm, (struct board_dev){ .name = "ACPI PM", .destroy = acpipm_free });
	if (r < 0)
		return r;
	out->sci_irq = cfg->net ? 5 : 9;        /* 9 as on PIIX4, unless the NE2000 has it */
	out->ram_size = cfg->ram_size;
	struct fwcfg *fw = fwcfg_create(io, cfg->ram_size);
	r = add(b, fw, (struct board_dev){ .name = "fw_cfg", .destroy = fwcfg_free });
	if (r < 0)
		return r;
	/* QEMU's pc-testdev (kvm-unit-tests): lines 0-15 are ISA IRQs, 16-23 I/O APIC pins. */
	struct irq_line tlines[TESTDEV_IRQS];
	for (int i = 0; i < TESTDEV_IRQS; i++)
		tlines[i] = i < 16 ? intc_line(&intc, i)
				   : (struct irq_line){ ioapic_set_irq, out->ioapic, i };
	struct testdev *td = testdev_create(io, board_mmio(b), tlines);
	r = add(b, td, (struct board_dev){ .name = "pc-testdev", .destroy = testdev_free });
	if (r < 0)
		return r;
	struct debugports *dbg = debugports_create(io, &cfg->stop, cfg->trace);
	r = add(b, dbg, (struct board_dev){ .name = "debug ports", .destroy = debug_free });
	if (r < 0)
		return r;
	return 0;
}

void pc_mptable(const struct pc_parts *parts, uint32_t cpu_signature, uint32_t cpu_features,
		struct mptable *t)
{
	*t = (struct mptable){
		.lapic_id = 0, .lapic_version = 0x14, .lapic_addr = LAPIC_DEFAULT_BASE,
		.cpu_signature = cpu_signature, .cpu_features = cpu_features,
		.ioapic_id = 0, .ioapic_version = 0x20, .ioapic_addr = IOAPIC_BASE,
	};
	struct pci_intx_route routes[16];
	int nr = pci_intx_routes(parts->pci, routes, 16);
	uint32_t pci_lines = 0;
	for (int i = 0; i < nr && t->nirq < MPTABLE_MAX_IRQS; i++) {
		t->irq[t->nirq++] = (struct mptable_irq){ MPTABLE_BUS_PCI,
			(uint8_t)(routes[i].dev << 2 | (routes[i].pin - 1)), routes[i].isa_irq,
			MPTABLE_LEVEL_LOW };
		pci_lines |= 1u << routes[i].isa_irq;
	}
	/* ISA IRQs but the cascade, each where isa_pin() wires it; none on a line PCI
	 * interrupts share (level, active low: one assignment per pin). */
	for (int irq = 0; irq < 16 && t->nirq < MPTABLE_MAX_IRQS; irq++)
		if (irq != 2 && !(pci_lines & (1u << irq)))
			t->irq[t->nirq++] = (struct mptable_irq){ MPTABLE_BUS_ISA, (uint8_t)irq,
				(uint8_t)isa_pin(irq), MPTABLE_CONFORMS };
}

void pc_acpi(const struct pc_parts *parts, struct acpi *a)
{
	uint64_t top = (parts->ram_size + 0xfffff) & ~0xfffffull;
	*a = (struct acpi){
		.lapic_addr = LAPIC_DEFAULT_BASE, .ioapic_addr = IOAPIC_BASE, .ioapic_id = 0,
		.sci_irq = parts->sci_irq,
		.pm1a_evt = ACPI_PM1A_EVT, .pm1a_cnt = ACPI_PM1A_CNT, .s5_type = ACPI_PM_S5_TYPE,
		.pci_mem_base = top < IOAPIC_BASE ? (uint32_t)top : IOAPIC_BASE - 0x100000,
	};
	for (int i = 0; i < PCI_PIRQS; i++)
		a->pirq_gsi[i] = pirq_isa_irq[i];   /* ISA IRQ n is GSI n but for IRQ 0 */
}

/*
 * test_pci.c - PCI bus 0 through the real I/O bus: configuration mechanism #1 (only a
 * dword at 0xcf8 is CONFIG_ADDRESS; byte, word and dword data accesses), the host
 * bridge's identity, a function plugged in the way a future device will (BAR sizing
 * for I/O and memory BARs, the map callback on address and decode changes, read-only
 * header fields, device-specific registers through its callbacks, the multi-function
 * bit), and INTx: the slot swizzle onto PIRQ lines, wired OR, the interrupt-disable
 * bit, the interrupt-line register a BIOS fills and the routes for the MP table.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../devices/ioport.h"
#include "../../devices/pci.h"

static struct iobus *io;
static struct pci_bus *bus;
static int line_level[16];
static const uint8_t pirq_irq[PCI_PIRQS] = { 10, 10, 11, 11 };

static void fake_line(void *opaque, int irq, int level)
{
	(void)opaque;
	line_level[irq] = level;
}

static void setup(void)
{
	io = io_create();
	struct irq_line l[PCI_PIRQS];
	for (int i = 0; i < PCI_PIRQS; i++)
		l[i] = (struct irq_line){ fake_line, NULL, pirq_irq[i] };
	bus = pci_create(io, l, pirq_irq);
	ck_assert_ptr_nonnull(bus);
	for (int i = 0; i < 16; i++)
		line_level[i] = 0;
}

static void teardown(void)
{
	pci_destroy(bus);
	io_destroy(io);
}

static uint32_t cfg_rd(int dev, int fn, int reg, int size)
{
	io_out(io, 0xcf8, 4, 0x80000000u | (uint32_t)dev << 11 | (uint32_t)fn << 8 | (reg & 0xfc));
	return io_in(io, (uint16_t)(0xcfc + (reg & 3)), size);
}

static void cfg_wr(int dev, int fn, int reg, int size, uint32_t v)
{
	io_out(io, 0xcf8, 4, 0x80000000u | (uint32_t)dev << 11 | (uint32_t)fn << 8 | (reg & 0xfc));
	io_out(io, (uint16_t)(0xcfc + (reg & 3)), size, v);
}

START_TEST(host_bridge)
{
	ck_assert_uint_eq(cfg_rd(0, 0, 0, 4), 0x12378086);
	ck_assert_uint_eq(cfg_rd(0, 0, 2, 2), 0x1237);
	ck_assert_uint_eq(cfg_rd(0, 0, 0xb, 1), 0x06);
	ck_assert_uint_eq(cfg_rd(0, 0, 8, 4), 0x06000002);
	ck_assert_uint_eq(cfg_rd(1, 0, 0, 4), 0xffffffffu);
	ck_assert_uint_eq(cfg_rd(0, 1, 0, 4), 0xffffffffu);
	/* Chipset registers: 0 and writes ignored. */
	cfg_wr(0, 0, 0x59, 1, 0x30);
	ck_assert_uint_eq(cfg_rd(0, 0, 0x58, 4), 0);
	/* Bus 1 and a disabled address are nobody. */
	io_out(io, 0xcf8, 4, 0x80010000u);
	ck_assert_uint_eq(io_in(io, 0xcfc, 4), 0xffffffffu);
	io_out(io, 0xcf8, 4, 0x00000000u);
	ck_assert_uint_eq(io_in(io, 0xcfc, 4), 0xffffffffu);
	/* CONFIG_ADDRESS keeps enable, bus, device, function, register; a byte write to
	 * 0xcf8..0xcfb is not CONFIG_ADDRESS. */
	io_out(io, 0xcf8, 4, 0x80fffffFu);
	ck_assert_uint_eq(io_in(io, 0xcf8, 4), 0x80fffffcu);
	io_out(io, 0xcfb, 1, 0x01);
	ck_assert_uint_eq(io_in(io, 0xcf8, 4), 0x80fffffcu);
	/* A write that spans the dword goes nowhere. */
	io_out(io, 0xcf8, 4, 0x80000000u);
	io_out(io, 0xcfe, 4, 0);
	ck_assert_uint_eq(cfg_rd(0, 0, 0, 4), 0x12378086);
}
END_TEST

static int maps, map_bar;
static uint32_t map_addr;
static bool map_en;
static uint32_t dev_reg40 = 0xabcd0040;

static void on_map(void *opaque, int bar, uint32_t addr, bool enabled)
{
	(void)opaque;
	maps++;
	map_bar = bar;
	map_addr = addr;
	map_en = enabled;
}

static uint32_t dev_rd(void *opaque, int reg, int size)
{
	(void)opaque;
	ck_assert_int_eq(reg & ~3, 0x40);
	return (uint32_t)((uint64_t)dev_reg40 >> ((reg & 3) * 8)) & (size == 4 ? ~0u : (1u << size * 8) - 1);
}

static void dev_wr(void *opaque, int reg, int size, uint32_t v)
{
	(void)opaque;
	(void)size;
	if (reg == 0x40)
		dev_reg40 = v;
}

static const struct pci_func_ops ops = { dev_rd, dev_wr, on_map };
static const struct pci_id virtio_like = {
	.vendor = 0x1af4, .device = 0x1001, .class_code = 0x010000, .revision = 1,
	.subsys_vendor = 0x1af4, .subsys = 2, .irq_pin = 1,
};

START_TEST(bar_sizing)
{
	struct pci_func *f = pci_register(bus, 3, 0, &virtio_like, &ops, NULL);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_null(pci_register(bus, 3, 0, &virtio_like, &ops, NULL));
	ck_assert_int_eq(pci_set_bar(f, 0, 0x40, PCI_BAR_IO), 0);
	ck_assert_int_eq(pci_set_bar(f, 1, 0x1000, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_set_bar(f, 2, 0x3000, PCI_BAR_MEM32), -EINVAL);
	ck_assert_int_eq(pci_set_bar(f, 6, 0x1000, PCI_BAR_MEM32), -EINVAL);
	ck_assert_int_eq(pci_set_bar(f, 2, 8, PCI_BAR_MEM32), -EINVAL);
	ck_assert_uint_eq(cfg_rd(3, 0, 0, 4), 0x10011af4);
	ck_assert_uint_eq(cfg_rd(3, 0, 0x2c, 4), 0x00021af4);
	ck_assert_uint_eq(cfg_rd(3, 0, 0x10, 4), 1);            /* I/O space indicator */
	ck_assert_uint_eq(cfg_rd(3, 0, 0x14, 4), 0);
	/* All ones: the size mask comes back, with the type bits. */
	cfg_wr(3, 0, 0x10, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg_rd(3, 0, 0x10, 4), 0xffffffc1u);
	cfg_wr(3, 0, 0x14, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg_rd(3, 0, 0x14, 4), 0xfffff000u);
	cfg_wr(3, 0, 0x18, 4, 0xffffffffu);                     /* not implemented */
	ck_assert_uint_eq(cfg_rd(3, 0, 0x18, 4), 0);
	ck_assert_int_eq(maps, 2);                              /* both moved, decoding off */
	ck_assert(!map_en);
	/* An address, then decoding on: the function is told. */
	maps = 0;
	cfg_wr(3, 0, 0x14, 4, 0xfebf1234u);
	ck_assert_uint_eq(cfg_rd(3, 0, 0x14, 4), 0xfebf1000u);
	ck_assert_int_eq(maps, 1);
	ck_assert_int_eq(map_bar, 1);
	ck_assert_uint_eq(map_addr, 0xfebf1000u);
	cfg_wr(3, 0, 0x10, 2, 0xc000);                          /* a word write of the BAR */
	ck_assert_uint_eq(cfg_rd(3, 0, 0x10, 4), 0xffffc001u);
	maps = 0;
	cfg_wr(3, 0, 4, 2, 0x0003);
	ck_assert_int_eq(maps, 2);
	ck_assert(map_en);
	ck_assert_uint_eq(cfg_rd(3, 0, 4, 2), 3);
	/* Read-only: identity, class, header type, the pin. */
	cfg_wr(3, 0, 0, 4, 0);
	cfg_wr(3, 0, 8, 4, 0);
	cfg_wr(3, 0, 0x3d, 1, 4);
	ck_assert_uint_eq(cfg_rd(3, 0, 0, 4), 0x10011af4);
	ck_assert_uint_eq(cfg_rd(3, 0, 8, 4), 0x01000001);
	ck_assert_uint_eq(cfg_rd(3, 0, 0x3d, 1), 1);
	/* Device-specific registers are the function's. */
	ck_assert_uint_eq(cfg_rd(3, 0, 0x40, 4), 0xabcd0040);
	ck_assert_uint_eq(cfg_rd(3, 0, 0x42, 2), 0xabcd);
	cfg_wr(3, 0, 0x40, 4, 0x12345678);
	ck_assert_uint_eq(dev_reg40, 0x12345678);
	/* A second function makes function 0 multi-function. */
	ck_assert_uint_eq(cfg_rd(3, 0, 0xe, 1), 0);
	ck_assert_ptr_nonnull(pci_register(bus, 3, 1, &virtio_like, NULL, NULL));
	ck_assert_uint_eq(cfg_rd(3, 0, 0xe, 1), 0x80);
}
END_TEST

START_TEST(intx_routing)
{
	/* Device 3 INTA# -> PIRQ (3 + 0) & 3 = D -> IRQ 11; device 4 INTA# -> A -> IRQ 10;
	 * device 5 INTD# -> (5 + 3) & 3 = A -> IRQ 10. */
	struct pci_func *a = pci_register(bus, 3, 0, &virtio_like, NULL, NULL);
	struct pci_func *b = pci_register(bus, 4, 0, &virtio_like, NULL, NULL);
	struct pci_id d_pin = virtio_like;
	d_pin.irq_pin = 4;
	struct pci_func *c = pci_register(bus, 5, 0, &d_pin, NULL, NULL);
	ck_assert_uint_eq(cfg_rd(3, 0, 0x3c, 1), 11);
	ck_assert_uint_eq(cfg_rd(4, 0, 0x3c, 1), 10);
	ck_assert_uint_eq(cfg_rd(5, 0, 0x3c, 1), 10);
	pci_set_irq(a, 1);
	ck_assert_int_eq(line_level[11], 1);
	ck_assert_uint_eq(cfg_rd(3, 0, 6, 2) & 8, 8);           /* status: interrupt */
	pci_set_irq(b, 1);
	pci_set_irq(c, 1);
	ck_assert_int_eq(line_level[10], 1);
	pci_set_irq(b, 0);
	ck_assert_int_eq(line_level[10], 1);                    /* c still holds it */
	pci_set_irq(c, 0);
	ck_assert_int_eq(line_level[10], 0);
	/* Interrupt disable drops the pin's effect, and enabling brings it back. */
	cfg_wr(3, 0, 4, 2, 0x0400);
	ck_assert_int_eq(line_level[11], 0);
	cfg_wr(3, 0, 4, 2, 0);
	ck_assert_int_eq(line_level[11], 1);
	pci_set_irq(a, 0);
	ck_assert_int_eq(line_level[11], 0);
	struct pci_intx_route r[8];
	ck_assert_int_eq(pci_intx_routes(bus, r, 8), 3);
	ck_assert(r[0].dev == 3 && r[0].pin == 1 && r[0].isa_irq == 11);
	ck_assert(r[2].dev == 5 && r[2].pin == 4 && r[2].isa_irq == 10);
}
END_TEST

static Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tcase_create("pci");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, host_bridge);
	tcase_add_test(tc, bar_sizing);
	tcase_add_test(tc, intx_routing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pci_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

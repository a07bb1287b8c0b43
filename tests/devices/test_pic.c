/*
 * test_pic.c - the 8259A pair through its real ports on a real iobus: initialization
 * as Linux does it (ICW1 0x11, ICW2 0x20/0x28, ICW3 4/2, ICW4 1), masking, priority,
 * EOIs, nesting, the cascade, AEOI, edge and level inputs (ELCR), spurious IRQ 7/15,
 * OCW3 register reads, polling, rotation, special mask and special fully nested modes.
 *
 * The CPU side is pic_intr() and pic_ack(); devices are pic_set_irq().
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../devices/ioport.h"
#include "../../devices/pic8259.h"

static struct iobus *io;
static struct pic *pic;

#define M 0x20
#define S 0xa0

static void outb(uint16_t port, uint8_t v) { io_out(io, port, 1, v); }
static uint8_t inb(uint16_t port) { return (uint8_t)io_in(io, port, 1); }

static void init_pair(uint8_t icw4_master, uint8_t icw4_slave)
{
	outb(M, 0x11);
	outb(M + 1, 0x20);
	outb(M + 1, 0x04);
	outb(M + 1, icw4_master);
	outb(S, 0x11);
	outb(S + 1, 0x28);
	outb(S + 1, 0x02);
	outb(S + 1, icw4_slave);
}

static void setup(void)
{
	io = io_create();
	ck_assert_ptr_nonnull(io);
	pic = pic_create(io);
	ck_assert_ptr_nonnull(pic);
	init_pair(0x01, 0x01);
}

static void teardown(void)
{
	pic_destroy(pic);
	io_destroy(io);
}

static void raise_irq(int irq) { pic_set_irq(pic, irq, 1); }
static void lower_irq(int irq) { pic_set_irq(pic, irq, 0); }
static void pulse(int irq)
{
	raise_irq(irq);
	lower_irq(irq);
}

/* OCW3 RR/RIS selects the register, and the even port is put back to reading IRR. */
static uint8_t read_isr(uint16_t base)
{
	outb(base, 0x0b);
	uint8_t v = inb(base);
	outb(base, 0x0a);
	return v;
}
static uint8_t read_irr(uint16_t base)
{
	outb(base, 0x0a);
	return inb(base);
}

static void eoi_master(void) { outb(M, 0x20); }
static void eoi_slave(void) { outb(S, 0x20); }

/* The acknowledge the CPU would do now: INTR must be up. */
static int ack(void)
{
	ck_assert_msg(pic_intr(pic), "INTR is low (master IRR %#x ISR %#x)", read_irr(M), read_isr(M));
	return pic_ack(pic);
}

/* ---- creation ---- */

START_TEST(power_on_state)
{
	struct iobus *io2 = io_create();
	struct pic *p = pic_create(io2);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(io_in(io2, 0x21, 1), 0);      /* IMR clear, as QEMU resets it */
	ck_assert_uint_eq(io_in(io2, 0xa1, 1), 0);
	ck_assert_uint_eq(io_in(io2, 0x20, 1), 0);      /* IRR */
	ck_assert_uint_eq(io_in(io2, 0x4d0, 1), 0);
	ck_assert(!pic_intr(p));
	pic_set_irq(p, 0, 1);
	ck_assert(pic_intr(p));
	ck_assert_int_eq(pic_ack(p), 0x00);             /* no ICW2 yet: base 0 */
	pic_set_irq(p, 8, 1);                           /* the slave is cascaded at reset */
	io_out(io2, 0x20, 1, 0x20);                     /* EOI IR0 */
	ck_assert_int_eq(pic_ack(p), 0x00);
	io_out(io2, 0xa0, 1, 0x0b);
	ck_assert_uint_eq(io_in(io2, 0xa0, 1), 0x01);
	pic_destroy(p);
	io_destroy(io2);
}
END_TEST

START_TEST(port_clash)
{
	/* setup() already claimed 0x20 on io. */
	ck_assert_ptr_null(pic_create(io));
}
END_TEST

START_TEST(ack_without_request)
{
	ck_assert(!pic_intr(pic));
	ck_assert_int_eq(pic_ack(pic), 0x27);
	ck_assert_uint_eq(read_isr(M), 0);
	ck_assert(!pic_intr(pic));
}
END_TEST

/* ---- OCW1 ---- */

START_TEST(imr_readback)
{
	outb(M + 1, 0x5a);
	outb(S + 1, 0xa5);
	ck_assert_uint_eq(inb(M + 1), 0x5a);
	ck_assert_uint_eq(inb(S + 1), 0xa5);
	init_pair(0x01, 0x01);                          /* ICW1 clears the IMR */
	ck_assert_uint_eq(inb(M + 1), 0);
	ck_assert_uint_eq(inb(S + 1), 0);
}
END_TEST

START_TEST(masking)
{
	outb(M + 1, 0x02);
	pulse(1);
	ck_assert(!pic_intr(pic));
	ck_assert_uint_eq(read_irr(M), 0x02);           /* a masked request still latches */
	outb(M + 1, 0x00);
	ck_assert_int_eq(ack(), 0x21);
	eoi_master();

	outb(S + 1, 0x10);                              /* IRQ 12 on the slave */
	pulse(12);
	ck_assert(!pic_intr(pic));
	outb(S + 1, 0x00);
	outb(M + 1, 0x04);                              /* the cascade masks the whole slave */
	ck_assert(!pic_intr(pic));
	outb(M + 1, 0x00);
	ck_assert_int_eq(ack(), 0x2c);
}
END_TEST

/* ---- priority, EOI, nesting ---- */

START_TEST(priority_order)
{
	pulse(5);
	pulse(3);
	pulse(6);
	ck_assert_int_eq(ack(), 0x23);
	ck_assert(!pic_intr(pic));                      /* 5 and 6 wait behind 3 */
	eoi_master();
	ck_assert_int_eq(ack(), 0x25);
	eoi_master();
	ck_assert_int_eq(ack(), 0x26);
	ck_assert_uint_eq(read_isr(M), 0x40);
	eoi_master();
	ck_assert_uint_eq(read_isr(M), 0);
	ck_assert(!pic_intr(pic));
}
END_TEST

START_TEST(nonspecific_and_specific_eoi)
{
	pulse(3);
	ck_assert_int_eq(ack(), 0x23);
	pulse(1);
	ck_assert_int_eq(ack(), 0x21);
	ck_assert_uint_eq(read_isr(M), 0x0a);
	eoi_master();                                   /* clears the highest: IR1 */
	ck_assert_uint_eq(read_isr(M), 0x08);

	pulse(1);
	ck_assert_int_eq(ack(), 0x21);
	outb(M, 0x63);                                  /* specific EOI for IR3 */
	ck_assert_uint_eq(read_isr(M), 0x02);
	outb(M, 0x61);
	ck_assert_uint_eq(read_isr(M), 0);
	outb(M, 0x40);                                  /* OCW2 no-op */
	ck_assert_uint_eq(read_isr(M), 0);
}
END_TEST

START_TEST(nested)
{
	pulse(4);
	ck_assert_int_eq(ack(), 0x24);
	pulse(6);
	ck_assert(!pic_intr(pic));                      /* lower waits */
	pulse(1);
	ck_assert(pic_intr(pic));                       /* higher interrupts the handler */
	ck_assert_int_eq(ack(), 0x21);
	ck_assert_uint_eq(read_isr(M), 0x12);
	ck_assert(!pic_intr(pic));
	eoi_master();
	ck_assert(!pic_intr(pic));                      /* IR4 is still in service */
	eoi_master();
	ck_assert_int_eq(ack(), 0x26);
}
END_TEST

/* ---- cascade ---- */

START_TEST(slave_through_ir2)
{
	pulse(10);
	ck_assert_int_eq(ack(), 0x2a);
	ck_assert_uint_eq(read_isr(M), 0x04);
	ck_assert_uint_eq(read_isr(S), 0x04);
	pulse(11);
	ck_assert(!pic_intr(pic));
	eoi_slave();
	ck_assert(!pic_intr(pic));                      /* master IR2 still in service */
	ck_assert_uint_eq(read_isr(S), 0);
	eoi_master();
	ck_assert_int_eq(ack(), 0x2b);
	eoi_slave();
	eoi_master();
	ck_assert_uint_eq(read_isr(M), 0);
	ck_assert_uint_eq(read_isr(S), 0);
	ck_assert(!pic_intr(pic));

	pulse(9);                                       /* master first this time */
	ck_assert_int_eq(ack(), 0x29);
	eoi_master();
	eoi_slave();
	ck_assert(!pic_intr(pic));
}
END_TEST

START_TEST(cascade_priority)
{
	pulse(3);
	pulse(12);
	ck_assert_int_eq(ack(), 0x2c);                  /* IR2 outranks IR3 */
	pulse(0);
	ck_assert_int_eq(ack(), 0x20);                  /* IR0 outranks the slave in service */
	eoi_master();
	ck_assert(!pic_intr(pic));
	eoi_slave();
	eoi_master();
	ck_assert_int_eq(ack(), 0x23);
	eoi_master();

	pulse(13);
	pulse(9);
	ck_assert_int_eq(ack(), 0x29);                  /* within the slave, IR1 before IR5 */
	eoi_slave();
	eoi_master();
	ck_assert_int_eq(ack(), 0x2d);
}
END_TEST

START_TEST(special_fully_nested)
{
	/* Without SFNM a higher slave request waits for the master's IR2. */
	pulse(10);
	ck_assert_int_eq(ack(), 0x2a);
	pulse(9);
	ck_assert(!pic_intr(pic));
	eoi_slave();
	eoi_master();
	ck_assert_int_eq(ack(), 0x29);
	eoi_slave();
	eoi_master();

	init_pair(0x11, 0x01);                          /* master ICW4 SFNM */
	pulse(10);
	ck_assert_int_eq(ack(), 0x2a);
	pulse(11);
	ck_assert(!pic_intr(pic));                      /* the slave ranks it below IR10 */
	pulse(3);
	ck_assert(!pic_intr(pic));                      /* IR2 in service still holds off IR3 */
	pulse(9);
	ck_assert_int_eq(ack(), 0x29);
	ck_assert_uint_eq(read_isr(S), 0x06);
	ck_assert_uint_eq(read_isr(M), 0x04);
}
END_TEST

START_TEST(single_mode)
{
	outb(M, 0x13);                                  /* SNGL, IC4: no ICW3 */
	outb(M + 1, 0x47);                              /* ICW2: T7-T3 only in 8086 mode */
	outb(M + 1, 0x01);                              /* ICW4 */
	outb(M + 1, 0xfe);                              /* OCW1 */
	ck_assert_uint_eq(inb(M + 1), 0xfe);
	outb(M + 1, 0x00);
	pulse(9);                                       /* IR2 is an ordinary input now */
	ck_assert_int_eq(ack(), 0x42);
	ck_assert_uint_eq(read_isr(M), 0x04);
	ck_assert_uint_eq(read_isr(S), 0x00);
	ck_assert_uint_eq(read_irr(S), 0x02);
}
END_TEST

START_TEST(isa_irq2_is_irq9)
{
	pic_set_irq(pic, 2, 1);
	ck_assert_int_eq(ack(), 0x29);
}
END_TEST

/* ---- AEOI ---- */

START_TEST(auto_eoi)
{
	init_pair(0x03, 0x03);
	pulse(4);
	ck_assert_int_eq(ack(), 0x24);
	ck_assert_uint_eq(read_isr(M), 0);
	pulse(4);
	ck_assert_int_eq(ack(), 0x24);                  /* no EOI was needed */
	pulse(9);
	ck_assert_int_eq(ack(), 0x29);
	ck_assert_uint_eq(read_isr(M), 0);
	ck_assert_uint_eq(read_isr(S), 0);
	ck_assert(!pic_intr(pic));
}
END_TEST

START_TEST(auto_eoi_slave_keeps_second_request)
{
	init_pair(0x01, 0x03);                          /* only the slave in AEOI */
	pulse(9);
	pulse(10);
	ck_assert_int_eq(ack(), 0x29);
	ck_assert(!pic_intr(pic));                      /* master IR2 in service */
	eoi_master();
	ck_assert_int_eq(ack(), 0x2a);                  /* not lost behind the cascade edge */
	eoi_master();
	ck_assert(!pic_intr(pic));
}
END_TEST

START_TEST(rotate_in_auto_eoi)
{
	init_pair(0x03, 0x01);
	outb(M, 0x80);                                  /* rotate in AEOI: set */
	pulse(0);
	ck_assert_int_eq(ack(), 0x20);                  /* IR0 becomes lowest */
	pulse(0);
	pulse(1);
	ck_assert_int_eq(ack(), 0x21);
	ck_assert_int_eq(ack(), 0x20);
	outb(M, 0x00);                                  /* rotate in AEOI: clear */
	pulse(1);
	ck_assert_int_eq(ack(), 0x21);                  /* IR0 stays lowest */
	pulse(0);
	pulse(1);
	ck_assert_int_eq(ack(), 0x21);
	ck_assert_int_eq(ack(), 0x20);
}
END_TEST

/* ---- edge and level ---- */

START_TEST(edge_vs_level)
{
	outb(0x4d0, 0x20);                              /* IRQ 5 level */
	ck_assert_uint_eq(io_in(io, 0x4d0, 1), 0x20);

	raise_irq(5);
	ck_assert_int_eq(ack(), 0x25);
	eoi_master();
	ck_assert_int_eq(ack(), 0x25);                  /* still high: again */
	lower_irq(5);
	ck_assert_uint_eq(read_irr(M), 0);              /* IRR follows the level */
	eoi_master();
	ck_assert(!pic_intr(pic));

	raise_irq(4);                                   /* edge, held high */
	ck_assert_int_eq(ack(), 0x24);
	eoi_master();
	ck_assert(!pic_intr(pic));
	raise_irq(4);                                   /* no edge */
	ck_assert(!pic_intr(pic));
	lower_irq(4);
	raise_irq(4);
	ck_assert_int_eq(ack(), 0x24);
	eoi_master();
	ck_assert(!pic_intr(pic));
	outb(0x4d0, 0x30);                              /* IRQ 4 to level while high: asks now */
	ck_assert_int_eq(ack(), 0x24);
	lower_irq(4);
	eoi_master();
	ck_assert(!pic_intr(pic));

	outb(0x4d1, 0x04);                              /* IRQ 10 level, behind the cascade */
	raise_irq(10);
	ck_assert_int_eq(ack(), 0x2a);
	eoi_slave();
	eoi_master();
	ck_assert_int_eq(ack(), 0x2a);
	lower_irq(10);
	eoi_slave();
	eoi_master();
	ck_assert(!pic_intr(pic));
}
END_TEST

START_TEST(elcr_reserved_bits)
{
	outb(0x4d0, 0xff);
	outb(0x4d1, 0xff);
	ck_assert_uint_eq(inb(0x4d0), 0xf8);            /* IRQ 0, 1, 2 edge only */
	ck_assert_uint_eq(inb(0x4d1), 0xde);            /* IRQ 8, 13 edge only */
	ck_assert_uint_eq(io_in(io, 0x4d0, 2), 0xdef8);
	io_out(io, 0x4d0, 2, 0x0820);
	ck_assert_uint_eq(inb(0x4d0), 0x20);
	ck_assert_uint_eq(inb(0x4d1), 0x08);
}
END_TEST

/* ---- spurious ---- */

START_TEST(spurious_irq7)
{
	outb(0x4d0, 0x08);                              /* IRQ 3 level */
	raise_irq(3);
	ck_assert(pic_intr(pic));
	lower_irq(3);                                   /* gone before the acknowledge */
	ck_assert_int_eq(pic_ack(pic), 0x27);
	ck_assert_uint_eq(read_isr(M), 0);              /* default IR7 sets no IS bit */

	pulse(7);                                       /* a real IRQ 7 does */
	ck_assert_int_eq(ack(), 0x27);
	ck_assert_uint_eq(read_isr(M), 0x80);
}
END_TEST

START_TEST(spurious_irq15)
{
	outb(0x4d1, 0x04);                              /* IRQ 10 level */
	raise_irq(10);
	ck_assert(pic_intr(pic));
	lower_irq(10);
	ck_assert(pic_intr(pic));                       /* master IR2 is an edge latch */
	ck_assert_int_eq(pic_ack(pic), 0x2f);
	ck_assert_uint_eq(read_isr(S), 0);
	ck_assert_uint_eq(read_isr(M), 0x04);           /* the master did take IR2 */
	eoi_master();
	ck_assert_uint_eq(read_isr(M), 0);

	pulse(11);                                      /* masked on the slave meanwhile */
	outb(S + 1, 0x08);
	ck_assert_int_eq(ack(), 0x2f);
	ck_assert_uint_eq(read_isr(S), 0);
	ck_assert_uint_eq(read_isr(M), 0x04);
}
END_TEST

/* ---- OCW3 ---- */

START_TEST(ocw3_register_reads)
{
	pulse(3);
	pulse(5);
	ck_assert_uint_eq(inb(M), 0x28);                /* IRR after init */
	ck_assert_int_eq(ack(), 0x23);
	ck_assert_uint_eq(inb(M), 0x20);
	outb(M, 0x0b);
	ck_assert_uint_eq(inb(M), 0x08);                /* ISR */
	outb(M, 0x08);                                  /* RR = 0: selection unchanged */
	ck_assert_uint_eq(inb(M), 0x08);
	outb(M, 0x0a);
	ck_assert_uint_eq(inb(M), 0x20);                /* IRR */
	outb(M, 0x0b);
	init_pair(0x01, 0x01);                          /* ICW1 selects IRR again */
	pulse(6);
	ck_assert_uint_eq(inb(M), 0x40);
	ck_assert_uint_eq(io_in(io, M, 2), 0x40);       /* word read: IRR, IMR */
	outb(M + 1, 0x81);
	ck_assert_uint_eq(io_in(io, M, 2), 0x8140);
}
END_TEST

START_TEST(poll)
{
	pulse(5);
	outb(M, 0x0c);
	ck_assert_uint_eq(inb(M), 0x85);                /* I bit, IR5; acknowledged */
	ck_assert_uint_eq(read_isr(M), 0x20);
	ck_assert_uint_eq(read_irr(M), 0);
	ck_assert(!pic_intr(pic));
	pulse(6);
	ck_assert_uint_eq(inb(M), 0x40);                /* one read only: IRR again */
	outb(M, 0x0c);
	ck_assert_uint_eq(inb(M), 0x00);                /* IR6 is below IR5 in service */
	eoi_master();
	outb(M, 0x0c);
	ck_assert_uint_eq(inb(M + 1), 0x86);            /* the poll takes either port */
	eoi_master();

	pulse(9);                                       /* slave: poll master, then slave */
	outb(M, 0x0c);
	ck_assert_uint_eq(inb(M), 0x82);
	outb(S, 0x0c);
	ck_assert_uint_eq(inb(S), 0x81);
	ck_assert_uint_eq(read_isr(S), 0x02);
	ck_assert_uint_eq(read_isr(M), 0x04);
}
END_TEST

/* ---- rotation ---- */

START_TEST(rotation)
{
	pulse(0);
	ck_assert_int_eq(ack(), 0x20);
	outb(M, 0xa0);                                  /* rotate on non-specific EOI */
	ck_assert_uint_eq(read_isr(M), 0);
	pulse(0);
	pulse(7);
	ck_assert_int_eq(ack(), 0x27);                  /* IR0 is now lowest */
	eoi_master();
	ck_assert_int_eq(ack(), 0x20);
	eoi_master();

	outb(M, 0xc4);                                  /* set priority: IR4 lowest */
	pulse(3);
	pulse(5);
	ck_assert_int_eq(ack(), 0x25);
	outb(M, 0xe5);                                  /* rotate on specific EOI: IR5 lowest */
	ck_assert_uint_eq(read_isr(M), 0);
	pulse(5);
	ck_assert_int_eq(ack(), 0x23);
	eoi_master();
	ck_assert_int_eq(ack(), 0x25);
	eoi_master();

	init_pair(0x01, 0x01);                          /* ICW1: IR0 highest again */
	pulse(7);
	pulse(0);
	ck_assert_int_eq(ack(), 0x20);
}
END_TEST

/* ---- special mask mode ---- */

START_TEST(special_mask)
{
	pulse(3);
	ck_assert_int_eq(ack(), 0x23);
	pulse(5);
	ck_assert(!pic_intr(pic));
	outb(M + 1, 0x08);                              /* mask the level in service */
	ck_assert(!pic_intr(pic));
	outb(M, 0x68);                                  /* ESMM | SMM */
	ck_assert_int_eq(ack(), 0x25);                  /* lower levels let through */
	ck_assert_uint_eq(read_isr(M), 0x28);
	eoi_master();                                   /* masked IS bit is not the target */
	ck_assert_uint_eq(read_isr(M), 0x08);
	outb(M, 0x48);                                  /* ESMM, SMM clear */
	pulse(6);
	ck_assert(!pic_intr(pic));                      /* IR3 in service holds off again */
	outb(M, 0x63);
	ck_assert_int_eq(ack(), 0x26);
	eoi_master();

	outb(M, 0x68);
	init_pair(0x01, 0x01);                          /* ICW1 clears special mask mode */
	pulse(3);
	ck_assert_int_eq(ack(), 0x23);
	outb(M + 1, 0x08);
	pulse(5);
	ck_assert(!pic_intr(pic));
}
END_TEST

/* ---- ICW1 ---- */

START_TEST(icw1_resets)
{
	outb(0x4d0, 0x40);                              /* IRQ 6 level */
	raise_irq(4);                                   /* edge, held high */
	raise_irq(6);
	ck_assert_int_eq(ack(), 0x24);
	outb(M + 1, 0xff);
	outb(M, 0xc2);
	outb(M, 0x0b);
	init_pair(0x01, 0x01);
	ck_assert_uint_eq(inb(M + 1), 0);
	ck_assert_uint_eq(read_isr(M), 0);
	ck_assert_uint_eq(inb(M), 0x40);                /* IRR selected; edge latch reset */
	ck_assert_int_eq(ack(), 0x26);                  /* the level input is still asking */
	lower_irq(6);
	eoi_master();
	ck_assert(!pic_intr(pic));                      /* IR4 needs a new rising edge */
	lower_irq(4);
	raise_irq(4);
	ck_assert_int_eq(ack(), 0x24);
	ck_assert_uint_eq(inb(0x4d0), 0x40);            /* ICW1 leaves the ELCR alone */
}
END_TEST

static Suite *pic_suite(void)
{
	Suite *s = suite_create("pic8259");
	TCase *tc = tcase_create("pic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, power_on_state);
	tcase_add_test(tc, port_clash);
	tcase_add_test(tc, ack_without_request);
	tcase_add_test(tc, imr_readback);
	tcase_add_test(tc, masking);
	tcase_add_test(tc, priority_order);
	tcase_add_test(tc, nonspecific_and_specific_eoi);
	tcase_add_test(tc, nested);
	tcase_add_test(tc, slave_through_ir2);
	tcase_add_test(tc, cascade_priority);
	tcase_add_test(tc, special_fully_nested);
	tcase_add_test(tc, single_mode);
	tcase_add_test(tc, isa_irq2_is_irq9);
	tcase_add_test(tc, auto_eoi);
	tcase_add_test(tc, auto_eoi_slave_keeps_second_request);
	tcase_add_test(tc, rotate_in_auto_eoi);
	tcase_add_test(tc, edge_vs_level);
	tcase_add_test(tc, elcr_reserved_bits);
	tcase_add_test(tc, spurious_irq7);
	tcase_add_test(tc, spurious_irq15);
	tcase_add_test(tc, ocw3_register_reads);
	tcase_add_test(tc, poll);
	tcase_add_test(tc, rotation);
	tcase_add_test(tc, special_mask);
	tcase_add_test(tc, icw1_resets);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pic_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

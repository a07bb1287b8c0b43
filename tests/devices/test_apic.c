/*
 * test_apic.c - the local APIC and the I/O APIC through the real MMIO bus, with a fake
 * clock and a fake 8259 behind LINT0: virtual wire (the 8259's vector through ExtINT,
 * none when LINT0 is masked, straight through when the APIC is globally disabled),
 * software disable masking the LVT, the timer's three modes against the clock (the
 * board's deadline, the current count, periodic catch-up, TSC-deadline arming and
 * disarming on mode changes), IA32_APIC_BASE (move, #GP cases, disable resets), the
 * ESR latch, an I/O APIC level pin with remote IRR and the EOI broadcast, an edge pin
 * masked, and accesses no driver makes (odd offsets, widths, illegal vectors).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../devices/clock.h"
#include "../../devices/ioapic.h"
#include "../../devices/lapic.h"
#include "../../devices/mmio.h"

static uint64_t now_ns;
static struct mmiobus *mmio;
static struct lapic *apic;
static struct ioapic *ioa;
static bool pic_req;
static int pic_acks;

static uint64_t fake_now(void *o) { (void)o; return now_ns; }
static const struct vclock clk = { fake_now, NULL };
static bool pic_pending(const void *o) { (void)o; return pic_req; }
static int pic_ack(void *o) { (void)o; pic_acks++; pic_req = false; return 0x08; }
static void eoi_hook(void *o, int v) { ioapic_eoi(o, v); }

static uint32_t rd(uint32_t off)
{
	uint64_t v = 0;
	ck_assert(mmio_read(mmio, 0xfee00000u + off, 4, &v));
	return (uint32_t)v;
}
static void wr(uint32_t off, uint32_t v) { ck_assert(mmio_write(mmio, 0xfee00000u + off, 4, v)); }
static void io_wr(uint32_t reg, uint32_t v)
{
	mmio_write(mmio, 0xfec00000u, 4, reg);
	mmio_write(mmio, 0xfec00010u, 4, v);
}
static uint32_t io_rd(uint32_t reg)
{
	uint64_t v;
	mmio_write(mmio, 0xfec00000u, 4, reg);
	mmio_read(mmio, 0xfec00010u, 4, &v);
	return (uint32_t)v;
}

static void setup(void)
{
	now_ns = 1000000000ull;
	pic_req = false;
	pic_acks = 0;
	mmio = mmio_create();
	struct intc pic = { NULL, pic_pending, pic_ack, NULL, NULL, NULL };
	apic = lapic_create(mmio, &clk, &pic);
	ck_assert_ptr_nonnull(apic);
	ioa = ioapic_create(mmio, apic, 0);
	ck_assert_ptr_nonnull(ioa);
	lapic_set_eoi_hook(apic, &(struct lapic_eoi_hook){ eoi_hook, ioa });
}

static void teardown(void)
{
	ioapic_destroy(ioa);
	lapic_destroy(apic);
	mmio_destroy(mmio);
}

START_TEST(virtual_wire)
{
	/* Power-up: LINT0 masked, the 8259 cannot reach the CPU. */
	pic_req = true;
	ck_assert(!lapic_pending(apic));
	lapic_bios_init(apic);
	ck_assert(lapic_pending(apic));
	ck_assert_int_eq(lapic_ack(apic), 0x08);
	ck_assert_int_eq(pic_acks, 1);
	/* Software disable masks LINT0 (SDM 11.4.7.2) and keeps it masked. */
	pic_req = true;
	wr(0xf0, 0xff);
	ck_assert(!lapic_pending(apic));
	wr(0x350, 0x700);
	ck_assert_uint_eq(rd(0x350) & 0x10000, 0x10000);
	/* Globally disabled: no APIC, the 8259 goes straight to INTR; the page is gone. */
	ck_assert(lapic_set_base_msr(apic, 0xfee00000u));
	ck_assert(lapic_pending(apic));
	uint64_t v;
	ck_assert(mmio_read(mmio, 0xfee00030u, 4, &v));
	ck_assert_uint_eq(v, ~0ull);
	/* Enabled again: in its reset state. */
	ck_assert(lapic_set_base_msr(apic, 0xfee00800u));
	ck_assert_uint_eq(rd(0xf0), 0xff);
	ck_assert_uint_eq(rd(0x350), 0x10000);
	ck_assert_uint_eq(lapic_base_msr(apic), 0xfee00900u);  /* BSP kept */
}
END_TEST

START_TEST(base_msr)
{
	ck_assert(!lapic_set_base_msr(apic, 0xfee00c00u));     /* x2APIC */
	ck_assert(!lapic_set_base_msr(apic, 1ull << 40 | 0xfee00800u));
	ck_assert(!lapic_set_base_msr(apic, 0xfec00800u));     /* onto the I/O APIC */
	ck_assert(lapic_set_base_msr(apic, 0xfed00800u));
	uint64_t v;
	ck_assert(!mmio_read(mmio, 0xfee00030u, 4, &v));
	ck_assert(mmio_read(mmio, 0xfed00030u, 4, &v));
	ck_assert_uint_eq(v, 0x50014);
}
END_TEST

START_TEST(timer_modes)
{
	lapic_bios_init(apic);
	wr(0x3e0, 0xb);                         /* divide by 1: 1 count a ns */
	wr(0x320, 0x40);
	wr(0x380, 1000);
	ck_assert_uint_eq(lapic_next_deadline(apic), now_ns + 1000);
	now_ns += 400;
	ck_assert_uint_eq(rd(0x390), 600);
	now_ns += 600;
	lapic_update(apic, now_ns);
	ck_assert(lapic_pending(apic));
	ck_assert_int_eq(lapic_ack(apic), 0x40);
	ck_assert_uint_eq(lapic_next_deadline(apic), VCLOCK_NEVER);
	ck_assert_uint_eq(rd(0x390), 0);
	wr(0xb0, 0);
	/* Periodic, divide by 16; the host late by 3.5 periods: one interrupt, the next on
	 * the grid. */
	wr(0x3e0, 0x3);
	wr(0x320, 0x20041);
	uint64_t t0 = now_ns;
	wr(0x380, 100);                         /* 1600 ns */
	now_ns = t0 + 1600 * 3 + 800;
	ck_assert_uint_eq(rd(0x390), 50);
	lapic_update(apic, now_ns);
	ck_assert_int_eq(lapic_ack(apic), 0x41);
	ck_assert(!lapic_pending(apic));
	ck_assert_uint_eq(lapic_next_deadline(apic), t0 + 1600 * 4);
	wr(0xb0, 0);
	/* Masked: no deadline for the board. */
	wr(0x320, 0x30041);
	ck_assert_uint_eq(lapic_next_deadline(apic), VCLOCK_NEVER);
	/* TSC-deadline: the count is ignored, the MSR arms it, a mode change disarms. */
	wr(0x320, 0x40042);
	ck_assert_uint_eq(rd(0x380), 0);
	lapic_set_tsc_deadline(apic, 12345, now_ns + 50);
	ck_assert_uint_eq(lapic_tsc_deadline(apic), 12345);
	ck_assert_uint_eq(lapic_next_deadline(apic), now_ns + 50);
	now_ns += 50;
	lapic_update(apic, now_ns);
	ck_assert_int_eq(lapic_ack(apic), 0x42);
	ck_assert_uint_eq(lapic_tsc_deadline(apic), 0);
	wr(0xb0, 0);
	lapic_set_tsc_deadline(apic, 999, now_ns + 50);
	wr(0x320, 0x42);
	ck_assert_uint_eq(lapic_next_deadline(apic), VCLOCK_NEVER);
	lapic_set_tsc_deadline(apic, 999, now_ns + 50);        /* not in that mode: ignored */
	ck_assert_uint_eq(lapic_tsc_deadline(apic), 0);
}
END_TEST

START_TEST(errors_and_odd_accesses)
{
	lapic_bios_init(apic);
	wr(0x370, 0xfe);                        /* error LVT vector 0xfe */
	wr(0x300, 0x40000 | 0x05);              /* self-IPI of an illegal vector */
	ck_assert_uint_eq(rd(0x280), 0);        /* not latched yet */
	ck_assert(lapic_pending(apic));
	ck_assert_int_eq(lapic_ack(apic), 0xfe);
	wr(0xb0, 0);
	wr(0x280, 0);
	ck_assert_uint_eq(rd(0x280), 0x20);     /* send illegal vector */
	wr(0x280, 0);
	ck_assert_uint_eq(rd(0x280), 0);
	/* Widths and offsets: a byte of the version, writes inside a register ignored,
	 * read-only registers, the end of the page. */
	uint64_t v;
	ck_assert(mmio_read(mmio, 0xfee00032u, 1, &v));
	ck_assert_uint_eq(v, 0x05);
	ck_assert(mmio_write(mmio, 0xfee00082u, 2, 0xffff));
	ck_assert_uint_eq(rd(0x80), 0);
	wr(0x30, 0);
	wr(0x390, 5);
	wr(0x100, ~0u);
	ck_assert_uint_eq(rd(0x30), 0x50014);
	ck_assert_uint_eq(rd(0x100), 0);
	ck_assert(mmio_write(mmio, 0xfee00ff8u, 8, ~0ull));
	ck_assert(!lapic_pending(apic));
	/* An NMI to self: waits for the CPU, whatever the vector; to another APIC: none. */
	wr(0x300, 0x40400 | 0x33);
	ck_assert(lapic_nmi_pending(apic));
	lapic_nmi_ack(apic);
	ck_assert(!lapic_nmi_pending(apic));
	wr(0x310, 0x07000000);
	wr(0x300, 0x400);
	ck_assert(!lapic_nmi_pending(apic));
	/* A spurious acknowledge: the spurious vector, nothing set in service. */
	ck_assert_int_eq(lapic_ack(apic), 0xff);
	ck_assert_uint_eq(rd(0x170), 0);
	/* The I/O APIC's registers past the table, and a select past them. */
	io_wr(0x80, 0x12345678);
	ck_assert_uint_eq(io_rd(0x80), 0);
	ioapic_set_irq(ioa, 99, 1);
	ioapic_set_irq(ioa, -1, 1);
}
END_TEST

START_TEST(ioapic_level_and_edge)
{
	lapic_bios_init(apic);
	io_wr(0x10 + 2 * 9, 0x8000 | 0x59);     /* pin 9: level, vector 0x59 */
	ioapic_set_irq(ioa, 9, 1);
	ck_assert_uint_eq(io_rd(0x10 + 2 * 9) & 0x4000, 0x4000);
	ck_assert_int_eq(lapic_ack(apic), 0x59);
	ck_assert_uint_eq(rd(0x180 + 0x20) & (1u << 0x19), 1u << 0x19);    /* TMR */
	/* Still asserted at the EOI: remote IRR cleared and the message sent again. */
	wr(0xb0, 0);
	ck_assert_uint_eq(io_rd(0x10 + 2 * 9) & 0x4000, 0x4000);
	ck_assert_int_eq(lapic_ack(apic), 0x59);
	ioapic_set_irq(ioa, 9, 0);
	wr(0xb0, 0);
	ck_assert_uint_eq(io_rd(0x10 + 2 * 9) & 0x4000, 0);
	ck_assert(!lapic_pending(apic));
	/* The EOI register does the same as the local APIC's broadcast. */
	ioapic_set_irq(ioa, 9, 1);
	ck_assert_int_eq(lapic_ack(apic), 0x59);
	ioapic_set_irq(ioa, 9, 0);
	mmio_write(mmio, 0xfec00040u, 4, 0x59);
	ck_assert_uint_eq(io_rd(0x10 + 2 * 9) & 0x4000, 0);
	wr(0xb0, 0);
	/* Edge: one message per rising edge; edges while masked are lost. */
	io_wr(0x10 + 2 * 2, 0x10030);
	ioapic_set_irq(ioa, 2, 1);
	ioapic_set_irq(ioa, 2, 0);
	io_wr(0x10 + 2 * 2, 0x30);
	ck_assert(!lapic_pending(apic));
	ioapic_set_irq(ioa, 2, 1);
	ioapic_set_irq(ioa, 2, 1);
	ck_assert_int_eq(lapic_ack(apic), 0x30);
	ck_assert(!lapic_pending(apic));
	/* A destination that is not this APIC. */
	wr(0xb0, 0);
	io_wr(0x11 + 2 * 3, 0x05000000);
	io_wr(0x10 + 2 * 3, 0x31);
	ioapic_set_irq(ioa, 3, 1);
	ck_assert(!lapic_pending(apic));
}
END_TEST

static Suite *apic_suite(void)
{
	Suite *s = suite_create("apic");
	TCase *tc = tcase_create("apic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, virtual_wire);
	tcase_add_test(tc, base_msr);
	tcase_add_test(tc, timer_modes);
	tcase_add_test(tc, errors_and_odd_accesses);
	tcase_add_test(tc, ioapic_level_and_edge);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(apic_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

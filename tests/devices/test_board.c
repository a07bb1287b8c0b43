/*
 * test_board.c - the board alone, with fake devices: the earliest deadline over several
 * timed devices; a port claimed twice is refused; guest access to a timed device's
 * port (and only to one) marks the deadlines moved; devices are updated in the order
 * added and destroyed in the reverse; the PC's board hands out its controller and
 * stops the machine through the hook, and is not built over a port already taken.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../devices/board.h"
#include "../../devices/clock.h"
#include "../../devices/ioport.h"
#include "../../devices/pc.h"

struct fake {
	uint64_t deadline;
	int fd;
	int id;
};

static struct board *b;
static bool moved;
static char log_buf[256];       /* two characters per call: BOARD_MAX_DEVICES + 1 destroys */

static void note(char what, int id)
{
	size_t n = strlen(log_buf);
	ck_assert_uint_lt(n + 2, sizeof(log_buf));
	log_buf[n] = what;
	log_buf[n + 1] = (char)('0' + id);
}

static void fake_update(void *o, uint64_t now)
{
	ck_assert_uint_eq(now, 42);
	note('u', ((struct fake *)o)->id);
}
static uint64_t fake_deadline(void *o) { return ((struct fake *)o)->deadline; }
static int fake_fd(void *o) { return ((struct fake *)o)->fd; }
static void fake_destroy(void *o) { note('d', ((struct fake *)o)->id); }
static uint32_t fake_in(void *o, uint16_t port, int size) { (void)o; (void)size; return port; }

static struct board_dev timed(struct fake *f)
{
	return (struct board_dev){ .name = "timed", .opaque = f, .update = fake_update,
				   .next_deadline = fake_deadline, .destroy = fake_destroy };
}

static struct board_dev plain(struct fake *f)
{
	return (struct board_dev){ .name = "plain", .opaque = f, .update = fake_update,
				   .wait_fd = fake_fd, .destroy = fake_destroy };
}

static int add(struct board_dev d) { return board_add(b, &d); }

static void setup(void)
{
	moved = false;
	memset(log_buf, 0, sizeof(log_buf));
	b = board_create(&moved);
	ck_assert_ptr_nonnull(b);
}

static void teardown(void) { board_destroy(b); }

START_TEST(no_device_no_deadline)
{
	ck_assert_uint_eq(board_next_deadline(b), VCLOCK_NEVER);
	int fds[4];
	ck_assert_int_eq(board_wait_fds(b, fds, 4), 0);
	ck_assert_ptr_null(board_intc(b));
}
END_TEST

START_TEST(earliest_deadline)
{
	static struct fake f[4] = {
		{ .deadline = 3000, .id = 0 }, { .deadline = VCLOCK_NEVER, .id = 1 },
		{ .fd = -1, .id = 2 }, { .deadline = 1000, .id = 3 },
	};
	ck_assert_int_eq(add(timed(&f[0])), 0);
	ck_assert_int_eq(add(timed(&f[1])), 0);
	ck_assert_int_eq(add(plain(&f[2])), 0);
	ck_assert_int_eq(add(timed(&f[3])), 0);
	ck_assert_uint_eq(board_next_deadline(b), 1000);
	f[3].deadline = VCLOCK_NEVER;
	ck_assert_uint_eq(board_next_deadline(b), 3000);
	f[1].deadline = 2000;
	ck_assert_uint_eq(board_next_deadline(b), 2000);
}
END_TEST

START_TEST(port_claimed_twice_refused)
{
	static struct fake f[2] = { { .id = 0 }, { .id = 1 } };
	struct iobus *io = board_io(b);
	ck_assert_int_eq(io_register(io, 0x40, 4, fake_in, NULL, &f[0]), 0);
	ck_assert_int_lt(io_register(io, 0x43, 2, fake_in, NULL, &f[1]), 0);
	ck_assert_int_lt(io_register(io, 0x40, 1, fake_in, NULL, &f[1]), 0);
	ck_assert_int_eq(io_register(io, 0x44, 1, fake_in, NULL, &f[1]), 0);
	ck_assert_uint_eq(io_in(io, 0x43, 1), 0x43);
}
END_TEST

START_TEST(timed_port_marks_deadlines_moved)
{
	static struct fake f[2] = { { .deadline = 5, .id = 0 }, { .fd = -1, .id = 1 } };
	struct iobus *io = board_io(b);
	ck_assert_int_eq(io_register(io, 0x70, 2, fake_in, NULL, &f[0]), 0);
	ck_assert_int_eq(io_register(io, 0x3f8, 8, fake_in, NULL, &f[1]), 0);
	ck_assert_int_eq(add(timed(&f[0])), 0);
	ck_assert_int_eq(add(plain(&f[1])), 0);
	io_out(io, 0x3f8, 1, 0);
	io_in(io, 0x3fd, 1);
	io_in(io, 0x20, 1);
	ck_assert(!moved);
	io_in(io, 0x71, 1);
	ck_assert(moved);
	moved = false;
	io_out(io, 0x70, 1, 0x0c);
	ck_assert(moved);
}
END_TEST

START_TEST(update_in_order_destroy_in_reverse)
{
	static struct fake f[3] = { { .id = 0 }, { .fd = 7, .id = 1 }, { .fd = 9, .id = 2 } };
	ck_assert_int_eq(add(timed(&f[0])), 0);
	ck_assert_int_eq(add(plain(&f[1])), 0);
	ck_assert_int_eq(add(plain(&f[2])), 0);
	int fds[4];
	ck_assert_int_eq(board_wait_fds(b, fds, 4), 2);
	ck_assert_int_eq(fds[0], 7);
	ck_assert_int_eq(fds[1], 9);
	board_update(b, 42);
	ck_assert_str_eq(log_buf, "u0u1u2");
	board_destroy(b);
	b = NULL;
	ck_assert_str_eq(log_buf, "u0u1u2d2d1d0");
}
END_TEST

/* A board that is full refuses a device and destroys it: its ports go with it, so no
 * port access can reach the freed state (failed before: the bus kept the pointer). */
START_TEST(full_board_releases_ports)
{
	enum { N = BOARD_MAX_DEVICES };
	static struct fake f[N + 1];
	struct iobus *io = board_io(b);
	for (int k = 0; k < N; k++) {
		f[k].id = k;
		ck_assert_int_eq(add(plain(&f[k])), 0);
	}
	f[N].id = N;
	ck_assert_int_eq(io_register(io, 0x300, 1, fake_in, NULL, &f[N]), 0);
	ck_assert_int_lt(add(plain(&f[N])), 0);
	ck_assert_uint_eq(io_in(io, 0x300, 1), 0xff);   /* nobody's port: the bus floats */
}
END_TEST

static enum board_stop stop_why;
static int stop_status, stops;

static void on_stop(void *opaque, enum board_stop why, int status, const char *msg)
{
	(void)opaque;
	ck_assert_ptr_nonnull(msg);
	stop_why = why;
	stop_status = status;
	stops++;
}

static uint64_t fixed_now(void *opaque) { (void)opaque; return 1000000000ull; }

/* The PC: the 8259 pair answers as the controller, the PIT is timed, the debug-exit
 * and the i8042's reset go through the hook. */
START_TEST(pc_wiring)
{
	struct vclock clk = { fixed_now, NULL };
	struct pc_config cfg = { .clock = &clk, .ram_size = 64 << 20, .serial_in = -1,
				 .serial_out = -1, .stop = { on_stop, NULL } };
	struct pc_parts parts;
	stops = 0;
	ck_assert_int_eq(pc_build(b, &cfg, &parts), 0);
	ck_assert_ptr_nonnull(parts.com1);
	ck_assert_ptr_nonnull(parts.lapic);
	ck_assert_ptr_nonnull(parts.pci);
	const struct intc *ic = board_intc(b);
	ck_assert_ptr_nonnull(ic);
	struct iobus *io = board_io(b);
	ck_assert_uint_eq(io_in(io, 0x21, 1), 0xfb);    /* as a BIOS leaves the master */
	ck_assert(!moved);
	io_out(io, 0x43, 1, 0x34);
	ck_assert(moved);
	/* IRQ 3 through the controller: unmask it, raise it, acknowledge vector 0x0b. */
	io_out(io, 0x21, 1, 0xf3);
	struct irq_line irq3 = intc_line(ic, 3);
	irq_set(&irq3, 1);
	ck_assert(intc_pending(ic));
	ck_assert_int_eq(intc_ack(ic), 0x0b);
	io_out(io, 0xf4, 1, 2);
	ck_assert_int_eq(stops, 1);
	ck_assert_int_eq(stop_why, BOARD_EXIT);
	ck_assert_int_eq(stop_status, 5);
	io_out(io, 0x64, 1, 0xfe);
	ck_assert_int_eq(stops, 2);
	ck_assert_int_eq(stop_why, BOARD_RESET);
	ck_assert_int_eq(stop_status, 0);
	/* ACPI PM1a: SCI_EN reads set; SLP_EN with S3's type does nothing, with S5's (5,
	 * the DSDT's \_S5) powers off; a byte write of the low half alone does nothing. */
	ck_assert_uint_eq(io_in(io, 0x604, 2) & 1, 1);
	io_out(io, 0x604, 2, 0x2000 | 3 << 10);
	ck_assert_int_eq(stops, 2);
	io_out(io, 0x604, 1, 0x00);
	ck_assert_int_eq(stops, 2);
	io_out(io, 0x604, 2, 0x2000 | 5 << 10);
	ck_assert_int_eq(stops, 3);
	ck_assert_int_eq(stop_why, BOARD_POWEROFF);
	ck_assert_int_eq(stop_status, 0);
}
END_TEST

/* A PC port already taken on the board: building the PC fails, and the board still
 * destroys what was added before the clash. A device that claimed some of its ports
 * before the clash gives them back (the PIT: 0x40-0x43 claimed, 0x61 taken). */
START_TEST(pc_port_taken)
{
	static struct fake f = { .id = 0 };
	struct vclock clk = { fixed_now, NULL };
	struct pc_config cfg = { .clock = &clk, .ram_size = 64 << 20, .serial_in = -1,
				 .serial_out = -1, .stop = { on_stop, NULL } };
	struct pc_parts parts;
	ck_assert_int_eq(io_register(board_io(b), 0x61, 1, fake_in, NULL, &f), 0);
	ck_assert_int_lt(pc_build(b, &cfg, &parts), 0);
	ck_assert_ptr_null(parts.com1);
	ck_assert_uint_eq(io_in(board_io(b), 0x61, 1), 0x61);
	ck_assert_uint_eq(io_in(board_io(b), 0x40, 1), 0xff);
	ck_assert_int_eq(io_register(board_io(b), 0x40, 4, fake_in, NULL, &f), 0);
}
END_TEST

/* io_release gives back every range of one device and only those. */
START_TEST(release_ports)
{
	static struct fake f[2] = { { .id = 0 }, { .id = 1 } };
	struct iobus *io = board_io(b);
	ck_assert_int_eq(io_register(io, 0x40, 4, fake_in, NULL, &f[0]), 0);
	ck_assert_int_eq(io_register(io, 0x60, 1, fake_in, NULL, &f[1]), 0);
	ck_assert_int_eq(io_register(io, 0x61, 1, fake_in, NULL, &f[0]), 0);
	io_release(io, &f[0]);
	ck_assert_uint_eq(io_in(io, 0x41, 1), 0xff);
	ck_assert_uint_eq(io_in(io, 0x61, 1), 0xff);
	ck_assert_uint_eq(io_in(io, 0x60, 1), 0x60);
	ck_assert_int_eq(io_register(io, 0x61, 1, fake_in, NULL, &f[1]), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("board");
	TCase *tc = tcase_create("board");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, no_device_no_deadline);
	tcase_add_test(tc, earliest_deadline);
	tcase_add_test(tc, port_claimed_twice_refused);
	tcase_add_test(tc, timed_port_marks_deadlines_moved);
	tcase_add_test(tc, update_in_order_destroy_in_reverse);
	tcase_add_test(tc, pc_wiring);
	tcase_add_test(tc, pc_port_taken);
	tcase_add_test(tc, release_ports);
	tcase_add_test(tc, full_board_releases_ports);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

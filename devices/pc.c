/*
 * pc.c - the PC board: the minimal device set an unmodified 32-bit x86 guest (Linux,
 * a multiboot kernel) expects, each with the reason it is there, what it claims and
 * where its interrupt goes:
 *
 *   8259A pair + ELCR  0x20-0x21, 0xa0-0xa1, 0x4d0-0x4d1  the interrupt controller;
 *                                                         slave on the master's IR2
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
 *
 * No MMIO range is claimed yet. The PIT and the RTC are the timed devices; COM1 is
 * polled with them for host input, and the NE2000 for received frames. There is no
 * firmware, so what a PC BIOS leaves behind (CMOS memory sizes, the 8259s' vectors and
 * masks) is set here.
 */
#include "pc.h"

#include <errno.h>
#include <stddef.h>

#include "ata.h"
#include "debugports.h"
#include "i8042.h"
#include "ioport.h"
#include "ne2000.h"
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

int pc_build(struct board *b, const struct pc_config *cfg, struct uart **com1)
{
	struct iobus *io = board_io(b);
	struct pic *pic = pic_create(io);
	int r = add(b, pic, (struct board_dev){ .name = "8259 pair", .destroy = pic_free });
	if (r < 0)
		return r;
	struct intc intc = pic_intc(pic);
	board_set_intc(b, &intc);

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

	*com1 = uart_create(io, 0x3f8, intc_line(&intc, 4), cfg->serial_in, cfg->serial_out);
	r = add(b, *com1, (struct board_dev){ .name = "COM1", .update = uart_up,
					      .wait_fd = uart_fd, .destroy = uart_free });
	if (r < 0) {
		*com1 = NULL;
		return r;
	}
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
	struct debugports *dbg = debugports_create(io, &cfg->stop, cfg->trace);
	r = add(b, dbg, (struct board_dev){ .name = "debug ports", .destroy = debug_free });
	if (r < 0)
		return r;
	return 0;
}

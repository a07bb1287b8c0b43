/*
 * interrupts.c - external interrupts (see interrupts.h).
 *
 * Wiring of a PC: PIT channel 0 on IRQ 0, COM1 on IRQ 4, the RTC on IRQ 8, the slave
 * 8259 on the master's IRQ 2. CMOS bytes the firmware would fill (memory sizes) are
 * set here, since there is no firmware.
 */
#define _GNU_SOURCE
#include "interrupts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "exceptions.h"
#include "vm.h"
#include "../devices/clock.h"
#include "../devices/ioport.h"
#include "../devices/pic8259.h"
#include "../devices/pit8254.h"
#include "../devices/rtc.h"
#include "../devices/uart16550.h"

#define MIN_TIMER_NS 20000

static uint64_t monotonic_ns(void *opaque)
{
	(void)opaque;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Memory sizes in CMOS, as a PC BIOS leaves them (QEMU's layout). */
static void cmos_memory(struct vm *vm)
{
	uint64_t kb_above_1m = vm->mem.size > (1u << 20) ? (vm->mem.size >> 10) - 1024 : 0;
	if (kb_above_1m > 0xffff)
		kb_above_1m = 0xffff;
	uint64_t above_16m = vm->mem.size > (16u << 20) ? (vm->mem.size - (16u << 20)) >> 16 : 0;
	if (above_16m > 0xffff)
		above_16m = 0xffff;
	rtc_cmos_set(vm->rtc, 0x15, 640 & 0xff);
	rtc_cmos_set(vm->rtc, 0x16, 640 >> 8);
	rtc_cmos_set(vm->rtc, 0x17, (uint8_t)kb_above_1m);
	rtc_cmos_set(vm->rtc, 0x18, (uint8_t)(kb_above_1m >> 8));
	rtc_cmos_set(vm->rtc, 0x30, (uint8_t)kb_above_1m);
	rtc_cmos_set(vm->rtc, 0x31, (uint8_t)(kb_above_1m >> 8));
	rtc_cmos_set(vm->rtc, 0x34, (uint8_t)above_16m);
	rtc_cmos_set(vm->rtc, 0x35, (uint8_t)(above_16m >> 8));
}

int intr_init(struct vm *vm)
{
	vm->clock = (struct vclock){ monotonic_ns, NULL };
	vm->rt.async_fd = -1;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	int64_t epoch = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
	vm->pic = pic_create(vm->io);
	if (!vm->pic)
		return -ENOMEM;
	vm->pit = pit_create(vm->io, &vm->clock, (struct irq_line){ pic_set_irq, vm->pic, 0 });
	vm->rtc = rtc_create(vm->io, &vm->clock, epoch, (struct irq_line){ pic_set_irq, vm->pic, 8 });
	if (!vm->pit || !vm->rtc)
		return -ENOMEM;
	cmos_memory(vm);
	/* As a PC BIOS leaves the 8259s: vectors 0x08 and 0x70, all masked but the
	 * cascade, so a guest that sets IF before programming them gets nothing. */
	static const uint8_t init[][2] = {
		{ 0x20, 0x11 }, { 0x21, 0x08 }, { 0x21, 0x04 }, { 0x21, 0x01 },
		{ 0xa0, 0x11 }, { 0xa1, 0x70 }, { 0xa1, 0x02 }, { 0xa1, 0x01 },
		{ 0x21, 0xfb }, { 0xa1, 0xff },
	};
	for (size_t k = 0; k < sizeof(init) / sizeof(init[0]); k++)
		io_out(vm->io, init[k][0], 1, init[k][1]);
	vm->rt.timer_deadline = VCLOCK_NEVER;
	return 0;
}

void intr_watch_input(struct vm *vm, int fd)
{
	struct f_owner_ex own = { F_OWNER_TID, gettid() };
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETOWN_EX, &own) < 0 || fcntl(fd, F_SETSIG, SIGIO) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_ASYNC) < 0)
		return;                 /* a file, /dev/null: polled at timer ticks and in HLT */
	vm->rt.async_fd = fd;
}

void intr_exit(struct vm *vm)
{
	if (vm->rt.async_fd >= 0) {
		int fl = fcntl(vm->rt.async_fd, F_GETFL);
		if (fl >= 0)
			fcntl(vm->rt.async_fd, F_SETFL, fl & ~O_ASYNC);
		vm->rt.async_fd = -1;
	}
	rtc_destroy(vm->rtc);
	pit_destroy(vm->pit);
	pic_destroy(vm->pic);
	vm->rtc = NULL;
	vm->pit = NULL;
	vm->pic = NULL;
}

/* Bring the devices to the present and arm the host timer for the next deadline. */
static void devices_update(struct vm *vm)
{
	pit_update(vm->pit);
	rtc_update(vm->rtc);
	if (vm->com1)
		uart_poll(vm->com1);
	uint64_t d = pit_next_deadline(vm->pit), r = rtc_next_deadline(vm->rtc);
	if (r < d)
		d = r;
	/* A guest may program the PIT for an interrupt every microsecond; the host timer
	 * does not go faster than this, and the guest loses ticks, as a slow PC would. */
	uint64_t soonest = vclock_now(&vm->clock) + MIN_TIMER_NS;
	if (d < soonest)
		d = soonest;
	if (d == vm->rt.timer_deadline || !vm->rt.kick_timer_ok)
		return;
	struct itimerspec its = { 0 };
	if (d != VCLOCK_NEVER) {
		its.it_value.tv_sec = (time_t)(d / 1000000000u);
		its.it_value.tv_nsec = (long)(d % 1000000000u);
	}
	vm->rt.timer_deadline = d;
	timer_settime(vm->rt.kick_timer, TIMER_ABSTIME, &its, NULL);
}

enum intr_result intr_check(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	if (vm->rt.timer_fired || vm->io_dirty) {
		vm->rt.timer_fired = 0;
		vm->io_dirty = false;
		devices_update(vm);
	}
	/* A shadow from an emulated STI or MOV SS, or from an inline STI right before
	 * the exit (translated code notes where its next instruction is). */
	bool shadow = c->intr_shadow || (c->sh->sti_eip && c->sh->sti_eip == c->sh->eip);
	c->intr_shadow = false;
	c->sh->sti_eip = 0;
	c->sh->irq = pic_intr(vm->pic);
	if (!cpu_if(c) || c->exc.pending || !c->sh->irq)
		return INTR_NONE;
	if (shadow)
		return INTR_STEP;       /* the instruction after STI / MOV SS runs first */
	int vector = pic_ack(vm->pic);
	c->halted = false;
	vm->stats.interrupts++;
	intr_external(vm, vector);
	return INTR_DELIVERED;
}

void intr_port_io(struct vm *vm, uint16_t port)
{
	if ((port >= 0x40 && port <= 0x43) || port == 0x61 || port == 0x70 || port == 0x71)
		vm->io_dirty = true;
}

void intr_halt(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	while (vm->stop == STOP_NONE && !vm->rt.async_signal) {
		vm->rt.timer_fired = 0;
		devices_update(vm);
		if (pic_intr(vm->pic))
			return;
		int fd = vm->com1 ? uart_poll(vm->com1) : -1;
		if (pic_intr(vm->pic))
			return;
		uint64_t d = vm->rt.timer_deadline;
		if (d == VCLOCK_NEVER && fd < 0) {
			vm_stop(vm, STOP_GUEST_DEAD, 4, "guest halted at eip %#x and no device can wake it",
				c->sh->eip - 1);
			return;
		}
		struct timespec ts, *tsp = NULL;
		if (d != VCLOCK_NEVER) {
			uint64_t now = vclock_now(&vm->clock);
			uint64_t left = d > now ? d - now : 0;
			ts.tv_sec = (time_t)(left / 1000000000u);
			ts.tv_nsec = (long)(left % 1000000000u);
			tsp = &ts;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		vm->stats.halt_sleeps++;
		ppoll(fd >= 0 ? &p : NULL, fd >= 0 ? 1 : 0, tsp, NULL);
	}
}

/*
 * i8042.c - the PS/2 keyboard controller of a PC with no keyboard and no mouse plugged
 * in: its command byte, self-tests, loop-backs and port enables work as on the chip;
 * a byte sent to either port finds no device and comes back as a time-out (status
 * TIMEOUT, data 0xfe) at once, so a guest's probe ends without waiting. Command 0xfe
 * (pulse the reset line), a write of the output port with bit 0 clear, and port 0x92
 * (system control port A) bit 0 reset the machine.
 *
 * The output buffer is a short queue: each entry remembers whether it came from the
 * AUX port (status AUXDATA) or timed out. IRQ 1 follows a keyboard byte waiting with
 * the command byte's KBDINT set, IRQ 12 an AUX byte with AUXINT.
 *
 * Facts: Intel 8042 / IBM PS/2 keyboard controller command set (ports 0x60 data,
 * 0x64 status/command), as Linux's drivers/input/serio/i8042 drives it.
 */
#include "i8042.h"

#include <stdio.h>
#include <stdlib.h>

#define I8042_DATA      0x60
#define I8042_CMD       0x64

/* status register */
#define STR_OBF         0x01
#define STR_SYS         0x04
#define STR_CMDDAT      0x08    /* the last write went to port 0x64 */
#define STR_UNLOCKED    0x10
#define STR_AUXDATA     0x20
#define STR_TIMEOUT     0x40

/* command byte (CTR) */
#define CTR_KBDINT      0x01
#define CTR_AUXINT      0x02
#define CTR_SYS         0x04
#define CTR_KBDDIS      0x10
#define CTR_AUXDIS      0x20
#define CTR_XLATE       0x40

#define QUEUE           8
#define OUT_AUX         0x100
#define OUT_TIMEOUT     0x200
#define NO_DEVICE       0xfe    /* what a port with nothing on it answers */

struct i8042 {
	struct board_stop_hook stop;
	struct irq_line kbd_irq, aux_irq;
	uint8_t ctr;
	uint8_t outport;        /* output port: bit 0 reset (active low), bit 1 A20 */
	uint8_t pending;        /* a command waiting for its byte on port 0x60, or 0 */
	uint8_t last;           /* the last byte read from port 0x60 */
	bool cmd_last;
	uint16_t queue[QUEUE];  /* byte | OUT_AUX | OUT_TIMEOUT */
	int head, count;
};

static void update_irq(struct i8042 *k)
{
	bool kbd = false, aux = false;
	if (k->count) {
		if (k->queue[k->head] & OUT_AUX)
			aux = k->ctr & CTR_AUXINT;
		else
			kbd = k->ctr & CTR_KBDINT;
	}
	irq_set(&k->kbd_irq, kbd);
	irq_set(&k->aux_irq, aux);
}

/* A byte into the output buffer; a full queue drops it, as the chip would overrun. */
static void out(struct i8042 *k, uint16_t v)
{
	if (k->count == QUEUE)
		return;
	k->queue[(k->head + k->count++) % QUEUE] = v;
}

static void reset_machine(struct i8042 *k, const char *how)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "guest reset the machine %s", how);
	board_stop(&k->stop, BOARD_RESET, 0, msg);
}

static void command(struct i8042 *k, uint8_t c)
{
	k->pending = 0;         /* a command cancels one still waiting for its byte */
	switch (c) {
	case 0x20: out(k, k->ctr); break;                       /* read CTR */
	case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:  /* a byte follows */
		k->pending = c;
		break;
	case 0xa7: k->ctr |= CTR_AUXDIS; break;
	case 0xa8: k->ctr &= (uint8_t)~CTR_AUXDIS; break;
	case 0xa9: out(k, 0x00); break;                         /* AUX interface test: ok */
	case 0xaa:                                              /* self-test */
		k->ctr |= CTR_SYS;
		out(k, 0x55);
		break;
	case 0xab: out(k, 0x00); break;                         /* keyboard interface test */
	case 0xad: k->ctr |= CTR_KBDDIS; break;
	case 0xae: k->ctr &= (uint8_t)~CTR_KBDDIS; break;
	case 0xd0: out(k, k->outport); break;                   /* read output port */
	default:
		/* 0xf0-0xff pulse output port lines low for a moment: bit 0 is reset */
		if (c >= 0xf0 && !(c & 1))
			reset_machine(k, "through the i8042");
		break;                                          /* others: ignored */
	}
}

static void data(struct i8042 *k, uint8_t v)
{
	uint8_t c = k->pending;
	k->pending = 0;
	switch (c) {
	case 0x60:
		k->ctr = v;
		break;
	case 0xd1:
		k->outport = v;
		if (!(v & 1))
			reset_machine(k, "through the i8042 output port");
		break;
	case 0xd2: out(k, v); break;                            /* as if from the keyboard */
	case 0xd3: out(k, v | OUT_AUX); break;                  /* as if from the AUX port */
	case 0xd4: out(k, NO_DEVICE | OUT_AUX | OUT_TIMEOUT); break;
	default: out(k, NO_DEVICE | OUT_TIMEOUT); break;        /* to the keyboard */
	}
}

static uint32_t i8042_read(void *opaque, uint16_t port, int size)
{
	struct i8042 *k = opaque;
	(void)size;
	if (port == I8042_CMD) {
		uint8_t s = STR_UNLOCKED | (k->ctr & CTR_SYS ? STR_SYS : 0) |
			    (k->cmd_last ? STR_CMDDAT : 0);
		if (k->count) {
			s |= STR_OBF;
			if (k->queue[k->head] & OUT_AUX)
				s |= STR_AUXDATA;
			if (k->queue[k->head] & OUT_TIMEOUT)
				s |= STR_TIMEOUT;
		}
		return s;
	}
	if (k->count) {
		k->last = (uint8_t)k->queue[k->head];
		k->head = (k->head + 1) % QUEUE;
		k->count--;
		/* The 8259 takes edges: the next byte raises its line anew. */
		irq_set(&k->kbd_irq, 0);
		irq_set(&k->aux_irq, 0);
		update_irq(k);
	}
	return k->last;
}

static void i8042_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct i8042 *k = opaque;
	(void)size;
	k->cmd_last = port == I8042_CMD;
	if (port == I8042_CMD)
		command(k, (uint8_t)val);
	else
		data(k, (uint8_t)val);
	update_irq(k);
}

static uint32_t port92_read(void *opaque, uint16_t port, int size)
{
	(void)opaque;
	(void)port;
	(void)size;
	return 0x02;    /* A20 enabled */
}

static void port92_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	(void)port;
	(void)size;
	if (val & 1)
		reset_machine(opaque, "through port 0x92");
}

struct i8042 *i8042_create(struct iobus *io, const struct board_stop_hook *stop,
			   struct irq_line kbd, struct irq_line aux)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->stop = *stop;
	k->kbd_irq = kbd;
	k->aux_irq = aux;
	/* as a BIOS leaves it: translated keyboard with interrupts, AUX off */
	k->ctr = CTR_XLATE | CTR_AUXDIS | CTR_SYS | CTR_KBDINT;
	k->outport = 0x03;
	static const struct io_ports ports[] = {
		{ I8042_DATA, 1, i8042_read, i8042_write }, { I8042_CMD, 1, i8042_read, i8042_write },
		{ 0x92, 1, port92_read, port92_write },
	};
	if (io_claim(io, ports, 3, k) < 0) {
		free(k);
		return NULL;
	}
	return k;
}

void i8042_destroy(struct i8042 *k)
{
	free(k);
}

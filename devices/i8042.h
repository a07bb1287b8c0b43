/*
 * i8042.h - the PS/2 keyboard controller at ports 0x60/0x64 (and port 0x92), with
 * nothing plugged into its keyboard and AUX ports (i8042.c).
 */
#ifndef TRAPEZE_I8042_H
#define TRAPEZE_I8042_H

#include "board.h"
#include "ioport.h"

struct i8042;

/* Register the ports; kbd and aux are IRQ 1 and IRQ 12. Reset commands go to stop
 * (*stop is copied). NULL on failure. */
struct i8042 *i8042_create(struct iobus *io, const struct board_stop_hook *stop,
			   struct irq_line kbd, struct irq_line aux);
/* Free k; its ports stay claimed, so destroy the iobus with it. */
void i8042_destroy(struct i8042 *k);

#endif

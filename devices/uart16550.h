/*
 * uart16550.h - a 16550A UART (COM1 at 0x3f8, IRQ 4 on a PC).
 *
 * Transmitted bytes go to out_fd; received bytes are read from in_fd (-1 for none)
 * when the guest looks for them. Interrupts go to the line given at creation.
 */
#ifndef TRAPEZE_UART16550_H
#define TRAPEZE_UART16550_H

#include <stdbool.h>
#include <stdint.h>

#include "ioport.h"

struct uart;

/* The UART at base..base+7 on io; NULL on failure. The descriptors stay the caller's. */
struct uart *uart_create(struct iobus *io, uint16_t base, struct irq_line irq, int in_fd, int out_fd);
/* Free u; its ports stay claimed, so destroy the iobus with it. */
void uart_destroy(struct uart *u);
/* Take what the host has typed (raising the interrupt if enabled); the descriptor to
 * wait on for more input (always read, so that console commands get through), or -1
 * once input has ended. */
int uart_poll(struct uart *u);
/* Take up to n bytes of what the host typed past the guest's registers, for a console
 * that is not this UART (para-x86's console_read); how many. */
uint32_t uart_take_input(struct uart *u, uint8_t *buf, uint32_t n);
/* Has the host typed something not yet taken? */
bool uart_has_input(const struct uart *u);
/* Have every byte read from the host pass fn first; false drops it (the console's
 * escape key). */
void uart_set_rx_filter(struct uart *u, bool (*fn)(void *opaque, uint8_t c), void *opaque);

#endif

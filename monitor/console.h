/*
 * console.h - the host terminal as the guest's serial console.
 *
 * When COM1 talks to a terminal, the terminal goes to raw mode (every key reaches the
 * guest, Ctrl-C included) and is restored when trapeze ends, however it ends. As in
 * QEMU, Ctrl-A then x quits; Ctrl-A Ctrl-A sends one Ctrl-A to the guest.
 */
#ifndef TRAPEZE_CONSOLE_H
#define TRAPEZE_CONSOLE_H

struct vm;

/* Raw mode on fd 0 if it is a terminal, and the escape key on COM1's input. */
void console_init(struct vm *vm);
/* Put the terminal back (async-signal-safe: also called from fatal-signal paths). */
void console_restore(void);

#endif

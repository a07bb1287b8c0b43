/*
 * console.c - the host terminal as the guest's serial console (see console.h).
 */
#include "console.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "vm.h"
#include "../devices/uart16550.h"

#define ESCAPE 0x01             /* Ctrl-A */

/* The terminal's settings before raw mode: restored by console_restore() from any
 * path, including signal handlers, hence file scope (the one process-wide thing). */
static struct termios saved;
static volatile int raw;

void console_restore(void)
{
	if (raw) {
		tcsetattr(0, TCSANOW, &saved);
		raw = 0;
	}
}

/* SIGABRT (a failed assert) and SIGPIPE (stdout closed) end the process from the
 * monitor's own code without the exit path: put the terminal back first. */
static void restore_and_die(int sig)
{
	console_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static bool escape_filter(void *opaque, uint8_t c)
{
	struct vm *vm = opaque;
	if (!vm->rt.console_escape) {
		if (c == ESCAPE) {
			vm->rt.console_escape = true;
			return false;
		}
		return true;
	}
	vm->rt.console_escape = false;
	if (c == 'x') {
		vm_stop(vm, STOP_POWEROFF, 0, "quit from the console (Ctrl-A x)");
		vm->cpu.sh->run = 0;
		return false;
	}
	return c == ESCAPE;     /* Ctrl-A Ctrl-A: one Ctrl-A for the guest */
}

void console_init(struct vm *vm)
{
	if (!vm->com1)
		return;
	uart_set_rx_filter(vm->com1, escape_filter, vm);
	if (!isatty(0) || tcgetattr(0, &saved) < 0)
		return;
	struct termios t = saved;
	t.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(unsigned)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(0, TCSANOW, &t) == 0) {
		raw = 1;
		atexit(console_restore);
		signal(SIGABRT, restore_and_die);
		signal(SIGPIPE, restore_and_die);
	}
}

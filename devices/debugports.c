/*
 * debugports.c - isa-debug-exit (0xf4) and the POST code port (0x80); see board.h.
 */
#include <stdio.h>

#include "board.h"
#include "ioport.h"
#include "../monitor/vm.h"

static void debug_exit_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct vm *vm = opaque;
	(void)port;
	(void)size;
	vm_stop(vm, STOP_DEBUG_EXIT, (int)((val << 1) | 1) & 0xff,
		"guest wrote %#x to the debug-exit port", val);
}

static void post_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct vm *vm = opaque;
	(void)port;
	(void)size;
	if (vm->cfg.trace)
		fprintf(stderr, "trapeze: POST code %#x\n", val & 0xff);
}

int debugports_create(struct iobus *io, struct vm *vm)
{
	int r = io_register(io, 0xf4, 4, NULL, debug_exit_write, vm);
	if (r < 0)
		return r;
	return io_register(io, 0x80, 1, NULL, post_write, vm);
}

/*
 * i8042.c - the keyboard controller, as far as a guest without a keyboard needs it:
 * an empty output buffer, commands accepted, and 0xfe (pulse the reset line) ending
 * the VM. Port 0x92 (system control port A) bit 0 resets the same way.
 */
#include "board.h"
#include "ioport.h"
#include "../monitor/vm.h"

#define I8042_DATA   0x60
#define I8042_CMD    0x64
#define STATUS_SYS   0x04       /* system flag: self-test passed */

static uint32_t i8042_read(void *opaque, uint16_t port, int size)
{
	(void)opaque;
	(void)size;
	return port == I8042_CMD ? STATUS_SYS : 0;
}

static void i8042_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	(void)size;
	if (port == I8042_CMD && (val & 0xff) == 0xfe)
		vm_stop(opaque, STOP_RESET, 0, "guest reset the machine through the i8042");
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
		vm_stop(opaque, STOP_RESET, 0, "guest reset the machine through port 0x92");
}

int i8042_create(struct iobus *io, struct vm *vm)
{
	int r = io_register(io, I8042_DATA, 1, i8042_read, i8042_write, vm);
	if (r == 0)
		r = io_register(io, I8042_CMD, 1, i8042_read, i8042_write, vm);
	if (r == 0)
		r = io_register(io, 0x92, 1, port92_read, port92_write, vm);
	return r;
}

/*
 * board.h - the small PC-board devices that end or reset the machine, or only log.
 *
 * debugports: QEMU's isa-debug-exit at 0xf4 (writing v ends the VM with status
 * (v << 1) | 1) and the POST code port 0x80 (ignored; traced with --trace).
 * i8042: the keyboard controller's status/data ports, enough for the reset command
 * 0xfe on port 0x64, which ends the VM like QEMU's -no-reboot.
 */
#ifndef TRAPEZE_BOARD_H
#define TRAPEZE_BOARD_H

struct vm;
struct iobus;

int debugports_create(struct iobus *io, struct vm *vm);
int i8042_create(struct iobus *io, struct vm *vm);

#endif

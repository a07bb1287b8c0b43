/*
 * board.h - the small PC-board ports that end the machine or only log.
 *
 * debugports: QEMU's isa-debug-exit at 0xf4 (writing v ends the VM with status
 * (v << 1) | 1) and the POST code port 0x80 (ignored; traced with --trace).
 */
#ifndef TRAPEZE_BOARD_H
#define TRAPEZE_BOARD_H

struct vm;
struct iobus;

int debugports_create(struct iobus *io, struct vm *vm);

#endif

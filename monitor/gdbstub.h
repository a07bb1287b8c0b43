/*
 * gdbstub.h - a GDB remote serial protocol stub (trapeze run --gdb PORT).
 *
 * The stub listens on 127.0.0.1:PORT. A debugger that connects stops the guest; while
 * it is stopped the stub serves the debugger's packets (registers, memory by guest
 * linear address through the guest's paging, breakpoints and watchpoints on the
 * debug machinery's host points, debug.h) until it continues, steps, detaches or
 * kills. Everything read from the socket is hostile input: a malformed packet gets
 * '-' or an error reply.
 *
 * Interface: gdb_open() before the sandbox; the dispatcher (cpu.c) calls gdb_turn()
 * at the top of each turn, gdb_break() when dbg_before_insn() met a debugger's
 * instruction breakpoint, gdb_stepping() and gdb_after_run() around the run;
 * gdb_close() when the VM has ended (the debugger hears how).
 */
#ifndef TRAPEZE_GDBSTUB_H
#define TRAPEZE_GDBSTUB_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct gdb;

/* Listen on 127.0.0.1:port; with wait, the guest's first instruction waits for a
 * debugger to connect and continue. 0, or negative errno (nothing left open). */
int gdb_open(struct vm *vm, uint16_t port, bool wait);
/* The VM ended: tell a connected debugger (W with the exit status) and close. */
void gdb_close(struct vm *vm);
/* The descriptors the stub waits on (the listening socket, a connection), for HLT's
 * sleep; how many were put in fds (at most max). */
int gdb_wait_fds(struct vm *vm, int *fds, int max);

/* At the top of a turn: a new connection, Ctrl-C from the debugger, a finished
 * single-step or a watchpoint hit stop the guest here and serve the debugger. True if
 * it did (the turn starts over: the debugger may have changed anything). */
bool gdb_turn(struct vm *vm);
/* A debugger's instruction breakpoint at CS:EIP (dbg.host_hit): stop before it. */
void gdb_break(struct vm *vm);
/* The debugger single-steps: run one instruction, interrupts held off. */
bool gdb_stepping(const struct vm *vm);
/* After a run while stepping: note whether the instruction completed. */
void gdb_after_run(struct vm *vm);

#endif

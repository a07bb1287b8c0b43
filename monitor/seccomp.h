/*
 * seccomp.h - the monitor's sandbox.
 *
 * After start-up the monitor needs a few dozen 64-bit system calls. The filter allows
 * those and traps everything else, and every i386-ABI call (int 0x80 or sysenter from
 * compatibility mode), with SIGSYS; the handler reports the call and ends the VM.
 * With --net user, the calls libslirp makes on its host sockets are allowed too.
 */
#ifndef TRAPEZE_SECCOMP_H
#define TRAPEZE_SECCOMP_H

#include <stdbool.h>

/* Install the filter for the calling thread and its children; negative errno. sockets:
 * the network back end opens, uses and closes host sockets (netdev_opens_sockets); gdb:
 * also what the gdb stub needs on sockets it opened before (accept4, recvfrom, sendto);
 * peers: the pids of the VM's processes (aspaces.c), which may signal and pin each
 * other. */
int sandbox_enter(bool sockets, bool gdb, const int *peers, int npeers);

#endif

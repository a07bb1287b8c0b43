/*
 * fwcfg.h - QEMU's firmware configuration interface, the traditional I/O form: a
 * 16-bit selector at port 0x510 and a byte-wide data port at 0x511 (QEMU's
 * docs/specs/fw_cfg.rst). Test suites written for QEMU (kvm-unit-tests: the number of
 * CPUs) read it; trapeze answers the few items that describe its machine.
 */
#ifndef TRAPEZE_FWCFG_H
#define TRAPEZE_FWCFG_H

#include <stdint.h>

#include "ioport.h"

struct fwcfg;

/* The device with ram_size bytes of RAM and one CPU, its ports claimed on io. NULL on
 * failure. */
struct fwcfg *fwcfg_create(struct iobus *io, uint64_t ram_size);
void fwcfg_destroy(struct fwcfg *f);

#endif

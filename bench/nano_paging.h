/*
 * nano_paging.h - the guest side of the paging nanobenchmarks (pgfault, ptemod, ctxsw,
 * touch64m; nano.h): page tables, the #PF handler, and the checks. Guest only.
 *
 * Interface: nano_pg_prepare(op, k) before each timed round of an op (nothing for the
 * ops that do not page); the first call turns paging on, and paging stays on for the
 * rest of the run. nano_pg_check(op, n) after the op's last round.
 */
#ifndef NANO_PAGING_H
#define NANO_PAGING_H

#include <stdint.h>
#include "nano.h"

/* Make op's next round of k iterations ready: fresh PTEs, CR3 reloaded, nano_arg_*. */
void nano_pg_prepare(enum nano_op op, uint32_t k);
/* Did the n iterations of op do what they claim (faults served, frames read, A/D bits
 * set)? 0 if so; otherwise -1 after a FAIL line. Leaves the kernel's CR3 loaded. */
int nano_pg_check(enum nano_op op, uint32_t n);

#endif

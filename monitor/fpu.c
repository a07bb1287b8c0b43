/*
 * fpu.c - the guest's x87/SSE state across monitor exits.
 *
 * The state stays in the host's registers while the monitor runs: saving it at every
 * exit and restoring it at every entry (FXSAVE64 + FXRSTOR64) cost about 180 of the
 * 650 host cycles of an exit here. The monitor's own code cannot touch it (built with
 * -mgeneral-regs-only), and neither can the string functions it defines for itself and
 * Capstone (lib/string.c). Anything else that may use vector registers - a call
 * into Capstone, glibc's allocator, stdio, qsort (the linker wraps those for the
 * trapeze executable: fpuwrap.c, listed in CMakeLists.txt) - calls fpu_save() first, which stores the
 * state in the vCPU block; tz_enter (enter.S) loads it back only then.
 *
 * TRAPEZE_CHECK_FPU=1 in the environment makes cpu_run compare the guest-visible
 * state (x87, MXCSR, XMM0-7) at each exit with what it is at the next entry: the tests
 * run guests that way, so a path that clobbers it stops the VM with a message.
 *
 * Interface: fpu_attach(sh) when a vCPU starts running; fpu_save() before anything that
 * may use vector registers.
 */
#include "fpu.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../arch/vcpu.h"

static __thread struct vcpu_shared *fpu_vcpu;   /* the vCPU whose state may be live */

void fpu_attach(struct vcpu_shared *sh)
{
	fpu_vcpu = sh;
}

void fpu_save(void)
{
	if (fpu_vcpu)
		fpu_save_vcpu(fpu_vcpu);
}

void fpu_save_vcpu(struct vcpu_shared *sh)
{
	if (!sh->fpu_saved) {
		__asm__ volatile("fxsave64 %0" : "=m"(sh->fx));
		sh->fpu_saved = 1;
	}
}

bool fpu_check_enabled(void)
{
	const char *v = getenv("TRAPEZE_CHECK_FPU");
	return v && *v && *v != '0';
}

void fpu_snapshot(uint8_t img[512])
{
	__asm__ volatile("fxsave64 %0" : "=m"(*(uint8_t(*)[512])img));
}

bool fpu_same(const uint8_t a[512], const uint8_t b[512])
{
	/* FCW..MXCSR_MASK (0-31), ST0-7 (32-159), XMM0-7 (160-287): what a 32-bit guest
	 * sees. XMM8-15 are not its. */
	return memcmp(a, b, 288) == 0;
}

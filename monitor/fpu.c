/*
 * fpu.c - the guest's x87/SSE state across monitor exits.
 *
 * The state stays in the host's registers while the monitor runs: saving it at every
 * exit and restoring it at every entry (FXSAVE64 + FXRSTOR64) cost about 180 of the
 * 650 host cycles of an exit here. The monitor's own code cannot touch it (built with
 * -mgeneral-regs-only), and neither can the string functions below, which the
 * executable defines so that its code and Capstone's call them instead of glibc's
 * (those use XMM/YMM registers). Anything else that may use vector registers - a call
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

#include "vm.h"

static __thread struct vcpu_shared *fpu_vcpu;   /* the vCPU whose state may be live */

void fpu_attach(struct vcpu_shared *sh)
{
	fpu_vcpu = sh;
}

void fpu_save(void)
{
	struct vcpu_shared *sh = fpu_vcpu;
	if (sh && !sh->fpu_saved) {
		__asm__ volatile("fxsave64 %0" : "=m"(sh->fx));
		sh->fpu_saved = 1;
	}
}

/* The string functions the monitor and Capstone call, in general registers only
 * (REP MOVSB/STOSB are fast on CPUs with ERMS). The builtins used here have constant
 * sizes, which the compiler expands inline (general registers: -mgeneral-regs-only). */
void *memcpy(void *dst, const void *src, size_t n)
{
	/* Short copies (operands, instruction bytes) in two overlapping words: REP MOVSB
	 * takes some 30 cycles to start. */
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (n <= 16) {
		if (n >= 8) {
			uint64_t a, b;
			__builtin_memcpy(&a, s, 8);
			__builtin_memcpy(&b, s + n - 8, 8);
			__builtin_memcpy(d, &a, 8);
			__builtin_memcpy(d + n - 8, &b, 8);
		} else if (n >= 4) {
			uint32_t a, b;
			__builtin_memcpy(&a, s, 4);
			__builtin_memcpy(&b, s + n - 4, 4);
			__builtin_memcpy(d, &a, 4);
			__builtin_memcpy(d + n - 4, &b, 4);
		} else {
			for (size_t i = 0; i < n; i++)
				d[i] = s[i];
		}
		return dst;
	}
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	if ((uintptr_t)dst - (uintptr_t)src >= n)      /* no overlap that a forward copy breaks */
		return memcpy(dst, src, n);
	void *d = (char *)dst + n - 1;
	const void *s = (const char *)src + n - 1;
	__asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) :: "memory", "cc");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	for (size_t i = 0; i < n; i++)
		if (p[i] != q[i])
			return p[i] - q[i];
	return 0;
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

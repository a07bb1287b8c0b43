/*
 * string.c - memcpy, memmove, memset and memcmp for everything linked into trapeze.
 *
 * The monitor runs with the guest's x87/SSE state live in the host's registers
 * (monitor/fpu.c), and glibc's string functions use XMM/YMM registers. These, in
 * general registers only, take their place for the monitor's own code and Capstone's:
 * the executable defines them, so the linker never reaches glibc's. A leaf: every
 * layer calls them, they call nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

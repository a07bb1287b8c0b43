/*
 * report.c - what every test guest shares, full x86 (tests/guests) or para-x86
 * (tests/para): the memory functions gcc may call, printf, and the PASS/FAIL protocol.
 * Output goes through guest_putc(), which each library defines (COM1 on a PC, a
 * console_write buffer on para-x86). Interface: report.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

int failures;

/* ---- memory (gcc may emit calls to these even when freestanding) ---- */
void *memset(void *d, int c, size_t n)
{
	void *r = d;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return r;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *r = d;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
	return r;
}

void *memmove(void *d, const void *s, size_t n)
{
	if ((uintptr_t)d <= (uintptr_t)s || (uintptr_t)d >= (uintptr_t)s + n)
		return memcpy(d, s, n);
	char *dd = (char *)d + n - 1;
	const char *ss = (const char *)s + n - 1;
	__asm__ volatile("std; rep movsb; cld" : "+D"(dd), "+S"(ss), "+c"(n) :: "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

static void put_num(uint32_t v, unsigned base, int width, char pad, int neg)
{
	char buf[12];
	int i = 0;
	do {
		buf[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		buf[i++] = '-';
	while (width-- > i)
		guest_putc(pad);
	while (i)
		guest_putc(buf[--i]);
}

void vprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			guest_putc(*fmt);
			continue;
		}
		char pad = ' ';
		int width = 0;
		if (*++fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt++ - '0';
		switch (*fmt) {
		case 'x': put_num(va_arg(ap, uint32_t), 16, width, pad, 0); break;
		case 'u': put_num(va_arg(ap, uint32_t), 10, width, pad, 0); break;
		case 'd': {
			int v = va_arg(ap, int);
			put_num(v < 0 ? -(uint32_t)v : (uint32_t)v, 10, width, pad, v < 0);
			break;
		}
		case 's': for (const char *s = va_arg(ap, const char *); *s; s++) guest_putc(*s); break;
		case 'c': guest_putc((char)va_arg(ap, int)); break;
		case '%': guest_putc('%'); break;
		default: return;
		}
	}
}

void printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void pass(const char *name)
{
	printf("PASS %s\n", name);
}

void fail(const char *name, const char *fmt, ...)
{
	va_list ap;
	failures++;
	printf("FAIL %s ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	guest_putc('\n');
}

void check(int cond, const char *name)
{
	if (cond)
		pass(name);
	else
		fail(name, "condition false");
}

void check_eq(const char *name, uint32_t got, uint32_t want)
{
	if (got == want)
		pass(name);
	else
		fail(name, "got %08x want %08x", got, want);
}


/*
 * lib.c - what the kernel needs of a C library: memset, memcpy, a 64-bit division
 * (no libgcc), and kprintf through hal_console_write, a line at a time.
 */
#include <stdarg.h>
#include "defs.h"

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

/* n / d by shift and subtract; d != 0. */
uint64_t udiv64(uint64_t n, uint64_t d)
{
	uint64_t q = 0, r = 0;
	for (int i = 63; i >= 0; i--) {
		r = r << 1 | (n >> i & 1);
		if (r >= d) {
			r -= d;
			q |= 1ull << i;
		}
	}
	return q;
}

static char line[160];
static uint32_t line_len;

static void flush(void)
{
	if (line_len)
		hal_console_write(line, line_len);
	line_len = 0;
}

static void put(char c)
{
	line[line_len++] = c;
	if (c == '\n' || line_len == sizeof(line))
		flush();
}

static void put_num(uint32_t v, unsigned base, int width)
{
	char buf[12];
	int i = 0;
	do {
		buf[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (width-- > i)
		put('0');
	while (i)
		put(buf[--i]);
}

/* %d %u %x %08x %s %c */
static void vkprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(*fmt);
			continue;
		}
		int width = 0;
		while (*++fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt - '0';
		switch (*fmt) {
		case 'd': {
			int v = va_arg(ap, int);
			if (v < 0)
				put('-');
			put_num(v < 0 ? -(uint32_t)v : (uint32_t)v, 10, width);
			break;
		}
		case 'u': put_num(va_arg(ap, uint32_t), 10, width); break;
		case 'x': put_num(va_arg(ap, uint32_t), 16, width); break;
		case 's': for (const char *s = va_arg(ap, const char *); *s; s++) put(*s); break;
		case 'c': put((char)va_arg(ap, int)); break;
		default: put('%'); put(*fmt); break;
		}
	}
}

void kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vkprintf(fmt, ap);
	va_end(ap);
}

void panic(const char *fmt, ...)
{
	va_list ap;
	hal_irq_disable();
	kprintf("minik: panic: ");
	va_start(ap, fmt);
	vkprintf(fmt, ap);
	va_end(ap);
	put('\n');
	hal_exit(2);
}

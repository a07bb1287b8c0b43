/*
 * report.h - the memory functions, printf and the PASS/FAIL protocol every test guest
 * shares (report.c). A library using them defines guest_putc().
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void guest_putc(char c);                /* the library's output, one character */

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void vprintf(const char *fmt, va_list ap);
void printf(const char *fmt, ...);       /* %x %08x %d %u %s %c %% */
void pass(const char *name);
void fail(const char *name, const char *fmt, ...);
void check(int cond, const char *name);  /* PASS when cond, else FAIL */
void check_eq(const char *name, uint32_t got, uint32_t want);
extern int failures;

#endif

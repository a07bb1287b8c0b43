/*
 * fpuwrap.c - glibc functions that may use vector registers inside (its allocator,
 * stdio, qsort), wrapped at link time for the trapeze executable (CMakeLists.txt:
 * --wrap=NAME sends the monitor's calls of NAME to __wrap_NAME): each saves the
 * guest's x87/SSE state first, which may be live in the registers (fpu.c). Besides
 * the allocator and stdio: every call into Capstone, and the system-call wrappers
 * whose code uses XMM registers in this glibc (ppoll copies its timespec with MOVDQU;
 * found by disassembling each libc function trapeze imports, three calls deep).
 */
#include <capstone/capstone.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <termios.h>
#include <time.h>

#include "fpu.h"

/* glibc functions that may use vector registers inside, wrapped at link time. */
#define WRAP(ret, name, params, args)                                   \
	ret __real_##name params;                                       \
	ret __wrap_##name params                                        \
	{                                                               \
		fpu_save();                                             \
		return __real_##name args;                              \
	}

WRAP(void *, malloc, (size_t n), (n))
WRAP(void *, calloc, (size_t n, size_t m), (n, m))
WRAP(void *, realloc, (void *p, size_t n), (p, n))
WRAP(void, free, (void *p), (p))
WRAP(void, qsort, (void *b, size_t n, size_t s, int (*cmp)(const void *, const void *)),
     (b, n, s, cmp))
WRAP(int, vfprintf, (FILE *f, const char *fmt, va_list ap), (f, fmt, ap))
WRAP(int, vsnprintf, (char *s, size_t n, const char *fmt, va_list ap), (s, n, fmt, ap))
WRAP(int, fputs, (const char *s, FILE *f), (s, f))
WRAP(size_t, fwrite, (const void *p, size_t s, size_t n, FILE *f), (p, s, n, f))
WRAP(int, fflush, (FILE *f), (f))
WRAP(int, puts, (const char *s), (s))
WRAP(int, putchar, (int c), (c))
WRAP(int, fputc, (int c, FILE *f), (c, f))
WRAP(int, ppoll, (struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *m),
     (p, n, t, m))
WRAP(int, sigaction, (int s, const struct sigaction *a, struct sigaction *o), (s, a, o))
WRAP(int, timer_create, (clockid_t c, struct sigevent *e, timer_t *t), (c, e, t))
WRAP(int, isatty, (int fd), (fd))
WRAP(int, tcgetattr, (int fd, struct termios *t), (fd, t))
WRAP(int, tcsetattr, (int fd, int a, const struct termios *t), (fd, a, t))
WRAP(char *, strerror, (int e), (e))
WRAP(bool, cs_disasm_iter, (csh h, const uint8_t **code, size_t *size, uint64_t *addr,
			    cs_insn *insn), (h, code, size, addr, insn))
WRAP(cs_insn *, cs_malloc, (csh h), (h))
WRAP(void, cs_free, (cs_insn *insn, size_t n), (insn, n))
WRAP(cs_err, cs_open, (cs_arch a, cs_mode m, csh *h), (a, m, h))
WRAP(cs_err, cs_close, (csh *h), (h))
WRAP(cs_err, cs_option, (csh h, cs_opt_type t, size_t v), (h, t, v))
WRAP(const char *, cs_insn_name, (csh h, unsigned int id), (h, id))

int __wrap_fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = __wrap_vfprintf(f, fmt, ap);
	va_end(ap);
	return r;
}

int __wrap_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = __wrap_vfprintf(stdout, fmt, ap);
	va_end(ap);
	return r;
}

int __wrap_snprintf(char *s, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = __wrap_vsnprintf(s, n, fmt, ap);
	va_end(ap);
	return r;
}


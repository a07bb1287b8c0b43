/*
 * loader.c - helpers shared by the boot loaders (see loader.h).
 */
#include "loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segments.h"
#include "vm.h"

#define LOAD_MAX (1u << 30)

int load_fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Read to the end rather than trust a size from fstat: the file may be a pipe. */
uint8_t *load_file(const char *what, const char *path, size_t *size, char *err, size_t n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		load_fail(err, n, "cannot open %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			uint8_t *nb = realloc(buf, cap);
			if (!nb || cap > LOAD_MAX) {
				free(nb ? nb : buf);
				fclose(f);
				load_fail(err, n, "%s %s is too large", what, path);
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		load_fail(err, n, "cannot read %s %s", what, path);
		return NULL;
	}
	*size = len;
	return buf;
}

void load_flat_segments(struct vm *vm, uint16_t cs, uint16_t ds)
{
	seg_set(vm, SR_CS, cs, 0, 0xffffffff, 0xc09b);
	for (int sr = 0; sr < SR_COUNT; sr++)
		if (sr != SR_CS)
			seg_set(vm, sr, ds, 0, 0xffffffff, 0xc093);
}

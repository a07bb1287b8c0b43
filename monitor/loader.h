/*
 * loader.h - what the boot loaders (bzimage.c, multiboot.c) and main.c share: reading
 * a file whole, the one-line error they report, the flat segments both boot protocols
 * start the CPU in (loader.c).
 */
#ifndef TRAPEZE_LOADER_H
#define TRAPEZE_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* Format a one-line reason into err (n bytes); returns -1, for `return load_fail(...)`. */
int load_fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The whole file at path (up to 1 GiB) in a malloc'd buffer and its size in *size;
 * NULL with a reason naming it as what ("kernel", "initrd") in err. */
uint8_t *load_file(const char *what, const char *path, size_t *size, char *err, size_t n);
/* Flat 32-bit protected-mode segments: CS = cs (code), every other register = ds (data),
 * base 0, limit 4 GiB, as both boot protocols promise. */
void load_flat_segments(struct vm *vm, uint16_t cs, uint16_t ds);

#endif

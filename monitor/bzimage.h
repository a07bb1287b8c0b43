/*
 * bzimage.h - load a Linux bzImage through the 32-bit boot protocol
 * (Documentation/arch/x86/boot.rst, "32-bit Boot Protocol").
 */
#ifndef TRAPEZE_BZIMAGE_H
#define TRAPEZE_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* Does the image carry a Linux setup header ("HdrS", boot protocol 2.03 or later)? */
bool bz_probe(const uint8_t *img, size_t size);

/* Load the kernel image (and initrd, may be NULL) with command line append, and set
 * the CPU to the protocol's entry state. 0, or -1 with a one-line reason in err. */
int bz_load(struct vm *vm, const uint8_t *img, size_t size, const char *append,
	    const char *initrd, char *err, size_t errlen);

#endif

/*
 * multiboot.h - load a Multiboot (v1) kernel: ELF32, or any image with the header's
 * address fields, into guest RAM and set the CPU to the state the specification
 * promises (EAX = 0x2badb002, EBX = the information structure, flat segments).
 */
#ifndef TRAPEZE_MULTIBOOT_H
#define TRAPEZE_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* Load the kernel image img (size bytes, read from path: the first word of the command
 * line); 0, or -1 with a one-line reason in err. */
int mb_load(struct vm *vm, const char *path, const uint8_t *img, size_t size, const char *append,
	    char *err, size_t errlen);

#endif

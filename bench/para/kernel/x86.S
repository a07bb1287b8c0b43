/*
 * x86.S - the stock-x86 build's entry: the multiboot v1 header, _start (boot stack,
 * kmain) and one IDT stub per vector. A stub pushes a 0 where the CPU pushes no
 * error code, then the vector, and jumps to the common alltraps (trapasm.S).
 */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0
#define KERNBASE 0xc0000000

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:					/* at its physical address, paging off */
	cli
	cld
	mov $(__bss_start - KERNBASE), %edi	/* loaders zero .bss; do it anyway */
	mov $(__bss_end - KERNBASE), %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov %ebx, x86_mbi - KERNBASE
	mov %cr4, %eax			/* 4 MiB and global pages (CR4.PSE, PGE), then paging with WP */
	or $0x90, %eax
	mov %eax, %cr4
	mov $(boot_pd - KERNBASE), %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80010000, %eax
	mov %eax, %cr0
	mov $1f, %eax
	jmp *%eax
1:	mov $boot_stack_top, %esp
	call kmain
1:	hlt
	jmp 1b

	.pushsection .rodata
	.align 4
	.globl x86_vectors
x86_vectors:
	.popsection
	.set vec, 0
	.rept 256
1:
	.if !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17)
	pushl $0
	.endif
	pushl $vec
	jmp alltraps
	.pushsection .rodata
	.long 1b
	.popsection
	.set vec, vec + 1
	.endr

	.data
	.globl x86_mbi
	.align 4
x86_mbi:	.long 0

	.bss
	.align 16
	.space 16384
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits

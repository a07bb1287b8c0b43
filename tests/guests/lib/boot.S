/*
 * boot.S - multiboot v1 header and entry (ELF only, no a.out kludge), the IDT
 * stubs, and the recovery point used by exc_try().
 */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	cld
	mov %eax, %edx                  /* the loader's magic; EBX: its information */
	mov $__bss_start, %edi          /* the loader zeroes .bss; do it anyway */
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov %edx, mb_magic
	mov %ebx, mb_info
	mov $stack_top, %esp
	call test_main
	call guest_finish
1:	hlt
	jmp 1b

/* One stub per vector: push a 0 where the CPU pushes no error code, then the vector. */
	.pushsection .rodata
	.align 4
	.globl isr_stubs
isr_stubs:
	.popsection
	.set vec, 0
	.rept 256
1:
	.if !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	pushl $0
	.endif
	pushl $vec
	jmp isr_common
	.pushsection .rodata
	.long 1b
	.popsection
	.set vec, vec + 1
	.endr

isr_common:
	pusha
	push %ds
	push %es
	push %fs
	push %gs
	cld
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	push %esp
	call exc_dispatch
	add $4, %esp
	pop %gs
	pop %fs
	pop %es
	pop %ds
	popa
	add $8, %esp
	iret

/* int exc_try(void): remember the caller's state; exc_recover() returns here with 1. */
	.globl exc_try
exc_try:
	mov (%esp), %eax
	mov %eax, rec_eip
	lea 4(%esp), %eax
	mov %eax, rec_esp
	mov %ebx, rec_ebx
	mov %esi, rec_esi
	mov %edi, rec_edi
	mov %ebp, rec_ebp
	pushf
	popl rec_eflags
	mov %ds, rec_ds
	mov %es, rec_es
	mov %fs, rec_fs
	mov %gs, rec_gs
	mov %ss, rec_ss
	movl $1, rec_armed
	xor %eax, %eax
	ret

/* void exc_recover(void), called by exc_dispatch with DS flat: never returns. */
	.globl exc_recover
exc_recover:
	movl $0, rec_armed
	mov rec_ss, %ss
	mov rec_esp, %esp
	mov rec_ebx, %ebx
	mov rec_esi, %esi
	mov rec_edi, %edi
	mov rec_ebp, %ebp
	mov rec_eip, %ecx
	pushl rec_eflags
	mov rec_es, %es
	mov rec_fs, %fs
	mov rec_gs, %gs
	mov rec_ds, %ds                 /* last: DS may not be flat */
	popf
	mov $1, %eax
	jmp *%ecx

	.data
	.globl mb_magic, mb_info
	.align 4
mb_magic:	.long 0
mb_info:	.long 0
	.globl rec_armed
	.align 4
rec_armed:	.long 0
rec_eip:	.long 0
rec_esp:	.long 0
rec_ebx:	.long 0
rec_esi:	.long 0
rec_edi:	.long 0
rec_ebp:	.long 0
rec_eflags:	.long 0
rec_ds:		.long 0
rec_es:		.long 0
rec_fs:		.long 0
rec_gs:		.long 0
rec_ss:		.long 0

	.bss
	.align 16
	.space 16384
stack_top:

	.section .note.GNU-stack, "", @progbits

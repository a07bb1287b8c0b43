/*
 * boot.S - the para-x86 guest's image and entry: a multiboot v1 header, the para
 * ELF note (docs/para-x86.md section 1), _start, the trap-table stubs and the
 * fix-up variables the stubs' dispatcher (lib.c) resumes by.
 *
 * Entry (section 2): EAX = PARA_BOOT_MAGIC, EBX = start-info block, ESP = 0. A
 * loader that did not see the note (full x86, QEMU) enters with the multiboot magic
 * instead: then there is no console_write to report through, so _start prints a
 * FAIL line on COM1 and exits through port 0xf4 with 1 (process status 3).
 */
/* Must match arch/para.h (not includable from assembly); para_boot checks it. */
#define NOTE_TYPE	0x50415241	/* PARA_NOTE_TYPE */
#define NOTE_VERSION	1		/* PARA_VERSION */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.section .note.trapeze, "a", @note
	.align 4
	.globl para_note
para_note:
	.long 8				/* namesz: "trapeze\0" */
	.long 8				/* descsz */
	.long NOTE_TYPE
	.asciz "trapeze"
	.align 4
	.long NOTE_VERSION, 0		/* version, flags */

	.text
	.globl _start
_start:
	cld
	mov %eax, boot_eax		/* ESP is 0: no push before the stack is set */
	mov %ebx, boot_ebx
	mov %esp, boot_esp
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov boot_eax, %eax
	cmp para_boot_magic, %eax
	jne not_para
	mov $stack_top, %esp
	call para_start			/* lib.c: start-info, trap table, test_main, exit */
1:	jmp 1b

not_para:
	mov $not_para_msg, %esi
2:	lodsb
	test %al, %al
	jz 4f
	mov %al, %ah
3:	mov $0x3fd, %dx			/* COM1 line status: wait for THR empty */
	inb %dx, %al
	test $0x20, %al
	jz 3b
	mov $0x3f8, %dx
	mov %ah, %al
	outb %al, %dx
	jmp 2b
4:	mov $1, %al
	outb %al, $0xf4
5:	cli
	hlt
	jmp 5b

/*
 * One stub per vector 0-63 (exceptions and events). The frame the monitor pushes at
 * CPL 0 is EFLAGS, CS, EIP, an error code for 8, 10-14 and 17, and for #PF (14) CR2
 * on top (section 6). The stubs make it uniform: [vector, cr2, error, eip, cs,
 * eflags], zeros where the monitor pushes nothing.
 */
	.pushsection .rodata
	.align 4
	.globl trap_stubs
trap_stubs:
	.popsection
	.set vec, 0
	.rept 64
1:
	.if vec == 14
	.elseif vec == 8 || (vec >= 10 && vec <= 13) || vec == 17
	pushl $0			/* cr2 */
	.else
	pushl $0			/* error */
	pushl $0			/* cr2 */
	.endif
	pushl $vec
	jmp trap_common
	.pushsection .rodata
	.long 1b
	.popsection
	.set vec, vec + 1
	.endr

trap_common:
	pusha
	cld
	push %esp
	call trap_dispatch
	add $4, %esp
	popa
	add $12, %esp			/* vector, cr2, error */
	iret

	.section .rodata
not_para_msg:
	.asciz "\nFAIL para-boot-magic EAX is not PARA_BOOT_MAGIC: not booted as a para-x86 guest\n"

	.data
	.align 4
	.globl boot_eax, boot_ebx, boot_esp
boot_eax:	.long 0
boot_ebx:	.long 0
boot_esp:	.long 0
	/* The fix-up: a trap whose frame EIP is trap_fix_eip resumes at trap_fix_resume. */
	.globl trap_fix_eip, trap_fix_resume, trap_fix_esp
trap_fix_eip:		.long 0
trap_fix_resume:	.long 0
trap_fix_esp:		.long 0		/* ESP when it was armed, for frame checks */

	.bss
	.align 16
	.space 16384
	.globl stack_top
stack_top:

	.section .note.GNU-stack, "", @progbits

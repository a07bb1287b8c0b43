/*
 * para.S - the para-x86 build's entry (docs/para-x86.md): the multiboot v1 header,
 * the para ELF note (section 1), _start, and the trap-table stubs.
 *
 * Entry (section 2): EAX = PARA_BOOT_MAGIC, EBX = the start-info block, ESP = 0.
 * Not booted as a para guest (no magic), _start stops through port 0xf4 with 1.
 *
 * The stubs turn the para frames into the x86 one trapasm.S completes: a 0 where no
 * error code is pushed, and for #PF the CR2 the monitor pushes on top (section 6)
 * moved aside into para_cr2 (hal_fault_addr reads it; the kernel runs with events
 * masked, so no second fault overwrites it before trap() has read it).
 */
#define NOTE_TYPE	0x50415241	/* PARA_NOTE_TYPE */
#define BOOT_MAGIC	0x7a505856	/* PARA_BOOT_MAGIC */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0
#define KERNBASE	0xc0000000

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.section .note.trapeze, "a", @note
	.align 4
	.long 8				/* namesz: "trapeze\0" */
	.long 8				/* descsz */
	.long NOTE_TYPE
	.asciz "trapeze"
	.align 4
	.long 1, 0			/* version, flags */

	.text
	.globl _start
_start:					/* at its physical address, paging off */
	cld
	cmp $BOOT_MAGIC, %eax		/* ESP is 0: nothing pushed before the stack is set */
	jne not_para
	mov $(__bss_start - KERNBASE), %edi	/* loaders zero .bss; do it anyway */
	mov $(__bss_end - KERNBASE), %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov %ebx, para_start_info - KERNBASE
	mov $8, %eax			/* set_pt(boot_pd): paging on */
	mov $(boot_pd - KERNBASE), %ebx
	.byte 0x0f, 0x01, 0xc1		/* VMCALL */
	mov $1f, %eax
	jmp *%eax
1:	mov $boot_stack_top, %esp
	call kmain
not_para:
	mov $1, %al
	outb %al, $0xf4
2:	hlt
	jmp 2b

	.macro stub vec
	.if \vec == 14
	popl para_cr2
	.elseif !(\vec == 8 || (\vec >= 10 && \vec <= 13) || \vec == 17)
	pushl $0
	.endif
	pushl $\vec
	jmp alltraps
	.endm

	.pushsection .rodata
	.align 4
	.globl para_vectors
para_vectors:				/* vectors 0-32: exceptions and event 0 */
	.popsection
	.set vec, 0
	.rept 33
1:	stub vec
	.pushsection .rodata
	.long 1b
	.popsection
	.set vec, vec + 1
	.endr
	.globl para_syscall_vector
para_syscall_vector:
	stub 0x80

	.data
	.align 4
	.globl para_start_info, para_cr2
para_start_info:	.long 0
para_cr2:		.long 0

	.bss
	.align 16
	.space 16384
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits

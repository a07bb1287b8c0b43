/*
 * nano_loops.S - the nanobenchmark loops (nano.h), assembled once per harness from this
 * one file, so the guest and the native program run the same instructions.
 *
 * void nano_<op>(uint32_t n), cdecl: runs the operation n (> 0) times. The counter lives
 * in EBP, so a body may use EAX, ECX and EDX, and EBX, ESI and EDI that its setup (run
 * once, before the loop) loads; the loop is `body; dec %ebp; jnz 1b`, 16-byte aligned,
 * and nano_empty is that loop with no body. Callee-saved registers are kept, so a loop
 * can be called from C at CPL 0 or be user_run()'s ring-3 routine.
 *
 * What each body needs from its environment:
 *   syscall   an INT 0x80 gate with DPL 3 (guest) or a Linux kernel (EAX = __NR_getpid)
 *   divzero   a #DE handler that resumes 2 bytes on (DIV ECX is F7 F1)
 *   in        CPL <= IOPL; port 0x21 (8259 mask: reading it has no side effect)
 *   clisti    CPL <= IOPL; leaves EFLAGS.IF as it found it
 *   pgfault, touch64m   n writable pages from nano_arg_base on, 4 KiB apart: one byte
 *             written to each (the guest's tables or the host kernel map them on demand)
 *   ptemod    CPL 0; nano_arg_pte the present PTE of nano_arg_lin; each iteration
 *             flips it with nano_arg_xor, INVLPGs the page and adds a word read
 *             through it to nano_arg_sum
 *   ctxsw     CPL 0; each iteration loads CR3 (nano_arg_cr3 first, then flipped with
 *             nano_arg_xor) and adds the word at nano_arg_lin to nano_arg_sum
 * The paging loops only run in the guest (nano_native.c runs pgfault and touch64m).
 */
	.set NR_GETPID, 20       /* i386 number: arch/x86/entry/syscalls/syscall_32.tbl */

	.macro LOOP name, setup, body, teardown
	.text
	.p2align 4
	.globl \name
	.type \name, @function
\name:
	pushl %ebp
	pushl %ebx
	pushl %esi
	pushl %edi
	movl 20(%esp), %ebp
	\setup
	.p2align 4
1:
	\body
	decl %ebp
	jnz 1b
	\teardown
	popl %edi
	popl %esi
	popl %ebx
	popl %ebp
	ret
	.size \name, . - \name
	.endm

	LOOP nano_empty, , ,
	LOOP nano_syscall, , "movl $NR_GETPID, %eax; int $0x80",
	LOOP nano_sysenter, , "movl $NR_GETPID, %eax; movl %esp, %ecx; movl $2f, %edx; sysenter; 2:",
	LOOP nano_in, , "inb $0x21, %al",
	LOOP nano_clisti, pushfl, "cli; sti", popfl
	LOOP nano_pushfpopf, , "pushfl; popfl",
	LOOP nano_callret, , "call nano_ret",
	LOOP nano_callpoly, , "call nano_ret; call nano_ret; call nano_ret; call nano_ret; call nano_ret; call nano_ret; call nano_ret; call nano_ret",
	LOOP nano_pushseg, , "pushl %ds; popl %eax",
	LOOP nano_movseg, , "movl %ds, %eax; movl %eax, %ds",
	LOOP nano_divzero, "xorl %ecx, %ecx; xorl %edx, %edx", "divl %ecx",
	LOOP nano_pgfault, "movl nano_arg_base, %esi", "movb %al, (%esi); addl $4096, %esi",
	LOOP nano_touch64m, "movl nano_arg_base, %esi", "movb %al, (%esi); addl $4096, %esi",
	LOOP nano_ptemod, \
		"movl nano_arg_pte, %esi; movl nano_arg_lin, %edi; movl nano_arg_xor, %ebx; movl (%esi), %ecx; xorl %eax, %eax", \
		"xorl %ebx, %ecx; movl %ecx, (%esi); invlpg (%edi); addl (%edi), %eax", \
		"movl %eax, nano_arg_sum"
	LOOP nano_ctxsw, \
		"movl nano_arg_cr3, %esi; movl nano_arg_lin, %edi; movl nano_arg_xor, %ebx; xorl %eax, %eax", \
		"movl %esi, %cr3; addl (%edi), %eax; xorl %ebx, %esi", \
		"movl %eax, nano_arg_sum"

	/* The callee of nano_callret and nano_callpoly: out of line, so nothing can inline or drop the call. */
	.p2align 4
nano_ret:
	ret

	.bss
	.p2align 2
	.globl nano_arg_base, nano_arg_lin, nano_arg_pte, nano_arg_xor, nano_arg_cr3, nano_arg_sum
nano_arg_base:	.long 0
nano_arg_lin:	.long 0
nano_arg_pte:	.long 0
nano_arg_xor:	.long 0
nano_arg_cr3:	.long 0
nano_arg_sum:	.long 0

	.section .note.GNU-stack, "", @progbits

/*
 * trapasm.S - the machine-independent half of trap entry and the context switch.
 *
 * A HAL's vector stub pushes an error code (0 where the CPU pushes none) and the
 * vector, then jumps to alltraps, which completes struct trapframe (hal.h) with
 * pusha and calls trap(tf). trapret pops it and IRETs; a new process's kernel stack
 * returns into trapret (proc.c). Data segments are never reloaded: they are flat
 * on both machines (x86: the user data selector, loaded once at boot).
 *
 * swtch(struct context **old, struct context *new): saves the callee-saved
 * registers on the current stack, stores its address in *old, and resumes new.
 */
	.text
	.globl alltraps
alltraps:
	pusha
	cld
	push %esp
	call trap
	add $4, %esp
	.globl trapret
trapret:
	popa
	add $8, %esp			/* vector, error code */
	iret

	.globl swtch
swtch:
	mov 4(%esp), %eax
	mov 8(%esp), %edx
	push %ebp
	push %ebx
	push %esi
	push %edi
	mov %esp, (%eax)
	mov %edx, %esp
	pop %edi
	pop %esi
	pop %ebx
	pop %ebp
	ret


/*
 * The boot page directory: 4 MiB pages mapping physical [0, 4 MiB) at 0 (the entry
 * code runs there until it jumps up) and [0, 1 GiB) at KERNBASE, where the loader's
 * and the monitor's pages are found until the first process's directory is loaded.
 * The HALs' entry code loads it (CR3, or set_pt) with paging still off.
 */
	.data
	.align 4096
	.globl boot_pd
boot_pd:
	.set i, 0
	.rept 1024
	.if i == 0
	.long 0x83			/* PS | W | P */
	.elseif i >= 768
	.long ((i - 768) << 22) | 0x83
	.else
	.long 0
	.endif
	.set i, i + 1
	.endr

	.section .note.GNU-stack, "", @progbits

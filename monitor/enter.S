/*
 * enter.S - the mode switches between the 64-bit monitor and 32-bit guest code.
 *
 * tz_enter(host_eip) loads the guest's registers and segment shadows from the vCPU
 * block and irets into translated code (compatibility mode, CPL 3). Translated code
 * leaves by a far jump through gs:VC_FARPTR to stub_exit64, which saves the guest's
 * registers and returns from tz_enter with the exit word. A signal taken in translated
 * code comes back through tz_fault_return on the same path. tz_sigtramp wraps every
 * signal handler: it restores the host FS base (glibc's TLS) before any C runs.
 *
 * Upper halves of the general registers do not survive a mode switch: nothing of the
 * monitor is kept there.
 *
 * The vCPU block lies above 2 GiB, where a 64-bit instruction's 32-bit absolute
 * address would be sign-extended: 64-bit code reaches it through %r10 (VB, loaded with
 * VCPU_ADDR), 32-bit code through GS as an absolute address (VC).
 */
#include "../arch/layout.h"

#define VC(off) (VCPU_ADDR + (off))
#define VB(off) (off)(%r10)

/* Restore the host FS base; needs VB in %r10; clobbers rax (and rcx, r11, rdi, rsi
 * without FSGSBASE). */
.macro restore_host_fs
	xorl	%eax, %eax
	movl	%eax, %fs
	cmpl	$0, VB(VC_HAVE_FSGS)
	je	99f
	movq	VB(VC_HOST_FSBASE), %rax
	wrfsbase %rax
	jmp	98f
99:	movl	$158, %eax		/* arch_prctl(ARCH_SET_FS, base) */
	movl	$0x1002, %edi
	movq	VB(VC_HOST_FSBASE), %rsi
	syscall
98:
.endm

	.text
	.globl	tz_enter
	.type	tz_enter, @function
tz_enter:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movl	$VCPU_ADDR, %r10d
	movq	%rsp, VB(VC_HOST_RSP)
	/* A 16-bit guest stack: IRETQ loads SP only and leaves ESP[31:16] as RSP[31:16]
	 * at the IRETQ, so the frame is built on a page whose address has the guest's
	 * ESP[31:16] there (rsi; Linux's espfix64 does the same). */
	testq	%rsi, %rsi
	jz	1f
	movq	%rsi, %rsp
1:	cmpl	$0, VB(VC_FPU_SAVED)	/* the guest's x87/SSE state: live unless saved */
	je	5f
	fxrstor64 VB(VC_FX)
	movl	$0, VB(VC_FPU_SAVED)
5:
	/* ES, DS and GS keep their selectors while the monitor runs (64-bit code does
	 * not use them, and modify_ldt reloads LDT selectors in DS and ES when it rewrites
	 * an entry): a load only when the selector changes. */
	movzwl	VB(VC_HSEL + 0), %eax
	movl	%es, %ecx
	cmpl	%eax, %ecx
	je	2f
	movl	%eax, %es
2:	movzwl	VB(VC_HSEL + 6), %eax
	movl	%ds, %ecx
	cmpl	%eax, %ecx
	je	3f
	movl	%eax, %ds
3:	movzwl	VB(VC_HSEL_NFS), %eax	/* guest FS, or GS at CPL 3 (rewriter.c) */
	movl	%eax, %fs
	movzwl	VB(VC_HSEL + 10), %eax
	movl	%gs, %ecx
	cmpl	%eax, %ecx
	je	4f
	movl	%eax, %gs
4:
	movzwl	VB(VC_HSEL + 4), %eax
	pushq	%rax			/* SS */
	movl	VB(VC_ESP), %eax
	pushq	%rax			/* ESP */
	movl	VB(VC_EFLAGS), %eax
	pushq	%rax			/* EFLAGS */
	pushq	$SEL_MCODE		/* CS */
	movl	%edi, %edi
	pushq	%rdi			/* EIP */
	movl	VB(0), %eax
	movl	VB(4), %ecx
	movl	VB(8), %edx
	movl	VB(12), %ebx
	movl	VB(20), %ebp
	movl	VB(24), %esi
	movl	VB(28), %edi
	.globl	tz_enter_iret
tz_enter_iret:
	iretq
	.size	tz_enter, . - tz_enter

/* Reached from stub_exit64 with the guest's EAX already saved. */
	.globl	tz_exit64
	.type	tz_exit64, @function
tz_exit64:
	movl	%ecx, VB(4)	/* %r10: the stub loaded it */
	movl	%edx, VB(8)
	movl	%ebx, VB(12)
	movl	%esp, VB(16)
	movl	%ebp, VB(20)
	movl	%esi, VB(24)
	movl	%edi, VB(28)
	movq	VB(VC_HOST_RSP), %rsp
	pushfq
	popq	%rax
	movl	%eax, VB(VC_EFLAGS)
	/* fall through */
	.globl	tz_fault_return
tz_fault_return:
	cld
	movl	$VCPU_ADDR, %r10d
	movl	$HOST_DS, %eax
	movl	%eax, %ss
	restore_host_fs
	/* The guest's x87/SSE state stays in the registers (fpu.c): the monitor's code
	 * uses none of them, and whatever may use them saves it first (FXSAVE64 and
	 * FXRSTOR64 at every exit cost about 180 cycles here). */
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	movl	VB(VC_EXIT), %eax
	ret
	.size	tz_exit64, . - tz_exit64

/* Signal trampoline: sig in rdi, info in rsi, ucontext in rdx (kept for tz_signal). */
	.globl	tz_sigtramp
	.type	tz_sigtramp, @function
tz_sigtramp:
	movl	%fs, %eax
	pushq	%rax			/* the interrupted FS selector; aligns the stack */
	pushq	%rdi
	pushq	%rsi
	pushq	%rdx
	movl	$VCPU_ADDR, %r10d
	restore_host_fs
	popq	%rdx
	popq	%rsi
	popq	%rdi
	call	tz_signal		/* 0: the context now returns to the monitor */
	popq	%rcx
	testl	%eax, %eax
	jz	1f
	testl	%ecx, %ecx		/* the monitor's own FS selector is always 0 */
	jz	1f
	movl	%ecx, %fs		/* back to the guest's FS shadow */
1:	ret
	.size	tz_sigtramp, . - tz_sigtramp

/*
 * Stub template, copied to STUB_ADDR by the monitor. Offsets inside it are fixed
 * by the STUB_* symbols' distance from tz_stubs_start.
 */
	.section .data.tz_stubs, "aw"
	.globl	tz_stubs_start, tz_stubs_end
	.globl	tz_stub_far_exit, tz_stub_lookup_miss, tz_stub_empty_hit, tz_stub_exit64
tz_stubs_start:
	.code32
tz_stub_far_exit:
	ljmp	*%gs:VC(VC_FARPTR)

/* An inline lookup (rewriter/mangle_branch.c) missed, or the monitor wants the CPU back: guest
 * target in EAX, guest EAX/ECX in VC_SAVE_EAX/ECX. The host address of every empty
 * table entry is the same code: only its marker target can reach it (0 or 0xffffffff:
 * codecache.c), as a lookup's hit with the same registers, and it is a miss. */
tz_stub_lookup_miss:
tz_stub_empty_hit:
	movl	%eax, %gs:VC(VC_EIP)
	movl	%gs:VC(VC_SAVE_EAX), %eax
	movl	%gs:VC(VC_SAVE_ECX), %ecx
	movl	$(EXIT_LOOKUP << EXIT_SHIFT), %gs:VC(VC_EXIT)
	ljmp	*%gs:VC(VC_FARPTR)

	.code64
	.balign	16
tz_stub_exit64:
	movl	$VCPU_ADDR, %r10d
	movl	%eax, VB(0)
	movabsq	$tz_exit64, %rax
	jmp	*%rax
tz_stubs_end:
	.section .note.GNU-stack, "", @progbits

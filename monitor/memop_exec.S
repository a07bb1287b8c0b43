/*
 * memop_exec.S - the memory-operand executor's code (memop_native.c): one guest
 * instruction run in 64-bit mode, its memory operand made RIP-relative to a page of
 * the window. Copied once to MX_CODE_ADDR; the 16 bytes at tz_mx_slot take the
 * instruction (padded with NOPs) before each run.
 *
 * Called as uint32_t f(void): loads the guest's x87/SSE image (VC_FX), its status
 * flags and its eight general registers (ESP too: the instruction touches no stack),
 * runs the slot, stores registers, flags and the x87/SSE state in MX_DATA_ADDR and
 * returns 0. The instruction has no REX prefix, so it cannot reach r8-r15: r10 and
 * r11 hold the two blocks' addresses across it. A fault in the slot comes back at
 * tz_mx_fault (signals.c) with RSP = MX_HOST_RSP and EAX = the trap number + 1.
 */
#include "../arch/layout.h"

	.section .data.tz_mx, "aw"
	.globl	tz_mx_start, tz_mx_slot, tz_mx_fault, tz_mx_end
	.code64
tz_mx_start:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movl	$VCPU_ADDR, %r10d
	movl	$MX_DATA_ADDR, %r11d
	movq	%rsp, MX_HOST_RSP(%r11)
	fxrstor64 VC_FX(%r10)
	movl	MX_EFLAGS(%r11), %eax
	pushq	%rax
	popfq
	movl	MX_REGS + 0(%r11), %eax
	movl	MX_REGS + 4(%r11), %ecx
	movl	MX_REGS + 8(%r11), %edx
	movl	MX_REGS + 12(%r11), %ebx
	movl	MX_REGS + 20(%r11), %ebp
	movl	MX_REGS + 24(%r11), %esi
	movl	MX_REGS + 28(%r11), %edi
	movl	MX_REGS + 16(%r11), %esp
tz_mx_slot:
	.fill	16, 1, 0x90
	movl	%eax, MX_REGS + 0(%r11)
	movl	%ecx, MX_REGS + 4(%r11)
	movl	%edx, MX_REGS + 8(%r11)
	movl	%ebx, MX_REGS + 12(%r11)
	movl	%esp, MX_REGS + 16(%r11)
	movl	%ebp, MX_REGS + 20(%r11)
	movl	%esi, MX_REGS + 24(%r11)
	movl	%edi, MX_REGS + 28(%r11)
	movq	MX_HOST_RSP(%r11), %rsp
	pushfq
	popq	%rax
	movl	%eax, MX_EFLAGS(%r11)
	fxsave64 MX_FX(%r11)
	xorl	%eax, %eax
tz_mx_fault:
	cld
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret
tz_mx_end:
	.section .note.GNU-stack, "", @progbits

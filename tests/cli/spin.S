/* spin.S - a guest that never stops: call and return in a loop (for signal tests). */
	.text
	.globl _start
	.align 4
	.long 0x1BADB002, 0, -0x1BADB002
_start:
	movl $0x80000, %esp
1:	call f
	jmp 1b
f:	ret

/* triple.S - a guest with an empty IDT that raises #BP: #BP, then #GP for the gate,
 * then #DF, then a triple fault. trapeze must stop with status 4 and the registers. */
	.text
	.globl _start
	.align 4
	.long 0x1BADB002, 0, -0x1BADB002
_start:
	movl $0x80000, %esp
	lidt idtr
	movl $0x1234abcd, %esi
	int3
	hlt
idtr:	.word 0
	.long 0

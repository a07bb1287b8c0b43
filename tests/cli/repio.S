/* repio.S - REP OUTSB of 4 GiB to port 0x80: a signal must still stop the VM soon. */
	.text
	.globl _start
	.align 4
	.long 0x1BADB002, 0, -0x1BADB002
_start:
	movl $0x80000, %esp
	movl $0xffffffff, %ecx
	xorl %esi, %esi
	movw $0x80, %dx
	cld
	rep outsb
	movb $0x7f, %al                 /* exit status 255: the REP did finish */
	outb %al, $0xf4
	hlt

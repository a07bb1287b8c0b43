/* ss16.S - a 16-bit stack segment with ESP = 0x12340100: after a monitor exit
 * (CPUID), ESP[31:16] must still be 0x1234 (exit status 1; 3 if the host's bits
 * leaked in, as IRETQ does unless trapeze builds its frame where RSP[31:16] = 0x1234). */
	.text
	.globl _start
	.align 4
	.long 0x1BADB002, 0, -0x1BADB002
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	movl $0x10, %eax
	movl %eax, %ds
	movl $0x18, %eax
	movl %eax, %ss
	movl $0x12340100, %esp          /* SP 0x0100 in the 16-bit stack at 0x80000 */
	cpuid
	movl %esp, %ebx
	movl $0x10, %eax
	movl %eax, %ss
	movl $0x80000, %esp
	xorl %eax, %eax
	cmpl $0x12340100, %ebx
	je 2f
	incl %eax
2:	outb %al, $0xf4
	hlt

	.align 8
gdt:	.quad 0
	.quad 0x00cf9b000000ffff        /* 0x08 flat code */
	.quad 0x00cf93000000ffff        /* 0x10 flat data */
	.quad 0x000f93080000ffff        /* 0x18 16-bit data, base 0x80000, limit 0xffff */
gdtr:	.word gdtr - gdt - 1
	.long gdt

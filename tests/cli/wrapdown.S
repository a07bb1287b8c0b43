/* wrapdown.S - a 32-bit expand-down data segment with base 0xffff0000: offset
 * 0xff820000 wraps to linear 0xff810000, inside the top 8 MiB, where the host
 * keeps the monitor window. The access must never reach the monitor: trapeze emulates
 * it against guest memory, where nothing is at that address (an empty bus: reads all
 * ones, writes dropped). Exit status 1 when the read and a read after a write both
 * give all ones, 3 when anything else came back. */
	.text
	.globl _start
	.align 4
	.long 0x1BADB002, 0, -0x1BADB002
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %ss
	movl $0x80000, %esp
	movl $0x18, %eax
	movl %eax, %fs
	movl %fs:0xff820000, %eax       /* linear 0xff810000 */
	cmpl $0xffffffff, %eax
	jne 1f
	movl $0x12345678, %fs:0xff820000
	movl %fs:0xff820000, %eax
	cmpl $0xffffffff, %eax
	jne 1f
	xorl %eax, %eax
	outb %al, $0xf4                 /* exit status 1 */
1:	movb $1, %al
	outb %al, $0xf4                 /* exit status 3 */
	hlt

	.align 8
gdt:	.quad 0
	.quad 0x00cf9b000000ffff        /* 0x08 flat code */
	.quad 0x00cf93000000ffff        /* 0x10 flat data */
	.quad 0xff4097ff00000000        /* 0x18 expand-down, B=1, base 0xffff0000, limit 0 */
gdtr:	.word gdtr - gdt - 1
	.long gdt

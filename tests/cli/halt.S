/* halt.S - cli; hlt: nothing can wake the guest. trapeze must stop with status 4. */
	.text
	.globl _start
	.align 4
	.long 0x1BADB002, 0, -0x1BADB002
_start:
	cli
	hlt

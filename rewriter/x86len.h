/*
 * x86len.h - instruction lengths of 32-bit x86 code, independent of Capstone.
 */
#ifndef TRAPEZE_X86LEN_H
#define TRAPEZE_X86LEN_H

/* Length of the instruction at p (n bytes available, default 32-bit operand and
 * address size), or -1 if it runs past n or past 15 bytes. */
int x86_insn_len(const unsigned char *p, int n);
/* The same for 16-bit code (CS.D = 0: 16-bit defaults). */
int x86_insn_len16(const unsigned char *p, int n);

#endif

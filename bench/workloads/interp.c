/*
 * interp.c - a small stack-machine bytecode interpreter running a program that loops
 * a few million times (an LCG, a xorshift and a byte histogram per iteration).
 * Stresses: the switch dispatch compiles to a jump table, so every bytecode ends in
 * an unpredictable indirect jump; plus loads and stores to the VM stack and locals.
 */
#include "workloads.h"

#define INTERP_ITERS BENCH_SIZE(5000000u, 100000u)

enum {
	OP_HALT, OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_AND, OP_OR,
	OP_XOR, OP_SHL, OP_SHR, OP_DUP, OP_DROP, OP_SWAP, OP_JMP, OP_JNZ, OP_LT,
	OP_LOADI, OP_STOREI, OP_INC, OP_DEC,
};

/* locals */
enum { V_I, V_ACC, V_X, V_HIST };   /* V_HIST..V_HIST+15: a 16-bucket histogram */

static const int32_t program[] = {
	/*  0 */ OP_PUSH, 0, OP_STORE, V_I,                 /* i = n (patched below) */
	/*  4 */ OP_PUSH, 1, OP_STORE, V_ACC,               /* acc = 1 */
	/*  8 */ OP_PUSH, 0x12345678, OP_STORE, V_X,         /* x = 0x12345678 */
	/* loop: */
	/* 12 */ OP_LOAD, V_ACC, OP_PUSH, 1103515245, OP_MUL, OP_PUSH, 12345, OP_ADD,
	/* 20 */ OP_STORE, V_ACC,                            /* acc = acc * a + c */
	/* 22 */ OP_LOAD, V_X, OP_DUP, OP_PUSH, 13, OP_SHL, OP_XOR,
	/* 29 */ OP_DUP, OP_PUSH, 17, OP_SHR, OP_XOR,
	/* 34 */ OP_DUP, OP_PUSH, 5, OP_SHL, OP_XOR,
	/* 39 */ OP_LOAD, V_ACC, OP_PUSH, 16, OP_SHR, OP_ADD, OP_STORE, V_X,   /* x = xorshift(x) + (acc >> 16) */
	/* 47 */ OP_LOAD, V_X, OP_PUSH, 15, OP_AND, OP_PUSH, V_HIST, OP_ADD,   /* &hist[x & 15] */
	/* 55 */ OP_DUP, OP_LOADI, OP_INC, OP_SWAP, OP_STOREI,                /* hist[x & 15]++ */
	/* 60 */ OP_LOAD, V_I, OP_DEC, OP_DUP, OP_STORE, V_I,                 /* --i */
	/* 66 */ OP_JNZ, 12,
	/* 68 */ OP_LOAD, V_ACC, OP_LOAD, V_X, OP_XOR,
	/* 73 */ OP_PUSH, 3, OP_PUSH, 4, OP_LT, OP_ADD,                       /* + (3 < 4) */
	/* 79 */ OP_PUSH, 0, OP_JNZ, 0, OP_PUSH, 0, OP_OR, OP_JMP, 89, OP_DROP,
	/* 89 */ OP_HALT,
};

#define PROG_LEN (sizeof(program) / sizeof(program[0]))

static BENCH_NOINLINE uint32_t run(const int32_t *code, uint32_t *locals)
{
	uint32_t stack[64];
	uint32_t *sp = stack;   /* points past the top */
	const int32_t *pc = code;
	uint32_t a, b;

	for (;;) {
		switch (*pc++) {
		case OP_HALT: return sp > stack ? sp[-1] : 0;
		case OP_PUSH: *sp++ = (uint32_t)*pc++; break;
		case OP_LOAD: *sp++ = locals[*pc++]; break;
		case OP_STORE: locals[*pc++] = *--sp; break;
		case OP_ADD: b = *--sp; sp[-1] += b; break;
		case OP_SUB: b = *--sp; sp[-1] -= b; break;
		case OP_MUL: b = *--sp; sp[-1] *= b; break;
		case OP_AND: b = *--sp; sp[-1] &= b; break;
		case OP_OR: b = *--sp; sp[-1] |= b; break;
		case OP_XOR: b = *--sp; sp[-1] ^= b; break;
		case OP_SHL: b = *--sp; sp[-1] <<= b & 31; break;
		case OP_SHR: b = *--sp; sp[-1] >>= b & 31; break;
		case OP_DUP: a = sp[-1]; *sp++ = a; break;
		case OP_DROP: sp--; break;
		case OP_SWAP: a = sp[-1]; sp[-1] = sp[-2]; sp[-2] = a; break;
		case OP_JMP: pc = code + *pc; break;
		case OP_JNZ: a = *--sp; pc = a ? code + *pc : pc + 1; break;
		case OP_LT: b = *--sp; sp[-1] = sp[-1] < b; break;
		case OP_LOADI: sp[-1] = locals[sp[-1]]; break;
		case OP_STOREI: a = *--sp; locals[a] = *--sp; break;
		case OP_INC: sp[-1]++; break;
		case OP_DEC: sp[-1]--; break;
		default: return 0xdeadbeef;
		}
	}
}

uint32_t wl_interp(void)
{
	static int32_t code[PROG_LEN];
	uint32_t locals[V_HIST + 16];
	for (uint32_t i = 0; i < PROG_LEN; i++)
		code[i] = program[i];
	code[1] = INTERP_ITERS;
	for (uint32_t i = 0; i < V_HIST + 16; i++)
		locals[i] = 0;

	uint32_t r = run(code, locals);
	for (uint32_t i = 0; i < 16; i++)
		r = (r << 3 | r >> 29) ^ locals[V_HIST + i];
	return r;
}

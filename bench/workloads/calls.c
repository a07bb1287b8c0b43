/*
 * calls.c - call/return-heavy code: naive recursive Fibonacci, then a loop through
 * small non-inlined functions called directly and through a function-pointer table.
 * Stresses: CALL and RET (every RET is an indirect jump a translator must map back to
 * translated code), indirect calls, stack pushes and pops; almost no data memory.
 */
#include "workloads.h"

#define FIB_N       BENCH_SIZE(35, 24)
#define CALL_LOOPS  BENCH_SIZE(24u << 20, 256u << 10)

BENCH_NOINLINE uint32_t wl_fib(uint32_t n)
{
	if (n < 2)
		return n;
	return wl_fib(n - 1) + wl_fib(n - 2);
}

BENCH_NOINLINE uint32_t wl_rotl(uint32_t x, uint32_t k) { return x << (k & 31) | x >> (-k & 31); }
BENCH_NOINLINE uint32_t wl_op_add(uint32_t x) { return x + 0x7f4a7c15u; }
BENCH_NOINLINE uint32_t wl_op_xor(uint32_t x) { return x ^ wl_rotl(x, 13); }
BENCH_NOINLINE uint32_t wl_op_mul(uint32_t x) { return x * 0x2c1b3c6du; }
BENCH_NOINLINE uint32_t wl_op_sub(uint32_t x) { return wl_rotl(x, 7) - x; }

typedef uint32_t (*wl_op_fn)(uint32_t);
/* volatile: the compiler must really load the target and call indirectly */
static wl_op_fn volatile ops[4] = { wl_op_add, wl_op_xor, wl_op_mul, wl_op_sub };

BENCH_NOINLINE uint32_t wl_step(uint32_t x, uint32_t i)
{
	x = wl_op_add(x);
	x = ops[i & 3](x);
	return wl_rotl(x, i);
}

uint32_t wl_calls(void)
{
	uint32_t x = wl_fib(FIB_N);
	for (uint32_t i = 0; i < CALL_LOOPS; i++)
		x = wl_step(x, i);
	return x;
}

/*
 * x86emit.c - patching emitted code: branch targets (chaining and unchaining an exit
 * slot, forward branches) and immediates (an inline cache's compares, an exit stub's
 * EIP). The constructors themselves are inline in x86emit.h.
 *
 * Guest code runs on the monitor's own thread, so a patch never races with the code
 * it changes: it is made between two runs, or by a signal handler that interrupted
 * that code between two instructions (a kick unchaining a block, signals.c).
 */
#include "x86emit.h"

void patch_rel32(uint32_t field, uint32_t dest)
{
	int32_t rel = (int32_t)(dest - (field + 4));
	memcpy((void *)(uintptr_t)field, &rel, 4);
}

void patch_imm32(uint32_t at, uint32_t v)
{
	memcpy((void *)(uintptr_t)at, &v, 4);
}

void patch_guard(uint32_t at, bool closed, uint32_t exit)
{
	uint8_t code[GUARD_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	if (closed) {
		int32_t rel = (int32_t)(exit - (at + GUARD_LEN));
		code[0] = 0xe9;
		memcpy(code + 1, &rel, 4);
	}
	memcpy((void *)(uintptr_t)at, code, GUARD_LEN);
}

uint32_t read_imm32(uint32_t at)
{
	uint32_t v;
	memcpy(&v, (const void *)(uintptr_t)at, 4);
	return v;
}

void patch_ic_compare(uint32_t imm, uint32_t first_imm, uint32_t target)
{
	/* The second compare adds to what the first left in ECX: target + imm1. */
	patch_imm32(imm, first_imm ? -target - read_imm32(first_imm) : -target);
}

void patch_ic_pair(uint32_t imm1, uint32_t imm2, uint32_t t1, uint32_t t2)
{
	/* The first compare leaves target - t1 in ECX, the second adds t1 - t2. */
	patch_imm32(imm1, -t1);
	patch_imm32(imm2, t1 - t2);
}

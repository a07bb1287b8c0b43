/*
 * code16_norm.c - 16-bit code (CS.D = 0) that trapeze translates in its 32-bit form with
 * the size prefixes toggled (rewriter/insnclass.c, normalize16), where a careless toggle changes
 * the instruction: SSE/SSE2 fences and MOVNTI must not get a 66 (the host raises #UD;
 * with WAITPKG 66 0F AE F0 would be TPAUSE), CRC32 and POPCNT keep their operand size
 * (and their mandatory F2/F3 next to the opcode), and a valid 15-byte instruction still
 * runs although its 32-bit form would be longer.
 */
#include "guest.h"

#define S_CODE16 7      /* 0x38 */
#define S_DATA16 8      /* 0x40 */

static volatile uint16_t buf16[64] __attribute__((aligned(16)));

extern char c16_base[], c16_sfence[], c16_lfence[], c16_mfence[], c16_movnti[], c16_crc[],
	c16_popcnt[], c16_long[];
__asm__(".text\n"
	".p2align 4\n"
	".globl c16_base\nc16_base:\n"
	".code16\n"
	".globl c16_sfence\nc16_sfence:\n\t"
	".byte 0x0f, 0xae, 0xf8\n\t"            /* sfence */
	"mov $0x5f, %ax\n\t"
	"lretl\n"
	".globl c16_lfence\nc16_lfence:\n\t"
	".byte 0x0f, 0xae, 0xe8\n\t"            /* lfence */
	"mov $0x1f, %ax\n\t"
	"lretl\n"
	".globl c16_mfence\nc16_mfence:\n\t"
	".byte 0x0f, 0xae, 0xf0\n\t"            /* mfence */
	"mov $0x3f, %ax\n\t"
	"lretl\n"
	".globl c16_movnti\nc16_movnti:\n\t"
	"mov $0x20, %bx\n\t"
	"mov $0x600d600d, %eax\n\t"
	".byte 0x0f, 0xc3, 0x07\n\t"            /* movnti [bx], eax */
	"mov $0x77, %ax\n\t"
	"lretl\n"
	".globl c16_crc\nc16_crc:\n\t"
	"mov $0x12345678, %eax\n\t"
	"mov $0xbeef, %bx\n\t"
	".byte 0xf2, 0x0f, 0x38, 0xf1, 0xc3\n\t"  /* crc32 eax, bx (16-bit source here) */
	"lretl\n"
	".globl c16_popcnt\nc16_popcnt:\n\t"
	"mov $0xf0f0, %bx\n\t"
	".byte 0xf3, 0x0f, 0xb8, 0xc3\n\t"      /* popcnt ax, bx */
	"lretl\n"
	".globl c16_long\nc16_long:\n\t"
	/* 9 DS prefixes + mov word [0x0c], 0x4242 (C7 06 disp16 imm16): 15 bytes */
	".byte 0x3e,0x3e,0x3e,0x3e,0x3e,0x3e,0x3e,0x3e,0x3e, 0xc7,0x06,0x0c,0x00,0x42,0x42\n\t"
	"mov $0x99, %ax\n\t"
	"lretl\n"
	".code32\n");

static uint32_t far16(const char *entry)
{
	uint32_t ret;
	struct { uint32_t off; uint16_t sel; } __attribute__((packed)) target =
		{ (uint32_t)(entry - c16_base), S_CODE16 << 3 };
	void *tp = &target;
	__asm__ volatile("push %%ds\n\t"
			 "push %%es\n\t"
			 "push %%ebp\n\t"
			 "movw %2, %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "lcall *%%ss:(%1)\n\t"
			 "pop %%ebp\n\t"
			 "pop %%es\n\t"
			 "pop %%ds"
			 : "=a"(ret), "+S"(tp) : "i"(S_DATA16 << 3)
			 : "ebx", "ecx", "edx", "edi", "memory", "cc");
	return ret;
}

static void run(const char *name, const char *entry, uint32_t want_ax, int have)
{
	if (!have) {
		printf("SKIP %s (no such feature in CPUID)\n", name);
		return;
	}
	uint32_t ret = 0;
	int v = EXC(ret = far16(entry));
	if (v != -1)
		fail(name, "exception %d at %08x", v, exc_last.eip);
	else
		check_eq(name, ret & 0xffff, want_ax);
}

void test_main(void)
{
	guest_init();
	gdt_set(S_CODE16, (uint32_t)c16_base, 0xffff, ACC_CODE, 0);
	gdt_set(S_DATA16, (uint32_t)buf16, 0xffff, ACC_DATA, 0);
	gdt_load(GDT_ENTRIES);
	uint32_t r[4];
	cpuid(1, r);
	int sse = (r[3] >> 25) & 1, sse2 = (r[3] >> 26) & 1, sse42 = (r[2] >> 20) & 1;

	run("code16-sfence", c16_sfence, 0x5f, sse);
	run("code16-lfence", c16_lfence, 0x1f, sse2);
	run("code16-mfence", c16_mfence, 0x3f, sse2);
	run("code16-movnti", c16_movnti, 0x77, sse2);
	if (sse2)
		check_eq("code16-movnti-stored-32-bits", buf16[16] | (uint32_t)buf16[17] << 16, 0x600d600d);

	if (sse42) {
		uint32_t want;
		__asm__ volatile("movl $0x12345678, %%eax; movw $0xbeef, %%bx; crc32w %%bx, %%eax"
				 : "=a"(want) :: "ebx");
		volatile uint32_t got = 0;
		int v = EXC(got = far16(c16_crc));
		check_eq("code16-crc32w-no-exception", (uint32_t)v, (uint32_t)-1);
		check_eq("code16-crc32w-16-bit-source", got, want);
	} else {
		printf("SKIP code16-crc32w-no-exception (no SSE4.2)\n");
		printf("SKIP code16-crc32w-16-bit-source (no SSE4.2)\n");
	}

	run("code16-popcnt", c16_popcnt, 8, (r[2] >> 23) & 1);
	printf("INFO a 15-byte 16-bit instruction next\n");
	run("code16-15-byte-insn", c16_long, 0x99, 1);
	check_eq("code16-15-byte-insn-stored", buf16[6], 0x4242);
	guest_finish();
}

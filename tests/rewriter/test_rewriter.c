/*
 * test_rewriter.c - the translator, bytes in and behaviour out: hand-assembled 32-bit
 * guest code runs through the real rewriter, code cache and dispatcher, and each test
 * checks the guest's registers and memory afterwards, and the monitor's statistics
 * (blocks translated, chained jumps, exits by reason) where they show how the code was
 * translated.
 *
 * Every program is loaded at TVM_CODE (0x100000) with ESP = 0x80000 and flat segments,
 * and ends with "out 0xf4, al" (the debug exit). The comment after each byte group is
 * its address and instruction; NAME_LABEL constants are the addresses of labels.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testvm.h"
#include "../../codecache/codecache.h"
#include "../../monitor/segments.h"
#include "../../rewriter/rewriter.h"
#include "../../rewriter/x86emit.h"

static struct vm vm;

/* The guest's CS limit: blocks are looked up for the current one. */
#define CS_LIMIT (vm.cpu.seg[SR_CS].limit)

static void setup(void) { tvm_create(&vm); }
static void teardown(void) { vm_destroy(&vm); }

#define REG(r) (vm.cpu.sh->regs[r])
#define RUN(code) tvm_run_code(&vm, code, sizeof(code))

/* ---- straight-line IDENT code ---- */

static const uint8_t ident[] = {
	/* start: */
	0xb8, 0x07, 0x00, 0x00, 0x00,            /* 100000  mov eax,0x7 */
	0xbb, 0x06, 0x00, 0x00, 0x00,            /* 100005  mov ebx,0x6 */
	0x0f, 0xaf, 0xc3,                        /* 10000a  imul eax,ebx */
	0x8d, 0x4c, 0x40, 0x01,                  /* 10000d  lea ecx,[eax+eax*2+0x1] */
	0xba, 0x00, 0x00, 0x00, 0x80,            /* 100011  mov edx,0x80000000 */
	0xc1, 0xea, 0x04,                        /* 100016  shr edx,0x4 */
	0x31, 0xf6,                              /* 100019  xor esi,esi */
	0xf7, 0xd6,                              /* 10001b  not esi */
	0x83, 0xee, 0x01,                        /* 10001d  sub esi,0x1 */
	0xbf, 0x00, 0x00, 0x09, 0x00,            /* 100020  mov edi,0x90000 */
	0xc7, 0x07, 0x78, 0x56, 0x34, 0x12,      /* 100025  mov dword [edi],0x12345678 */
	0x81, 0x07, 0x11, 0x11, 0x11, 0x11,      /* 10002b  add dword [edi],0x11111111 */
	0x8b, 0x2f,                              /* 100031  mov ebp,dword [edi] */
	0x0f, 0xcd,                              /* 100033  bswap ebp */
	0x83, 0xfb, 0x07,                        /* 100035  cmp ebx,0x7 */
	0xe6, 0xf4,                              /* 100038  out 0xf4,al */
};

START_TEST(ident_arithmetic)
{
	tvm_wr32(&vm, TVM_DATA, 0);
	RUN(ident);
	tvm_assert_exit(&vm, 42);
	ck_assert_uint_eq(REG(R_EAX), 42);
	ck_assert_uint_eq(REG(R_EBX), 6);
	ck_assert_uint_eq(REG(R_ECX), 127);
	ck_assert_uint_eq(REG(R_EDX), 0x08000000);
	ck_assert_uint_eq(REG(R_ESI), 0xfffffffe);
	ck_assert_uint_eq(REG(R_EDI), TVM_DATA);
	ck_assert_uint_eq(REG(R_EBP), 0x89674523);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA), 0x23456789);
	/* cmp ebx, 7 with ebx = 6: CF and SF set, ZF and OF clear, after the run */
	uint32_t fl = cpu_eflags(&vm.cpu);
	ck_assert_uint_eq(fl & (FL_CF | FL_ZF | FL_SF | FL_OF), FL_CF | FL_SF);
}
END_TEST

static const uint8_t simple[] = {
	/* start: */
	0xb8, 0x07, 0x00, 0x00, 0x00,            /* 100000  mov eax,0x7 */
	0xe6, 0xf4,                              /* 100005  out 0xf4,al */
};

/* One block: two instructions, one exit (the callout for OUT). */
START_TEST(stats_single_block)
{
	RUN(simple);
	tvm_assert_exit(&vm, 7);
	ck_assert_uint_eq(cc_stats(vm.cc)->blocks, 1);
	ck_assert_uint_eq(cc_stats(vm.cc)->guest_insns, 2);
	ck_assert_uint_eq(cc_stats(vm.cc)->guest_bytes, sizeof(simple));
	ck_assert_uint_eq(vm.stats.exits[EXIT_CALLOUT], 1);
	ck_assert_uint_eq(tvm_exits(&vm), 1);
	ck_assert_uint_eq(cc_stats(vm.cc)->chained, 0);
	ck_assert_ptr_nonnull(cc_lookup(vm.cc, TVM_CODE, 0, CS_LIMIT, rw_mode(&vm.cpu)));
}
END_TEST

/* 100 x "inc eax" then "out": a block holds at most 64 instructions, so two blocks,
 * joined by the fall-through slot. */
START_TEST(block_instruction_limit)
{
	uint8_t code[102];
	memset(code, 0x40, 100);                /* inc eax */
	code[100] = 0xe6;                       /* out 0xf4, al */
	code[101] = 0xf4;
	REG(R_EAX) = 0;
	RUN(code);
	tvm_assert_exit(&vm, 100);
	ck_assert_uint_eq(REG(R_EAX), 100);
	ck_assert_uint_eq(cc_stats(vm.cc)->blocks, 2);
	ck_assert_uint_eq(cc_stats(vm.cc)->guest_insns, 101);
	ck_assert_uint_eq(vm.stats.exits[EXIT_CHAIN], 1);
	const struct block *b = cc_lookup(vm.cc, TVM_CODE, 0, CS_LIMIT, rw_mode(&vm.cpu));
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->ninsn, 64);
	ck_assert_uint_eq(b->nexits, 1);
	ck_assert_uint_eq(b->exit[0].target, TVM_CODE + 64);
	ck_assert_ptr_nonnull(cc_lookup(vm.cc, TVM_CODE + 64, 0, CS_LIMIT, rw_mode(&vm.cpu)));
}
END_TEST

/* An instruction breakpoint (a debugger's, so the guest sees nothing) at the OUT of
 * `simple`: the first block ends before it, the block at it is only an exit to the
 * monitor (EXIT_BREAK), which notes the hit and runs the OUT alone. */
START_TEST(breakpoint_ends_block)
{
	struct dbg_point p = { .addr = TVM_CODE + 5, .len = 1, .kind = DBG_EXEC };
	ck_assert_int_eq(dbg_set_host(&vm, &p, 1), 0);
	RUN(simple);
	tvm_assert_exit(&vm, 7);
	const struct block *b = cc_lookup(vm.cc, TVM_CODE, 0, CS_LIMIT, rw_mode(&vm.cpu));
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->ninsn, 1);
	ck_assert_uint_eq(vm.stats.exits[EXIT_BREAK], 1);
	ck_assert_uint_eq(vm.dbg.host_hit, 1);
	ck_assert_uint_eq(vm.cpu.dr[6] & 0xf, 0);
}
END_TEST

/* mov edi, TVM_DATA; mov dword [edi], 1 (a write only); out 0xf4, al */
static const uint8_t store_only[] = {
	0xbf, 0x00, 0x00, 0x09, 0x00,            /* 100000  mov edi,0x90000 */
	0xc7, 0x07, 0x01, 0x00, 0x00, 0x00,      /* 100005  mov dword [edi],0x1 */
	0xb0, 0x07,                              /* 10000b  mov al,0x7 */
	0xe6, 0xf4,                              /* 10000d  out 0xf4,al */
};

/* A debugger's watchpoints (its points 0 and 1, not the guest's): the store meets a
 * write point over an unaligned range holding the dword's last byte, and not a read
 * point on the same bytes (DR7 has no read kind; the debugger's Z3 does). */
START_TEST(debugger_read_and_write_watchpoints)
{
	struct dbg_point p[2] = {
		{ .addr = TVM_DATA + 1, .len = 3, .kind = DBG_READ },
		{ .addr = TVM_DATA + 3, .len = 5, .kind = DBG_WRITE },
	};
	ck_assert_int_eq(dbg_set_host(&vm, p, 2), 0);
	RUN(store_only);
	tvm_assert_exit(&vm, 7);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA), 1);
	ck_assert_uint_eq(vm.dbg.host_hit, 2);
	ck_assert_uint_eq(vm.cpu.dr[6] & 0xf, 0);
}
END_TEST

/* What a debugger may arm: at most DBG_HOST_MAX points, each watched range 1 byte to
 * DBG_HOST_LEN, not wrapping, and the pages they span within the shadow MMU's list. A
 * refused list leaves the armed one as it was. */
START_TEST(debugger_point_limits)
{
	struct dbg_point p[DBG_HOST_MAX + 1];
	for (int k = 0; k <= DBG_HOST_MAX; k++)
		p[k] = (struct dbg_point){ .addr = TVM_CODE + (uint32_t)k, .len = 1, .kind = DBG_EXEC };
	ck_assert_int_eq(dbg_set_host(&vm, p, DBG_HOST_MAX), 0);
	ck_assert_int_eq(dbg_set_host(&vm, p, DBG_HOST_MAX + 1), -1);
	ck_assert_int_eq(vm.dbg.nhost, DBG_HOST_MAX);
	struct dbg_point w = { .addr = 0xfffffff0u, .len = 0x20, .kind = DBG_WRITE };
	ck_assert_int_eq(dbg_set_host(&vm, &w, 1), -1);
	w = (struct dbg_point){ .addr = TVM_DATA, .len = DBG_HOST_LEN + 1, .kind = DBG_ACCESS };
	ck_assert_int_eq(dbg_set_host(&vm, &w, 1), -1);
	w.len = 0;
	ck_assert_int_eq(dbg_set_host(&vm, &w, 1), -1);
	/* Each range straddles two pages: 12 take 24 pages, 13 too many. */
	for (int k = 0; k < 13; k++)
		p[k] = (struct dbg_point){ .addr = TVM_DATA + 0x1ffeu + 0x2000u * (uint32_t)k,
					   .len = 4, .kind = DBG_WRITE };
	ck_assert_int_eq(dbg_set_host(&vm, p, 12), 0);
	ck_assert_int_eq(dbg_set_host(&vm, p, 13), -1);
	ck_assert_int_eq(vm.dbg.nhost, 12);
	ck_assert_int_eq(vm.dbg.nwatch, 24);
}
END_TEST

/* ---- flags live across blocks ---- */

static const uint8_t flagsjmp[] = {
	/* start: */
	0x31, 0xc0,                              /* 100000  xor eax,eax */
	0xb9, 0x0a, 0x00, 0x00, 0x00,            /* 100002  mov ecx,0xa */
	/* top: */
	0xf9,                                    /* 100007  stc */
	0xeb, 0x00,                              /* 100008  jmp next */
	/* next: */
	0x83, 0xd0, 0x00,                        /* 10000a  adc eax,0x0 */
	0x49,                                    /* 10000d  dec ecx */
	0x75, 0xf7,                              /* 10000e  jne top */
	0x31, 0xd2,                              /* 100010  xor edx,edx */
	0xbb, 0x05, 0x00, 0x00, 0x00,            /* 100012  mov ebx,0x5 */
	0x83, 0xfb, 0x09,                        /* 100017  cmp ebx,0x9 */
	0xe9, 0x00, 0x00, 0x00, 0x00,            /* 10001a  jmp n2 */
	/* n2: */
	0x0f, 0x92, 0xc2,                        /* 10001f  setb dl */
	0x0f, 0x9c, 0xc6,                        /* 100022  setl dh */
	0x0f, 0x95, 0xc1,                        /* 100025  setne cl */
	0xe6, 0xf4,                              /* 100028  out 0xf4,al */
};

/* The jump between "stc" and "adc" ends a block: neither the unchained exit through
 * the monitor (first iteration) nor the chained jump (the rest) may change CF. After
 * the loop, a cmp before a rel32 jmp feeds setb/setl/setnz in the next block. */
START_TEST(flags_survive_direct_jump)
{
	RUN(flagsjmp);
	tvm_assert_exit(&vm, 10);
	ck_assert_uint_eq(REG(R_EAX), 10);
	ck_assert_uint_eq(REG(R_EDX), 0x0101);  /* setb dl = 1, setl dh = 1 */
	ck_assert_uint_eq(REG(R_ECX), 1);       /* setnz cl */
	ck_assert_uint_gt(cc_stats(vm.cc)->chained, 0);
}
END_TEST

static const uint8_t flagsret[] = {
	/* start: */
	0x31, 0xf6,                              /* 100000  xor esi,esi */
	0x31, 0xff,                              /* 100002  xor edi,edi */
	/* again: */
	0x89, 0xf8,                              /* 100004  mov eax,edi */
	0xe8, 0x0d, 0x00, 0x00, 0x00,            /* 100006  call f */
	/* after: */
	0x73, 0x01,                              /* 10000b  jae skip */
	0x46,                                    /* 10000d  inc esi */
	/* skip: */
	0x47,                                    /* 10000e  inc edi */
	0x83, 0xff, 0x0a,                        /* 10000f  cmp edi,0xa */
	0x75, 0xf0,                              /* 100012  jne again */
	0x89, 0xf0,                              /* 100014  mov eax,esi */
	0xe6, 0xf4,                              /* 100016  out 0xf4,al */
	/* f: */
	0x83, 0xf8, 0x05,                        /* 100018  cmp eax,0x5 */
	0xc3,                                    /* 10001b  ret */
};

/* f does "cmp eax, 5; ret" and the caller branches on CF after the return: the ret
 * goes through the inline lookup (a miss the first time, hits afterwards), which must
 * not touch the flags. */
START_TEST(flags_survive_indirect_lookup)
{
	RUN(flagsret);
	tvm_assert_exit(&vm, 5);
	ck_assert_uint_eq(REG(R_ESI), 5);       /* i = 0..4 are below 5 */
	ck_assert_uint_eq(REG(R_EDI), 10);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	/* At most the first return misses the table; the nine others hit inline. */
	ck_assert_uint_le(vm.stats.lookup_misses, 1);
	ck_assert_uint_le(vm.stats.exits[EXIT_LOOKUP], 1);
}
END_TEST

/* ---- conditional branches and loops ---- */

static const uint8_t jcc[] = {
	/* start: */
	0xbd, 0x03, 0x00, 0x00, 0x00,            /* 100000  mov ebp,0x3 */
	/* outer: */
	0x31, 0xdb,                              /* 100005  xor ebx,ebx */
	0xb8, 0x03, 0x00, 0x00, 0x00,            /* 100007  mov eax,0x3 */
	0x83, 0xf8, 0x03,                        /* 10000c  cmp eax,0x3 */
	0x74, 0x02,                              /* 10000f  je t1 */
	0xeb, 0x43,                              /* 100011  jmp fail */
	/* t1: */
	0x83, 0xcb, 0x01,                        /* 100013  or ebx,0x1 */
	0x83, 0xf8, 0x04,                        /* 100016  cmp eax,0x4 */
	0x74, 0x3b,                              /* 100019  je fail */
	0x83, 0xcb, 0x02,                        /* 10001b  or ebx,0x2 */
	0x83, 0xf8, 0xff,                        /* 10001e  cmp eax,0xffffffff */
	0x0f, 0x8c, 0x2f, 0x00, 0x00, 0x00,      /* 100021  jl fail */
	0x0f, 0x82, 0x02, 0x00, 0x00, 0x00,      /* 100027  jb t4 */
	0xeb, 0x27,                              /* 10002d  jmp fail */
	/* t4: */
	0x83, 0xcb, 0x0c,                        /* 10002f  or ebx,0xc */
	0xb9, 0xff, 0xff, 0xff, 0x7f,            /* 100032  mov ecx,0x7fffffff */
	0x83, 0xc1, 0x01,                        /* 100037  add ecx,0x1 */
	0x70, 0x02,                              /* 10003a  jo t5 */
	0xeb, 0x18,                              /* 10003c  jmp fail */
	/* t5: */
	0x83, 0xcb, 0x10,                        /* 10003e  or ebx,0x10 */
	0x85, 0xc9,                              /* 100041  test ecx,ecx */
	0x79, 0x11,                              /* 100043  jns fail */
	0x7a, 0x02,                              /* 100045  jp t6 */
	0xeb, 0x0d,                              /* 100047  jmp fail */
	/* t6: */
	0x83, 0xcb, 0x20,                        /* 100049  or ebx,0x20 */
	0x4d,                                    /* 10004c  dec ebp */
	0x75, 0xb6,                              /* 10004d  jne outer */
	0xb8, 0x55, 0x00, 0x00, 0x00,            /* 10004f  mov eax,0x55 */
	0xe6, 0xf4,                              /* 100054  out 0xf4,al */
	/* fail: */
	0xb8, 0x66, 0x00, 0x00, 0x00,            /* 100056  mov eax,0x66 */
	0xe6, 0xf4,                              /* 10005b  out 0xf4,al */
};

/* rel8 and rel32 jcc, taken and not taken, on ZF, SF, CF, OF, PF and signed/unsigned
 * compares; three passes so the second and third run chained. */
START_TEST(jcc_taken_and_not_taken)
{
	RUN(jcc);
	tvm_assert_exit(&vm, 0x55);
	ck_assert_uint_eq(REG(R_EBX), 0x3f);
	ck_assert_uint_eq(REG(R_EBP), 0);
	ck_assert_uint_gt(cc_stats(vm.cc)->chained, 0);
}
END_TEST

static const uint8_t loops[] = {
	/* start: */
	0x31, 0xc0,                              /* 100000  xor eax,eax */
	0xb9, 0x05, 0x00, 0x00, 0x00,            /* 100002  mov ecx,0x5 */
	/* l1: */
	0x40,                                    /* 100007  inc eax */
	0xe2, 0xfd,                              /* 100008  loop l1 */
	0xa3, 0x00, 0x00, 0x09, 0x00,            /* 10000a  mov ds:0x90000,eax */
	0x31, 0xd2,                              /* 10000f  xor edx,edx */
	0xb9, 0x0a, 0x00, 0x00, 0x00,            /* 100011  mov ecx,0xa */
	/* l2: */
	0x42,                                    /* 100016  inc edx */
	0x83, 0xfa, 0x04,                        /* 100017  cmp edx,0x4 */
	0xe0, 0xfa,                              /* 10001a  loopne l2 */
	0x89, 0x15, 0x04, 0x00, 0x09, 0x00,      /* 10001c  mov dword ds:0x90004,edx */
	0x89, 0x0d, 0x08, 0x00, 0x09, 0x00,      /* 100022  mov dword ds:0x90008,ecx */
	0x31, 0xd2,                              /* 100028  xor edx,edx */
	0xb9, 0x14, 0x00, 0x00, 0x00,            /* 10002a  mov ecx,0x14 */
	/* l3: */
	0x42,                                    /* 10002f  inc edx */
	0x89, 0xd0,                              /* 100030  mov eax,edx */
	0x83, 0xe0, 0xf8,                        /* 100032  and eax,0xfffffff8 */
	0xe1, 0xf8,                              /* 100035  loope l3 */
	0x89, 0x15, 0x0c, 0x00, 0x09, 0x00,      /* 100037  mov dword ds:0x9000c,edx */
	0x89, 0x0d, 0x10, 0x00, 0x09, 0x00,      /* 10003d  mov dword ds:0x90010,ecx */
	0x31, 0xd2,                              /* 100043  xor edx,edx */
	0xb9, 0x03, 0x00, 0x00, 0x00,            /* 100045  mov ecx,0x3 */
	/* l5: */
	0x42,                                    /* 10004a  inc edx */
	0x39, 0xc0,                              /* 10004b  cmp eax,eax */
	0xe1, 0xfb,                              /* 10004d  loope l5 */
	0x89, 0x15, 0x14, 0x00, 0x09, 0x00,      /* 10004f  mov dword ds:0x90014,edx */
	0x89, 0x0d, 0x18, 0x00, 0x09, 0x00,      /* 100055  mov dword ds:0x90018,ecx */
	0x31, 0xdb,                              /* 10005b  xor ebx,ebx */
	0x31, 0xc9,                              /* 10005d  xor ecx,ecx */
	0xe3, 0x02,                              /* 10005f  jecxz z1 */
	0xeb, 0x22,                              /* 100061  jmp fail */
	/* z1: */
	0x83, 0xcb, 0x01,                        /* 100063  or ebx,0x1 */
	0x41,                                    /* 100066  inc ecx */
	0xe3, 0x1c,                              /* 100067  jecxz fail */
	0x83, 0xcb, 0x02,                        /* 100069  or ebx,0x2 */
	0xb9, 0x03, 0x00, 0x00, 0x00,            /* 10006c  mov ecx,0x3 */
	0x31, 0xc0,                              /* 100071  xor eax,eax */
	0xf9,                                    /* 100073  stc */
	/* l4: */
	0xe2, 0xfe,                              /* 100074  loop l4 */
	0x83, 0xd0, 0x00,                        /* 100076  adc eax,0x0 */
	0xa3, 0x1c, 0x00, 0x09, 0x00,            /* 100079  mov ds:0x9001c,eax */
	0xb8, 0x55, 0x00, 0x00, 0x00,            /* 10007e  mov eax,0x55 */
	0xe6, 0xf4,                              /* 100083  out 0xf4,al */
	/* fail: */
	0xb8, 0x66, 0x00, 0x00, 0x00,            /* 100085  mov eax,0x66 */
	0xe6, 0xf4,                              /* 10008a  out 0xf4,al */
};

START_TEST(loop_loope_loopne_jecxz)
{
	RUN(loops);
	tvm_assert_exit(&vm, 0x55);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x00), 5);  /* loop: 5 iterations */
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x04), 4);  /* loopne stops at ZF=1 */
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x08), 6);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x0c), 8);  /* loope stops at ZF=0 */
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x10), 12);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x14), 3);  /* loope stops at ECX=0 */
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x18), 0);
	ck_assert_uint_eq(REG(R_EBX), 3);                      /* jecxz taken, then not */
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x1c), 1);  /* CF survives the loop */
}
END_TEST

#define HOT_TOP 0x100007u
static const uint8_t hot[] = {
	/* start: */
	0x31, 0xc0,                              /* 100000  xor eax,eax */
	0xb9, 0x40, 0x42, 0x0f, 0x00,            /* 100002  mov ecx,0xf4240 */
	/* top: */
	0x83, 0xc0, 0x03,                        /* 100007  add eax,0x3 */
	0xe2, 0xfb,                              /* 10000a  loop top */
	0xe6, 0xf4,                              /* 10000c  out 0xf4,al */
};

/* A million iterations of a one-block loop: once its taken slot is chained to itself,
 * the loop never leaves the code cache. */
START_TEST(hot_loop_is_chained)
{
	RUN(hot);
	tvm_assert_exit(&vm, (3000000u & 0xff));
	ck_assert_uint_eq(REG(R_EAX), 3000000);
	ck_assert_uint_eq(REG(R_ECX), 0);
	ck_assert_uint_gt(cc_stats(vm.cc)->chained, 0);
	ck_assert_uint_lt(tvm_exits(&vm), 100);
	ck_assert_uint_le(cc_stats(vm.cc)->blocks, 4);
	const struct block *b = cc_lookup(vm.cc, HOT_TOP, 0, CS_LIMIT, rw_mode(&vm.cpu));
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->nexits, 2);
	ck_assert_ptr_eq(b->exit[0].to, b);     /* taken slot: back to itself */
}
END_TEST

/* ---- call and ret ---- */

#define CALLRET_RET_HERE 0x100005u
static const uint8_t callret[] = {
	/* start: */
	0xe8, 0x04, 0x00, 0x00, 0x00,            /* 100000  call f */
	/* ret_here: */
	0x89, 0xe7,                              /* 100005  mov edi,esp */
	0xe6, 0xf4,                              /* 100007  out 0xf4,al */
	/* f: */
	0x8b, 0x04, 0x24,                        /* 100009  mov eax,dword [esp] */
	0x89, 0xe3,                              /* 10000c  mov ebx,esp */
	0xb9, 0x34, 0x12, 0x00, 0x00,            /* 10000e  mov ecx,0x1234 */
	0xc3,                                    /* 100013  ret */
};

/* call rel32 pushes the guest's return address, not a host one. */
START_TEST(call_pushes_guest_address)
{
	tvm_wr32(&vm, TVM_STACK - 4, 0);
	RUN(callret);
	tvm_assert_exit(&vm, CALLRET_RET_HERE & 0xff);
	ck_assert_uint_eq(REG(R_EAX), CALLRET_RET_HERE);       /* [esp] inside f */
	ck_assert_uint_eq(REG(R_EBX), TVM_STACK - 4);
	ck_assert_uint_eq(REG(R_ECX), 0x1234);
	ck_assert_uint_eq(REG(R_EDI), TVM_STACK);               /* ret popped it */
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 4), CALLRET_RET_HERE);
}
END_TEST

static const uint8_t fact[] = {
	/* start: */
	0xb8, 0x0a, 0x00, 0x00, 0x00,            /* 100000  mov eax,0xa */
	0xe8, 0x02, 0x00, 0x00, 0x00,            /* 100005  call fact */
	0xe6, 0xf4,                              /* 10000a  out 0xf4,al */
	/* fact: */
	0x83, 0xf8, 0x01,                        /* 10000c  cmp eax,0x1 */
	0x76, 0x0b,                              /* 10000f  jbe base */
	0x50,                                    /* 100011  push eax */
	0x48,                                    /* 100012  dec eax */
	0xe8, 0xf4, 0xff, 0xff, 0xff,            /* 100013  call fact */
	0x59,                                    /* 100018  pop ecx */
	0x0f, 0xaf, 0xc1,                        /* 100019  imul eax,ecx */
	/* base: */
	0xc3,                                    /* 10001c  ret */
};

/* A ret site remembers its first two targets (the inline cache): 1000 calls from one
 * site run without leaving the cache after the first, through a chained slot; the
 * second call site's return fills the second entry; a third target (a pushed address)
 * takes the lookup table. */
#define IC_F 0x10001fu
#define IC_R1 0x10000cu
#define IC_R2 0x100014u
static const uint8_t retic[] = {
	/* start: */
	0x31, 0xdb,                              /* 100000  xor ebx,ebx */
	0xb9, 0xe8, 0x03, 0x00, 0x00,            /* 100002  mov ecx,1000 */
	/* loop: */
	0xe8, 0x13, 0x00, 0x00, 0x00,            /* 100007  call f */
	/* r1: */
	0x49,                                    /* 10000c  dec ecx */
	0x75, 0xf8,                              /* 10000d  jnz loop */
	0xe8, 0x0b, 0x00, 0x00, 0x00,            /* 10000f  call f */
	0x68, 0x1b, 0x00, 0x10, 0x00,            /* 100014  push back */
	0xeb, 0x04,                              /* 100019  jmp f */
	/* back: */
	0x89, 0xd8,                              /* 10001b  mov eax,ebx */
	0xe6, 0xf4,                              /* 10001d  out 0xf4,al */
	/* f: */
	0x43,                                    /* 10001f  inc ebx */
	0xc3,                                    /* 100020  ret */
};

START_TEST(ret_inline_cache)
{
	RUN(retic);
	tvm_assert_exit(&vm, 1002 & 0xff);
	ck_assert_uint_eq(REG(R_EBX), 1002);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	ck_assert_uint_eq(vm.stats.exits[EXIT_IC_FILL], 2);
	ck_assert_uint_lt(tvm_exits(&vm), 20);
	struct block *f = cc_lookup(vm.cc, IC_F, 0, CS_LIMIT, rw_mode(&vm.cpu));
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->nexits, 2);
	ck_assert_uint_ne(f->exit[0].ic_imm, 0);
	ck_assert_uint_eq(f->exit[0].target, IC_R1);
	ck_assert_ptr_nonnull(f->exit[0].to);
	ck_assert(f->exit[1].ic_second);
	ck_assert_uint_eq(f->exit[1].target, IC_R2);
	ck_assert_ptr_nonnull(f->exit[1].to);
	uint32_t imm, imm2;
	memcpy(&imm, (void *)(uintptr_t)f->exit[0].ic_imm, 4);
	ck_assert_uint_eq(imm, -IC_R1);
	memcpy(&imm2, (void *)(uintptr_t)f->exit[1].ic_imm, 4);
	ck_assert_uint_eq(imm2, IC_R1 - IC_R2);        /* target - R1 + imm2 = 0 at R2 */
}
END_TEST

START_TEST(recursive_calls)
{
	RUN(fact);
	tvm_assert_exit(&vm, 3628800u & 0xff);
	ck_assert_uint_eq(REG(R_EAX), 3628800);                 /* 10! */
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
}
END_TEST

#define CALLREG_FA 0x100024u
#define CALLREG_R1 0x10000cu
#define CALLREG_FC 0x100032u
#define CALLREG_R2 0x100013u
#define CALLREG_FSI 0x100042u
#define CALLREG_R3 0x10001au
static const uint8_t callreg[] = {
	/* start: */
	0xbd, 0x03, 0x00, 0x00, 0x00,            /* 100000  mov ebp,0x3 */
	/* top: */
	0xb8, 0x24, 0x00, 0x10, 0x00,            /* 100005  mov eax,0x100024 */
	0xff, 0xd0,                              /* 10000a  call eax */
	/* r1: */
	0xb9, 0x32, 0x00, 0x10, 0x00,            /* 10000c  mov ecx,0x100032 */
	0xff, 0xd1,                              /* 100011  call ecx */
	/* r2: */
	0xbe, 0x42, 0x00, 0x10, 0x00,            /* 100013  mov esi,0x100042 */
	0xff, 0xd6,                              /* 100018  call esi */
	/* r3: */
	0x4d,                                    /* 10001a  dec ebp */
	0x75, 0xe8,                              /* 10001b  jne top */
	0xb8, 0x55, 0x00, 0x00, 0x00,            /* 10001d  mov eax,0x55 */
	0xe6, 0xf4,                              /* 100022  out 0xf4,al */
	/* fa: */
	0xa3, 0x00, 0x00, 0x09, 0x00,            /* 100024  mov ds:0x90000,eax */
	0x8b, 0x04, 0x24,                        /* 100029  mov eax,dword [esp] */
	0xa3, 0x04, 0x00, 0x09, 0x00,            /* 10002c  mov ds:0x90004,eax */
	0xc3,                                    /* 100031  ret */
	/* fc: */
	0x89, 0x0d, 0x08, 0x00, 0x09, 0x00,      /* 100032  mov dword ds:0x90008,ecx */
	0x8b, 0x0c, 0x24,                        /* 100038  mov ecx,dword [esp] */
	0x89, 0x0d, 0x0c, 0x00, 0x09, 0x00,      /* 10003b  mov dword ds:0x9000c,ecx */
	0xc3,                                    /* 100041  ret */
	/* fsi: */
	0x89, 0x35, 0x10, 0x00, 0x09, 0x00,      /* 100042  mov dword ds:0x90010,esi */
	0x8b, 0x04, 0x24,                        /* 100048  mov eax,dword [esp] */
	0xa3, 0x14, 0x00, 0x09, 0x00,            /* 10004b  mov ds:0x90014,eax */
	0xc3,                                    /* 100050  ret */
};

/* call eax / call ecx / call esi: the callee sees its own address in the register
 * (EAX and ECX are the scratch registers of the lookup stub and must be restored) and
 * the guest return address on the stack. Three passes: the later ones hit the
 * lookup table. */
START_TEST(call_indirect_register)
{
	RUN(callreg);
	tvm_assert_exit(&vm, 0x55);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x00), CALLREG_FA);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x04), CALLREG_R1);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x08), CALLREG_FC);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x0c), CALLREG_R2);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x10), CALLREG_FSI);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_DATA + 0x14), CALLREG_R3);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	ck_assert_uint_eq(REG(R_EBP), 0);
	/* Three call targets and three return sites miss at most once each, in the
	 * first pass. */
	ck_assert_uint_le(vm.stats.lookup_misses, 6);
}
END_TEST

#define CALLMEM_F1 0x100029u
#define CALLMEM_F2 0x100032u
#define CALLMEM_R1 0x10000eu
#define CALLMEM_R2 0x100019u
#define CALLMEM_R3 0x100027u
static const uint8_t callmem[] = {
	/* start: */
	0x68, 0x32, 0x00, 0x10, 0x00,            /* 100000  push 0x100032 */
	0x68, 0x29, 0x00, 0x10, 0x00,            /* 100005  push 0x100029 */
	0xff, 0x54, 0x24, 0x04,                  /* 10000a  call dword [esp+0x4] */
	/* r1: */
	0x83, 0xc4, 0x08,                        /* 10000e  add esp,0x8 */
	0x89, 0xc3,                              /* 100011  mov ebx,eax */
	0xff, 0x15, 0x00, 0x00, 0x09, 0x00,      /* 100013  call dword ds:0x90000 */
	/* r2: */
	0x89, 0xc6,                              /* 100019  mov esi,eax */
	0xb8, 0x04, 0x00, 0x09, 0x00,            /* 10001b  mov eax,0x90004 */
	0xff, 0x94, 0x00, 0xfc, 0xff, 0xf6, 0xff, /* 100020  call dword [eax+eax*1-0x90004] */
	/* r3: */
	0xe6, 0xf4,                              /* 100027  out 0xf4,al */
	/* f1: */
	0xb8, 0x01, 0x00, 0x00, 0x00,            /* 100029  mov eax,0x1 */
	0x8b, 0x14, 0x24,                        /* 10002e  mov edx,dword [esp] */
	0xc3,                                    /* 100031  ret */
	/* f2: */
	0xb8, 0x02, 0x00, 0x00, 0x00,            /* 100032  mov eax,0x2 */
	0x8b, 0x0c, 0x24,                        /* 100037  mov ecx,dword [esp] */
	0xc3,                                    /* 10003a  ret */
};

/* call [esp+4] reads its target before pushing (after the two pushes, [esp+4] is f2;
 * read after the call's own push it would be f1), call [abs32], and call through an
 * address computed from EAX, the register the translation loads the target into. */
START_TEST(call_indirect_memory)
{
	tvm_wr32(&vm, TVM_DATA, CALLMEM_F1);
	tvm_wr32(&vm, TVM_DATA + 4, CALLMEM_F2);
	RUN(callmem);
	tvm_assert_exit(&vm, 2);
	ck_assert_uint_eq(REG(R_EBX), 2);                       /* call [esp+4] -> f2 */
	ck_assert_uint_eq(REG(R_ESI), 1);                       /* call [0x90000] -> f1 */
	ck_assert_uint_eq(REG(R_EAX), 2);                       /* call [eax+eax-k] -> f2 */
	ck_assert_uint_eq(REG(R_EDX), CALLMEM_R2);
	ck_assert_uint_eq(REG(R_ECX), CALLMEM_R3);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 12), CALLMEM_R1);  /* first call's push */
}
END_TEST

#define JMPTAB_C0 0x100010u
#define JMPTAB_C1 0x100015u
#define JMPTAB_C2 0x10001au
#define JMPTAB_C3 0x10001fu
static const uint8_t jmptab[] = {
	/* start: */
	0x31, 0xdb,                              /* 100000  xor ebx,ebx */
	0x31, 0xf6,                              /* 100002  xor esi,esi */
	/* next: */
	0x89, 0xf0,                              /* 100004  mov eax,esi */
	0x83, 0xe0, 0x03,                        /* 100006  and eax,0x3 */
	0xff, 0x24, 0x85, 0x00, 0x00, 0x09, 0x00, /* 100009  jmp dword [eax*4+0x90000] */
	/* c0: */
	0x83, 0xc3, 0x01,                        /* 100010  add ebx,0x1 */
	0xeb, 0x10,                              /* 100013  jmp join */
	/* c1: */
	0x83, 0xc3, 0x0a,                        /* 100015  add ebx,0xa */
	0xeb, 0x0b,                              /* 100018  jmp join */
	/* c2: */
	0x83, 0xc3, 0x64,                        /* 10001a  add ebx,0x64 */
	0xeb, 0x06,                              /* 10001d  jmp join */
	/* c3: */
	0x81, 0xc3, 0xe8, 0x03, 0x00, 0x00,      /* 10001f  add ebx,0x3e8 */
	/* join: */
	0x46,                                    /* 100025  inc esi */
	0x83, 0xfe, 0x08,                        /* 100026  cmp esi,0x8 */
	0x75, 0xd9,                              /* 100029  jne next */
	0xb8, 0x37, 0x00, 0x10, 0x00,            /* 10002b  mov eax,0x100037 */
	0xff, 0xe0,                              /* 100030  jmp eax */
	0xbb, 0x00, 0x00, 0x00, 0x00,            /* 100032  mov ebx,0x0 */
	/* done: */
	0xb8, 0x55, 0x00, 0x00, 0x00,            /* 100037  mov eax,0x55 */
	0xe6, 0xf4,                              /* 10003c  out 0xf4,al */
};

/* jmp [0x90000 + eax*4] over a four-entry table, twice round, then jmp eax. */
START_TEST(jmp_through_table)
{
	tvm_wr32(&vm, TVM_DATA + 0, JMPTAB_C0);
	tvm_wr32(&vm, TVM_DATA + 4, JMPTAB_C1);
	tvm_wr32(&vm, TVM_DATA + 8, JMPTAB_C2);
	tvm_wr32(&vm, TVM_DATA + 12, JMPTAB_C3);
	RUN(jmptab);
	tvm_assert_exit(&vm, 0x55);
	ck_assert_uint_eq(REG(R_EBX), 2222);
	ck_assert_uint_eq(REG(R_ESI), 8);
	/* c0..c3 and done miss at most once; the second round hits. */
	ck_assert_uint_le(vm.stats.lookup_misses, 5);
}
END_TEST

#define RETIMM_R1 0x10000bu
#define RETIMM_R2 0x100018u
static const uint8_t retimm[] = {
	/* start: */
	0x6a, 0x01,                              /* 100000  push 0x1 */
	0x6a, 0x02,                              /* 100002  push 0x2 */
	0x6a, 0x03,                              /* 100004  push 0x3 */
	0xe8, 0x11, 0x00, 0x00, 0x00,            /* 100006  call f */
	/* r1: */
	0x89, 0xe3,                              /* 10000b  mov ebx,esp */
	0x81, 0xec, 0x80, 0x01, 0x00, 0x00,      /* 10000d  sub esp,0x180 */
	0xe8, 0x1a, 0x00, 0x00, 0x00,            /* 100013  call g */
	/* r2: */
	0x89, 0xe2,                              /* 100018  mov edx,esp */
	0xe6, 0xf4,                              /* 10001a  out 0xf4,al */
	/* f: */
	0x8b, 0x44, 0x24, 0x04,                  /* 10001c  mov eax,dword [esp+0x4] */
	0x03, 0x44, 0x24, 0x08,                  /* 100020  add eax,dword [esp+0x8] */
	0x03, 0x44, 0x24, 0x0c,                  /* 100024  add eax,dword [esp+0xc] */
	0xc1, 0xe0, 0x04,                        /* 100028  shl eax,0x4 */
	0x03, 0x44, 0x24, 0x04,                  /* 10002b  add eax,dword [esp+0x4] */
	0xc2, 0x0c, 0x00,                        /* 10002f  ret 0xc */
	/* g: */
	0xc2, 0x80, 0x01,                        /* 100032  ret 0x180 */
};

/* ret 12 releases the three arguments; ret 0x180 (an imm16 above 127) as well. */
START_TEST(ret_imm16)
{
	RUN(retimm);
	tvm_assert_exit(&vm, 0x63);
	ck_assert_uint_eq(REG(R_EAX), 6 * 16 + 3);
	ck_assert_uint_eq(REG(R_EBX), TVM_STACK);
	ck_assert_uint_eq(REG(R_EDX), TVM_STACK);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
}
END_TEST

/* ---- segments ---- */

static const uint8_t sreg[] = {
	/* start: */
	0xb8, 0xff, 0xff, 0xff, 0xff,            /* 100000  mov eax,0xffffffff */
	0x8c, 0xd8,                              /* 100005  mov eax,ds */
	0xbb, 0xff, 0xff, 0xff, 0xff,            /* 100007  mov ebx,0xffffffff */
	0x66, 0x8c, 0xc3,                        /* 10000c  mov bx,es */
	0x8c, 0xc9,                              /* 10000f  mov ecx,cs */
	0x8c, 0xd2,                              /* 100011  mov edx,ss */
	0x8c, 0xe6,                              /* 100013  mov esi,fs */
	0x8c, 0xef,                              /* 100015  mov edi,gs */
	0xe6, 0xf4,                              /* 100017  out 0xf4,al */
};

/* mov r32, sreg reads the guest's selectors inline (no callout): six distinct
 * selectors, and the 16-bit form keeps the register's upper half. */
START_TEST(mov_from_segment_register)
{
	seg_set(&vm, SR_ES, 0x18, 0, 0xffffffff, TVM_ATTR_DATA);
	seg_set(&vm, SR_SS, 0x20, 0, 0xffffffff, TVM_ATTR_DATA);
	seg_set(&vm, SR_FS, 0x28, 0, 0xffffffff, TVM_ATTR_DATA);
	seg_set(&vm, SR_GS, 0x30, 0, 0xffffffff, TVM_ATTR_DATA);
	RUN(sreg);
	tvm_assert_exit(&vm, 0x10);
	ck_assert_uint_eq(REG(R_EAX), 0x10);
	ck_assert_uint_eq(REG(R_EBX), 0xffff0018);
	ck_assert_uint_eq(REG(R_ECX), 0x08);
	ck_assert_uint_eq(REG(R_EDX), 0x20);
	ck_assert_uint_eq(REG(R_ESI), 0x28);
	ck_assert_uint_eq(REG(R_EDI), 0x30);
	ck_assert_uint_eq(tvm_exits(&vm), 1);   /* only the OUT left the code cache */
	ck_assert_uint_eq(vm.stats.exits[EXIT_CALLOUT], 1);
}
END_TEST

static const uint8_t gsload[] = {
	/* start: */
	0x65, 0xa1, 0x10, 0x00, 0x00, 0x00,      /* 100000  mov eax,gs:0x10 */
	0x8b, 0x1d, 0x10, 0x00, 0x00, 0x00,      /* 100006  mov ebx,dword ds:0x10 */
	0x64, 0x8b, 0x0d, 0x10, 0x00, 0x00, 0x00, /* 10000c  mov ecx,dword fs:0x10 */
	0xba, 0x0d, 0xf0, 0xfe, 0xca,            /* 100013  mov edx,0xcafef00d */
	0x65, 0x89, 0x15, 0x20, 0x00, 0x00, 0x00, /* 100018  mov dword gs:0x20,edx */
	0xbe, 0x04, 0x00, 0x00, 0x00,            /* 10001f  mov esi,0x4 */
	0x65, 0x8b, 0x3c, 0xb5, 0x10, 0x00, 0x00, 0x00, /* 100024  mov edi,dword gs:[esi*4+0x10] */
	0x8b, 0x2d, 0x20, 0x00, 0x00, 0x00,      /* 10002c  mov ebp,dword ds:0x20 */
	0xe6, 0xf4,                              /* 100032  out 0xf4,al */
};

/* gs: through a GS with base 0x2000 reads and writes guest linear 0x2000 + offset; FS
 * (base 0x3000) is the guest's again right after, and DS (base 0) is untouched. */
START_TEST(gs_prefix_nonzero_base)
{
	seg_set(&vm, SR_GS, 0x30, 0x2000, 0xffff, 0x4093);
	seg_set(&vm, SR_FS, 0x28, 0x3000, 0xffff, 0x4093);
	tvm_wr32(&vm, 0x10, 0x11111111);
	tvm_wr32(&vm, 0x20, 0x22222222);
	tvm_wr32(&vm, 0x2010, 0xdeadbeef);
	tvm_wr32(&vm, 0x3010, 0x33333333);
	RUN(gsload);
	tvm_assert_exit(&vm, 0xef);
	ck_assert_uint_eq(REG(R_EAX), 0xdeadbeef);              /* gs:[0x10] */
	ck_assert_uint_eq(REG(R_EBX), 0x11111111);              /* [0x10] */
	ck_assert_uint_eq(REG(R_ECX), 0x33333333);              /* fs:[0x10] */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x2020), 0xcafef00d);   /* mov gs:[0x20], edx */
	ck_assert_uint_eq(REG(R_EDI), 0xcafef00d);              /* gs:[esi*4+0x10] */
	ck_assert_uint_eq(REG(R_EBP), 0x22222222);              /* [0x20] unchanged */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x20), 0x22222222);
}
END_TEST

static const uint8_t csflat[] = {
	/* start: */
	0x2e, 0xa1, 0x00, 0x00, 0x09, 0x00,      /* 100000  mov eax,cs:0x90000 */
	0xbb, 0x00, 0x00, 0x09, 0x00,            /* 100006  mov ebx,0x90000 */
	0x2e, 0x8b, 0x4b, 0x04,                  /* 10000b  mov ecx,dword cs:[ebx+0x4] */
	0xe6, 0xf4,                              /* 10000f  out 0xf4,al */
};

/* cs: through the flat CS reads data (absolute and register-based addressing). */
START_TEST(cs_prefix_flat)
{
	tvm_wr32(&vm, TVM_DATA, 0x600dc0de);
	tvm_wr32(&vm, TVM_DATA + 4, 0x0badf00d);
	RUN(csflat);
	tvm_assert_exit(&vm, 0xde);
	ck_assert_uint_eq(REG(R_EAX), 0x600dc0de);
	ck_assert_uint_eq(REG(R_ECX), 0x0badf00d);
}
END_TEST

#define CSBASE_R 0x17u
#define CSBASE_F 0x21u
static const uint8_t csbase[] = {
	/* start: */
	0x2e, 0xa1, 0x00, 0x02, 0x00, 0x00,      /* 0  mov eax,cs:0x200 */
	0x8b, 0x1d, 0x00, 0x02, 0x00, 0x00,      /* 6  mov ebx,dword ds:0x200 */
	0x8b, 0x0d, 0x00, 0x02, 0x00, 0x00,      /* c  mov ecx,dword ds:0x200 */
	0xe8, 0x0a, 0x00, 0x00, 0x00,            /* 12  call f */
	/* r: */
	0x2e, 0x8b, 0x34, 0x7d, 0x00, 0x01, 0x00, 0x00, /* 17  mov esi,dword cs:[edi*2+0x100] */
	0xe6, 0xf4,                              /* 1f  out 0xf4,al */
	/* f: */
	0x8b, 0x14, 0x24,                        /* 21  mov edx,dword [esp] */
	0xbf, 0x80, 0x00, 0x00, 0x00,            /* 24  mov edi,0x80 */
	0xc3,                                    /* 29  ret */
};

/* CS base 0x100000, EIP 0: cs:[0x200] is linear 0x100200, [0x200] and ds:[0x200] are
 * linear 0x200, and call pushes the offset of the return point, not its linear
 * address. */
START_TEST(cs_prefix_nonzero_base)
{
	seg_set(&vm, SR_CS, 0x08, TVM_CODE, 0xfffff, 0x409b);
	tvm_load(&vm, TVM_CODE, csbase, sizeof(csbase));
	tvm_wr32(&vm, TVM_CODE + 0x200, 0x600dc0de);
	tvm_wr32(&vm, 0x200, 0xbadbad00);
	tvm_run(&vm, 0);
	tvm_assert_exit(&vm, 0xde);
	ck_assert_uint_eq(REG(R_EAX), 0x600dc0de);
	ck_assert_uint_eq(REG(R_EBX), 0xbadbad00);
	ck_assert_uint_eq(REG(R_ECX), 0xbadbad00);
	ck_assert_uint_eq(REG(R_EDX), CSBASE_R);
	ck_assert_uint_eq(REG(R_ESI), 0x600dc0de);
	ck_assert_uint_eq(vm.cpu.sh->eip, CSBASE_F);            /* after the OUT */
	ck_assert_ptr_nonnull(cc_lookup(vm.cc, 0, TVM_CODE, CS_LIMIT, rw_mode(&vm.cpu)));
	ck_assert_ptr_null(cc_lookup(vm.cc, 0, 0, CS_LIMIT, rw_mode(&vm.cpu)));
}
END_TEST

/* ---- self-modifying code ---- */

#define SMC1_PATCH 0x10000cu
static const uint8_t smc1[] = {
	/* start: */
	0xb8, 0x00, 0x00, 0x00, 0x00,            /* 100000  mov eax,0x0 */
	0xc6, 0x05, 0x0d, 0x00, 0x10, 0x00, 0x2a, /* 100005  mov byte ds:0x10000d,0x2a */
	/* patch: */
	0xb8, 0x01, 0x00, 0x00, 0x00,            /* 10000c  mov eax,0x1 */
	0xe6, 0xf4,                              /* 100011  out 0xf4,al */
};

/* A store into the immediate of the very next instruction, in the same block. */
START_TEST(smc_next_instruction)
{
	RUN(smc1);
	tvm_assert_exit(&vm, 42);
	ck_assert_uint_eq(REG(R_EAX), 42);
	ck_assert_uint_eq(vm.mem.ram[SMC1_PATCH + 1], 42);
	ck_assert_uint_ge(vm.stats.smc_invalidations, 1);
	ck_assert_uint_ge(vm.stats.exits[EXIT_FAULT], 1);
}
END_TEST

static const uint8_t smc2[] = {
	/* start: */
	0xb9, 0x03, 0x00, 0x00, 0x00,            /* 100000  mov ecx,0x3 */
	0x31, 0xdb,                              /* 100005  xor ebx,ebx */
	/* p2: */
	0x83, 0xc3, 0x01,                        /* 100007  add ebx,0x1 */
	0xc6, 0x05, 0x09, 0x00, 0x10, 0x00, 0x0a, /* 10000a  mov byte ds:0x100009,0xa */
	0x49,                                    /* 100011  dec ecx */
	0x75, 0xf3,                              /* 100012  jne p2 */
	0x89, 0xd8,                              /* 100014  mov eax,ebx */
	0xe6, 0xf4,                              /* 100016  out 0xf4,al */
};

/* A loop whose body patches its own first instruction ("add ebx, 1" becomes
 * "add ebx, 10"): 1 + 10 + 10. */
START_TEST(smc_own_block_in_loop)
{
	RUN(smc2);
	tvm_assert_exit(&vm, 21);
	ck_assert_uint_eq(REG(R_EBX), 21);
	ck_assert_uint_ge(vm.stats.smc_invalidations, 1);
}
END_TEST

/* ---- exceptions ---- */

#define GDT_PA 0x1000u
#define IDT_PA 0x3000u

#define DE_DIVI 0x10000cu
#define DE_HANDLER 0x100012u
static const uint8_t de[] = {
	/* start: */
	0x31, 0xff,                              /* 100000  xor edi,edi */
	0x65, 0xa1, 0x00, 0x01, 0x09, 0x00,      /* 100002  mov eax,gs:0x90100 */
	0x31, 0xd2,                              /* 100008  xor edx,edx */
	0x31, 0xc9,                              /* 10000a  xor ecx,ecx */
	/* divi: */
	0xf7, 0xf1,                              /* 10000c  div ecx */
	0x89, 0xc6,                              /* 10000e  mov esi,eax */
	0xe6, 0xf4,                              /* 100010  out 0xf4,al */
	/* handler: */
	0x47,                                    /* 100012  inc edi */
	0x8b, 0x1c, 0x24,                        /* 100013  mov ebx,dword [esp] */
	0x8b, 0x6c, 0x24, 0x04,                  /* 100016  mov ebp,dword [esp+0x4] */
	0x8b, 0x54, 0x24, 0x08,                  /* 10001a  mov edx,dword [esp+0x8] */
	0x89, 0x15, 0x00, 0x00, 0x09, 0x00,      /* 10001e  mov dword ds:0x90000,edx */
	0x31, 0xd2,                              /* 100024  xor edx,edx */
	0xb9, 0x05, 0x00, 0x00, 0x00,            /* 100026  mov ecx,0x5 */
	0xcf,                                    /* 10002b  iret */
};

/* div by zero faults in the host; the guest's #DE handler (through an interrupt gate
 * of an IDT in guest memory) sees the div's own EIP, CS 0x08 and EFLAGS, sets ECX = 5
 * and irets: the div runs again and succeeds. */
START_TEST(divide_error_through_idt)
{
	tvm_setup_tables(&vm, GDT_PA, IDT_PA);
	tvm_set_gate(&vm, IDT_PA, VEC_DE, DE_HANDLER);
	tvm_wr32(&vm, TVM_DATA + 0x100, 100);
	RUN(de);
	tvm_assert_exit(&vm, 20);
	ck_assert_uint_eq(REG(R_EDI), 1);               /* the handler ran once */
	ck_assert_uint_eq(REG(R_EBX), DE_DIVI);         /* pushed EIP: the div */
	ck_assert_uint_eq(REG(R_EBP), TVM_SEL_CODE);    /* pushed CS */
	ck_assert_uint_ne(tvm_rd32(&vm, TVM_DATA) & FL_1, 0);  /* pushed EFLAGS */
	ck_assert_uint_eq(REG(R_ESI), 20);              /* 100 / 5 */
	ck_assert_uint_eq(REG(R_EDX), 0);
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK);
	ck_assert_uint_eq(vm.stats.exceptions[VEC_DE], 1);
	ck_assert_uint_eq(vm.stats.faults[0], 1);
}
END_TEST

#define GP_GP1 0x10000au
#define GP_HANDLER 0x100017u
static const uint8_t gp[] = {
	/* start: */
	0xb8, 0x11, 0x11, 0x11, 0x11,            /* 100000  mov eax,0x11111111 */
	0xb9, 0x22, 0x22, 0x22, 0x22,            /* 100005  mov ecx,0x22222222 */
	/* gp1: */
	0xff, 0x15, 0x00, 0x00, 0x20, 0x00,      /* 10000a  call dword ds:0x200000 */
	0xb8, 0x66, 0x00, 0x00, 0x00,            /* 100010  mov eax,0x66 */
	0xe6, 0xf4,                              /* 100015  out 0xf4,al */
	/* handler: */
	0xa3, 0x00, 0x90, 0x00, 0x00,            /* 100017  mov ds:0x9000,eax */
	0x89, 0x0d, 0x04, 0x90, 0x00, 0x00,      /* 10001c  mov dword ds:0x9004,ecx */
	0x8b, 0x04, 0x24,                        /* 100022  mov eax,dword [esp] */
	0xa3, 0x08, 0x90, 0x00, 0x00,            /* 100025  mov ds:0x9008,eax */
	0x8b, 0x44, 0x24, 0x04,                  /* 10002a  mov eax,dword [esp+0x4] */
	0xa3, 0x0c, 0x90, 0x00, 0x00,            /* 10002e  mov ds:0x900c,eax */
	0xb8, 0x55, 0x00, 0x00, 0x00,            /* 100033  mov eax,0x55 */
	0xe6, 0xf4,                              /* 100038  out 0xf4,al */
};

/* call [0x200000] past a 64 KiB DS limit: #GP(0) at the call, with EAX and ECX as
 * they were before it (the translation had moved them to the scratch slots). */
START_TEST(gp_in_indirect_call_restores_scratch)
{
	tvm_setup_tables(&vm, GDT_PA, IDT_PA);
	tvm_set_gate(&vm, IDT_PA, VEC_GP, GP_HANDLER);
	seg_set(&vm, SR_DS, TVM_SEL_DATA, 0, 0xffff, 0x4093);
	RUN(gp);
	tvm_assert_exit(&vm, 0x55);
	ck_assert_uint_eq(tvm_rd32(&vm, 0x9000), 0x11111111);  /* EAX */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x9004), 0x22222222);  /* ECX */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x9008), 0);           /* error code */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x900c), GP_GP1);      /* EIP of the call */
	ck_assert_uint_eq(REG(R_ESP), TVM_STACK - 16);         /* err, EIP, CS, EFLAGS */
	ck_assert_uint_eq(vm.stats.exceptions[VEC_GP], 1);
}
END_TEST


/* ---- regressions: bugs this suite found in trapeze, fixed since ---- */

/* Regression (was a bug in rewriter.c emit_ret / emit_ret_prologue, host call/ret with prologues):
 * after "ret imm16" the entry's return prologue writes the guest return address at
 * [ESP - 4] instead of [ESP - 4 - imm16], over the caller's last pushed argument,
 * and the real return slot keeps the host code-cache address. A native CPU leaves
 * the arguments and the guest return address where they were. */
START_TEST(ret_imm16_leaves_stack_as_native)
{
	RUN(retimm);
	tvm_assert_exit(&vm, 0x63);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 4), 1);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 8), 2);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 12), 3);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 16), RETIMM_R1);
	ck_assert_uint_eq(tvm_rd32(&vm, TVM_STACK - 0x184), RETIMM_R2);
}
END_TEST

#define RETCODE_START 0x100100u
#define RETCODE_G 0x100110u
static const uint8_t retcode[] = {
	/* start: */
	0x31, 0xff,                              /* 100100  xor edi,edi */
	0x83, 0xec, 0x20,                        /* 100102  sub esp,0x20 */
	0xe8, 0x06, 0x00, 0x00, 0x00,            /* 100105  call g */
	/* r: */
	0x89, 0xe3,                              /* 10010a  mov ebx,esp */
	0x89, 0xf8,                              /* 10010c  mov eax,edi */
	0xe6, 0xf4,                              /* 10010e  out 0xf4,al */
	/* g: */
	0x47,                                    /* 100110  inc edi */
	0xc2, 0x20, 0x00,                        /* 100111  ret 0x20 */
};

/* Regression (was a bug in same place): with ESP = 0x100010 the frame of "ret 0x20" lies on page
 * 0xff and the new ESP - 4 on page 0x100, which holds this code. The prologue's
 * stray write faults as a write to translated code; the fault maps to the call (the
 * prologue sits in the call's host range) and the one-shot block runs the call again:
 * g runs twice, ESP ends 0x20 too high and [0x10000c] is written. Natively g runs
 * once, ESP = 0x100010 and nothing at or above 0x100000 is written. */
START_TEST(ret_imm16_frame_next_to_code_page)
{
	vm.cpu.sh->regs[R_ESP] = 0x100010;
	tvm_load(&vm, RETCODE_START, retcode, sizeof(retcode));
	tvm_run(&vm, RETCODE_START);
	tvm_assert_exit(&vm, 1);
	ck_assert_uint_eq(REG(R_EDI), 1);                       /* g ran once */
	ck_assert_uint_eq(REG(R_EBX), 0x100010);                /* ESP after the ret */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x10000c), 0);
}
END_TEST

#define RETSTART_START 0x100100u
static const uint8_t retstart[] = {
	/* start: */
	0x31, 0xff,                              /* 100100  xor edi,edi */
	0xb9, 0x02, 0x00, 0x00, 0x00,            /* 100102  mov ecx,0x2 */
	/* again: */
	0x83, 0xec, 0x20,                        /* 100107  sub esp,0x20 */
	0x68, 0x11, 0x01, 0x10, 0x00,            /* 10010a  push 0x100111 */
	0xeb, 0x08,                              /* 10010f  jmp g */
	/* r: */
	0xe2, 0xf4,                              /* 100111  loop again */
	0x89, 0xe3,                              /* 100113  mov ebx,esp */
	0x89, 0xf8,                              /* 100115  mov eax,edi */
	0xe6, 0xf4,                              /* 100117  out 0xf4,al */
	/* g: */
	0x47,                                    /* 100119  inc edi */
	0xc2, 0x20, 0x00,                        /* 10011a  ret 0x20 */
};

/* Regression (was a bug in same place, worse): as above, but the ret lands on a block start (r is
 * reached by "push offset r; jmp g"), whose prologue lies outside every block's host
 * range: the second time round, the stray write faults there and the signal handler
 * ends the whole process ("internal error: fault in the code cache outside any
 * block", exit status 6). Natively: g runs twice, ESP ends at 0x100010. */
START_TEST(ret_imm16_to_block_start_next_to_code_page)
{
	vm.cpu.sh->regs[R_ESP] = 0x100010;
	tvm_load(&vm, RETSTART_START, retstart, sizeof(retstart));
	tvm_run(&vm, RETSTART_START);
	tvm_assert_exit(&vm, 2);
	ck_assert_uint_eq(REG(R_EDI), 2);
	ck_assert_uint_eq(REG(R_EBX), 0x100010);
	ck_assert_uint_eq(tvm_rd32(&vm, 0x10000c), 0);
}
END_TEST

#define CSLIMIT_DRIVER 0x10000u
#define CSLIMIT_LOW 0x1000eu
#define CSLIMIT_HANDLER 0x1001au
static const uint8_t cslimit[] = {
	/* driver: */
	0x31, 0xff,                              /* 10000  xor edi,edi */
	0xe8, 0xf9, 0xff, 0x0e, 0x00,            /* 10002  call 0x100000 */
	0xea, 0x0e, 0x00, 0x01, 0x00, 0x18, 0x00, /* 10007  jmp 0x18:0x1000e */
	/* low: */
	0xe8, 0xed, 0xff, 0x0e, 0x00,            /* 1000e  call 0x100000 */
	0xb8, 0x66, 0x00, 0x00, 0x00,            /* 10013  mov eax,0x66 */
	0xe6, 0xf4,                              /* 10018  out 0xf4,al */
	/* handler: */
	0x8b, 0x04, 0x24,                        /* 1001a  mov eax,dword [esp] */
	0xa3, 0x00, 0x90, 0x00, 0x00,            /* 1001d  mov ds:0x9000,eax */
	0x8b, 0x44, 0x24, 0x04,                  /* 10022  mov eax,dword [esp+0x4] */
	0xa3, 0x04, 0x90, 0x00, 0x00,            /* 10026  mov ds:0x9004,eax */
	0x89, 0x3d, 0x08, 0x90, 0x00, 0x00,      /* 1002b  mov dword ds:0x9008,edi */
	0x89, 0x25, 0x0c, 0x90, 0x00, 0x00,      /* 10031  mov dword ds:0x900c,esp */
	0xb8, 0x55, 0x00, 0x00, 0x00,            /* 10037  mov eax,0x55 */
	0xe6, 0xf4,                              /* 1003c  out 0xf4,al */
};
static const uint8_t incret[] = {
	/* f: */
	0x47,                                    /* 100000  inc edi */
	0xc3,                                    /* 100001  ret */
};

/* Regression (was a bug in rewriter.c rw_translate / codecache.c keys / cpu.c): the CS limit is
 * checked only when a block is translated, and blocks are keyed by (eip, CS base,
 * mode) without the limit. After "jmp 0x18:low" loads a CS with limit 0xfffff, "call
 * 0x100000" must raise #GP(0) at the call, before it pushes (SDM Vol. 2, CALL: "IF
 * tempEIP is beyond code segment limit THEN #GP(0)"). trapeze runs the block it
 * translated at 0x100000 under the flat CS (same base, same mode) instead: f runs a
 * second time; without that block the #GP would report EIP 0x100000 after the push. */
START_TEST(branch_past_cs_limit_faults)
{
	tvm_setup_tables(&vm, GDT_PA, IDT_PA);
	/* 0x18: code, base 0, limit 0xfffff bytes (G = 0) */
	tvm_wr64(&vm, GDT_PA + 0x18, 0x004f9b000000ffffull);
	vm.cpu.gdtr.limit = 4 * 8 - 1;
	tvm_set_gate(&vm, IDT_PA, VEC_GP, CSLIMIT_HANDLER);
	tvm_load(&vm, 0x100000, incret, sizeof(incret));
	tvm_load(&vm, CSLIMIT_DRIVER, cslimit, sizeof(cslimit));
	tvm_run(&vm, CSLIMIT_DRIVER);
	tvm_assert_exit(&vm, 0x55);
	ck_assert_uint_eq(tvm_rd32(&vm, 0x9008), 1);            /* f ran once */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x9000), 0);            /* error code */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x9004), CSLIMIT_LOW);  /* EIP of the call */
	ck_assert_uint_eq(tvm_rd32(&vm, 0x900c), TVM_STACK - 16);
}
END_TEST

/* ---- the encoder (rewriter/x86emit.h): bytes and patches ---- */

/* Room in the low 4 GiB, where emitted code and its 32-bit addresses live: the start
 * of a code-cache reservation that is never committed. */
static uint8_t *low_room(void)
{
	uint8_t *cold;
	uint8_t *p = cc_reserve(vm.cc, &cold);
	ck_assert_ptr_nonnull(p);
	return p;
}

#define ASSERT_BYTES(at, ...) do { \
		static const uint8_t want_[] = { __VA_ARGS__ }; \
		ck_assert_mem_eq((at), want_, sizeof(want_)); \
	} while (0)

START_TEST(encoder_bytes)
{
	uint8_t *p = low_room();
	struct xbuf b = { p };
	emit_mov_gs_store(&b, VCPU_ADDR + VC_SAVE_EAX, R_ECX);
	emit_mov_gs_load(&b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(&b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_lea_esp(&b, 4);
	emit_push_imm32(&b, 0x12345678);
	emit_lea_disp32(&b, R_ECX, R_EAX, 0x11223344);
	emit_lea_sum(&b, R_ECX, R_ECX, R_EAX);
	ck_assert_int_eq(b.p - p, 7 + 6 + 7 + 7 + 5 + 6 + 3);
	ASSERT_BYTES(p,
		0x65, 0x89, 0x0d, 0x2c, 0x00, 0x80, 0xff,       /* mov gs:[save_eax], ecx */
		0x65, 0xa1, 0x2c, 0x00, 0x80, 0xff,             /* mov eax, gs:[save_eax] */
		0x65, 0x8b, 0x0d, 0x30, 0x00, 0x80, 0xff,       /* mov ecx, gs:[save_ecx] */
		0x8d, 0xa4, 0x24, 0x04, 0x00, 0x00, 0x00,       /* lea esp, [esp + 4] */
		0x68, 0x78, 0x56, 0x34, 0x12,                   /* push 0x12345678 */
		0x8d, 0x88, 0x44, 0x33, 0x22, 0x11,             /* lea ecx, [eax + 0x11223344] */
		0x8d, 0x0c, 0x01);                              /* lea ecx, [ecx + eax] */
	/* The exit: its EIP immediate where EXIT_EIP_IMM says, its jump to the stub. */
	b.p = p;
	uint32_t stub = xb_here(&b) + 0x100;
	emit_exit(&b, 0xcafe, 0x30000000, stub);
	ck_assert_int_eq(b.p - p, 11 + 11 + 5);
	ASSERT_BYTES(p, 0x65, 0xc7, 0x05, 0x24, 0x00, 0x80, 0xff);     /* mov gs:[VC_EIP], */
	uint32_t at = (uint32_t)(uintptr_t)p;
	ck_assert_uint_eq(read_imm32(at + EXIT_EIP_IMM), 0xcafe);
	ck_assert_uint_eq(p[22], 0xe9);                                 /* jmp stub */
	ck_assert_uint_eq(read_imm32(at + 23), stub - (at + 27));
}
END_TEST

START_TEST(encoder_patches)
{
	uint8_t *p = low_room();
	uint32_t at = (uint32_t)(uintptr_t)p;
	struct xbuf b = { p };
	uint32_t field = emit_jcc_rel32(&b, CC_NZ, 0);
	ASSERT_BYTES(p, 0x0f, 0x85);
	patch_rel32(field, at + 0x40);
	ck_assert_uint_eq(read_imm32(field), 0x40 - 6);
	uint8_t *rel8 = emit_jecxz(&b, 0);
	b.p += 9;
	patch_rel8_here(rel8, &b);
	ck_assert_uint_eq(*rel8, 9);
	/* An inline cache's compares: ECX = target + imm1 (+ imm2) is zero on a hit. */
	uint32_t imm1 = emit_lea_disp32(&b, R_ECX, R_EAX, 0);
	uint32_t imm2 = emit_lea_disp32(&b, R_ECX, R_ECX, 0);
	patch_ic_compare(imm1, 0, 0x1000);
	patch_ic_compare(imm2, imm1, 0x2000);
	ck_assert_uint_eq(0x1000 + read_imm32(imm1), 0);
	ck_assert_uint_eq(0x2000 + read_imm32(imm1) + read_imm32(imm2), 0);
	patch_ic_pair(imm1, imm2, 0x3000, 0xfffffff0u);
	ck_assert_uint_eq(0x3000 + read_imm32(imm1), 0);
	ck_assert_uint_eq(0xfffffff0u + read_imm32(imm1) + read_imm32(imm2), 0);
}
END_TEST

/* ---- instructions the virtual CPU does not have ---- */

/* One encoding and whether the guest must see #UD for it (rw_always_ud). */
struct ud_case {
	const char *what;
	uint8_t len, b[8];
	bool ud;
};

static const struct ud_case ud_cases[] = {
	{ "pshufb mm", 4, { 0x0f, 0x38, 0x00, 0x00 }, false },
	{ "pshufb xmm", 5, { 0x66, 0x0f, 0x38, 0x00, 0x00 }, false },
	{ "ptest", 5, { 0x66, 0x0f, 0x38, 0x17, 0x00 }, false },
	{ "ptest without 66", 4, { 0x0f, 0x38, 0x17, 0x00 }, true },
	{ "pcmpgtq", 5, { 0x66, 0x0f, 0x38, 0x37, 0x00 }, false },
	{ "aesenc", 5, { 0x66, 0x0f, 0x38, 0xdc, 0x00 }, false },
	{ "crc32", 5, { 0xf2, 0x0f, 0x38, 0xf1, 0x00 }, false },
	{ "crc32 r16", 6, { 0x66, 0xf2, 0x0f, 0x38, 0xf1, 0x00 }, false },
	{ "palignr", 6, { 0x66, 0x0f, 0x3a, 0x0f, 0x00, 0x01 }, false },
	{ "pclmulqdq", 6, { 0x66, 0x0f, 0x3a, 0x44, 0x00, 0x01 }, false },
	{ "pcmpistri", 6, { 0x66, 0x0f, 0x3a, 0x63, 0x00, 0x01 }, false },
	{ "aeskeygenassist", 6, { 0x66, 0x0f, 0x3a, 0xdf, 0x00, 0x01 }, false },
	{ "movbe", 4, { 0x0f, 0x38, 0xf0, 0x00 }, true },
	{ "adcx", 5, { 0x66, 0x0f, 0x38, 0xf6, 0x00 }, true },
	{ "adox", 5, { 0xf3, 0x0f, 0x38, 0xf6, 0x00 }, true },
	{ "sha1msg1", 4, { 0x0f, 0x38, 0xc9, 0x00 }, true },
	{ "sha1rnds4", 5, { 0x0f, 0x3a, 0xcc, 0x00, 0x01 }, true },
	{ "movdiri", 4, { 0x0f, 0x38, 0xf9, 0x00 }, true },
	{ "movdir64b", 5, { 0x66, 0x0f, 0x38, 0xf8, 0x00 }, true },
	{ "enqcmd", 5, { 0xf2, 0x0f, 0x38, 0xf8, 0x00 }, true },
	{ "enqcmds", 5, { 0xf3, 0x0f, 0x38, 0xf8, 0x00 }, true },
	{ "invpcid", 5, { 0x66, 0x0f, 0x38, 0x82, 0x00 }, true },
	{ "gf2p8mulb", 5, { 0x66, 0x0f, 0x38, 0xcf, 0x00 }, true },
	{ "rdrand", 3, { 0x0f, 0xc7, 0xf0 }, true },
	{ "rdseed", 3, { 0x0f, 0xc7, 0xf8 }, true },
	{ "cmpxchg8b", 3, { 0x0f, 0xc7, 0x08 }, false },
	{ "movntss", 4, { 0xf3, 0x0f, 0x2b, 0x00 }, true },
	{ "movntsd", 4, { 0xf2, 0x0f, 0x2b, 0x00 }, true },
	{ "movntps", 3, { 0x0f, 0x2b, 0x00 }, false },
	{ "extrq", 6, { 0x66, 0x0f, 0x78, 0xc0, 0x01, 0x02 }, true },
	{ "insertq", 4, { 0xf2, 0x0f, 0x79, 0xc1 }, true },
};

START_TEST(unlisted_features_always_ud)
{
	for (size_t k = 0; k < sizeof(ud_cases) / sizeof(ud_cases[0]); k++) {
		const struct ud_case *c = &ud_cases[k];
		int npfx = rw_prefix_len(c->b, c->len);
		ck_assert_msg(rw_always_ud(c->b, npfx, c->len) == c->ud, "%s: #UD %d, want %d",
			      c->what, !c->ud, c->ud);
	}
}
END_TEST

static Suite *rewriter_suite(void)
{
	Suite *s = suite_create("rewriter");
	struct { const char *name; const TTest *t[8]; } groups[] = {
		{ "ident", { ident_arithmetic, stats_single_block, block_instruction_limit,
			     breakpoint_ends_block } },
		{ "debugger", { debugger_read_and_write_watchpoints, debugger_point_limits } },
		{ "flags", { flags_survive_direct_jump, flags_survive_indirect_lookup } },
		{ "branches", { jcc_taken_and_not_taken, loop_loope_loopne_jecxz,
				hot_loop_is_chained } },
		{ "calls", { call_pushes_guest_address, recursive_calls, call_indirect_register,
			     call_indirect_memory, jmp_through_table, ret_imm16, ret_inline_cache } },
		{ "segments", { mov_from_segment_register, gs_prefix_nonzero_base, cs_prefix_flat,
				cs_prefix_nonzero_base } },
		{ "smc", { smc_next_instruction, smc_own_block_in_loop } },
		{ "exceptions", { divide_error_through_idt, gp_in_indirect_call_restores_scratch } },
		{ "regressions", { ret_imm16_leaves_stack_as_native, ret_imm16_frame_next_to_code_page,
				  ret_imm16_to_block_start_next_to_code_page,
				  branch_past_cs_limit_faults } },
		{ "encoder", { encoder_bytes, encoder_patches } },
		{ "features", { unlisted_features_always_ud } },
	};
	size_t ngroups = sizeof(groups) / sizeof(groups[0]);
	for (size_t g = 0; g < ngroups; g++) {
		TCase *tc = tcase_create(groups[g].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 30);
		for (int i = 0; i < 8 && groups[g].t[i]; i++)
			tcase_add_test(tc, groups[g].t[i]);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rewriter_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * x86len.c - an independent length decoder for 32-bit x86 code.
 *
 * The rewriter copies guest instructions byte for byte, so its idea of where an
 * instruction ends must be the CPU's: if Capstone and the CPU disagreed, the CPU would
 * run guest bytes the rewriter never classified (a far jump to 0x33, say). This table
 * decoder, written from the SDM's opcode maps (Vol. 2, Appendix A), checks every length
 * Capstone reports; the rewriter refuses to copy an instruction when they differ.
 */
#include "x86len.h"

#include <stdbool.h>

/* One-byte map: M = has ModRM; immediate kind in the low bits. */
enum {
	N = 0,          /* no ModRM, no immediate */
	M = 0x10,       /* ModRM */
	IB = 1,         /* imm8 */
	IW = 2,         /* imm16 */
	IZ = 3,         /* imm16/32 by operand size */
	IP = 4,         /* far pointer: imm16/32 + 16 */
	IO = 5,         /* moffs: by address size */
	IE = 6,         /* enter: imm16 + imm8 */
	PF = 7,         /* prefix */
	ES = 8,         /* escape 0F */
	GF = 9,         /* F6/F7: imm only with reg 0 or 1 */
	VX = 10,        /* C4/C5/62/8F: VEX/EVEX/XOP when ModRM.mod == 3 (or reg != 0 for 8F) */
};

static const unsigned char map1[256] = {
	/* 00 */ M, M, M, M, IB, IZ, N, N, M, M, M, M, IB, IZ, N, ES,
	/* 10 */ M, M, M, M, IB, IZ, N, N, M, M, M, M, IB, IZ, N, N,
	/* 20 */ M, M, M, M, IB, IZ, PF, N, M, M, M, M, IB, IZ, PF, N,
	/* 30 */ M, M, M, M, IB, IZ, PF, N, M, M, M, M, IB, IZ, PF, N,
	/* 40 */ N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N,
	/* 50 */ N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N,
	/* 60 */ N, N, VX, M, PF, PF, PF, PF, IZ, M | IZ, IB, M | IB, N, N, N, N,
	/* 70 */ IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB,
	/* 80 */ M | IB, M | IZ, M | IB, M | IB, M, M, M, M, M, M, M, M, M, M, M, VX,
	/* 90 */ N, N, N, N, N, N, N, N, N, N, IP, N, N, N, N, N,
	/* A0 */ IO, IO, IO, IO, N, N, N, N, IB, IZ, N, N, N, N, N, N,
	/* B0 */ IB, IB, IB, IB, IB, IB, IB, IB, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ,
	/* C0 */ M | IB, M | IB, IW, N, VX, VX, M | IB, M | IZ, IE, N, IW, N, N, IB, N, N,
	/* D0 */ M, M, M, M, IB, IB, N, N, M, M, M, M, M, M, M, M,
	/* E0 */ IB, IB, IB, IB, IB, IB, IB, IB, IZ, IZ, IP, IB, N, N, N, N,
	/* F0 */ PF, N, PF, PF, N, N, GF, GF, N, N, N, N, N, N, M, M,
};

/* Two-byte map (0F xx). T = three-byte escape. */
#define T38 0x20
#define T3A 0x21
static const unsigned char map2[256] = {
	/* 00 */ M, M, M, M, N, N, N, N, N, N, N, N, N, M, N, M | IB,
	/* 10 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 20 */ M, M, M, M, M, N, M, N, M, M, M, M, M, M, M, M,
	/* 30 */ N, N, N, N, N, N, N, N, T38, N, T3A, N, N, N, N, N,
	/* 40 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 50 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 60 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 70 */ M | IB, M | IB, M | IB, M | IB, M, M, M, N, M, M, M, M, M, M, M, M,
	/* 80 */ IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ,
	/* 90 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* A0 */ N, N, N, M, M | IB, M, M, M, N, N, N, M, M | IB, M, M, M,
	/* B0 */ M, M, M, M, M, M, M, M, M, M, M | IB, M, M, M, M, M,
	/* C0 */ M, M, M | IB, M, M | IB, M | IB, M | IB, M, N, N, N, N, N, N, N, N,
	/* D0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* E0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* F0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
};

/* Bytes taken by ModRM, SIB and displacement at p (n available); -1 if cut off. */
static int modrm_len(const unsigned char *p, int n, bool a16)
{
	if (n < 1)
		return -1;
	int mod = p[0] >> 6, rm = p[0] & 7, len = 1;
	if (mod == 3)
		return 1;
	if (a16) {
		if (mod == 1)
			len += 1;
		else if (mod == 2 || (mod == 0 && rm == 6))
			len += 2;
		return len <= n ? len : -1;
	}
	if (rm == 4) {
		if (n < 2)
			return -1;
		len++;
		if (mod == 0 && (p[1] & 7) == 5)
			len += 4;
	}
	if (mod == 1)
		len += 1;
	else if (mod == 2 || (mod == 0 && rm == 5))
		len += 4;
	return len <= n ? len : -1;
}

/* VEX/EVEX/XOP-encoded instruction starting at its escape byte. */
static int vex_len(const unsigned char *p, int n, bool a16)
{
	int map, pre, op;
	switch (p[0]) {
	case 0xc5:
		pre = 2;
		map = 1;
		break;
	case 0xc4:
	case 0x8f:
		if (n < 2)
			return -1;
		pre = 3;
		map = p[1] & 0x1f;
		if (p[0] == 0x8f)
			map += 0x100;   /* XOP maps 8, 9, 0xA */
		break;
	default:                /* 0x62: EVEX */
		if (n < 2)
			return -1;
		pre = 4;
		map = p[1] & 3;
		break;
	}
	if (n < pre + 1)
		return -1;
	op = p[pre];
	int m = modrm_len(p + pre + 1, n - pre - 1, a16);
	if (m < 0)
		return -1;
	int imm = 0;
	if (map == 3 || map == 0x108 || map == 0x10a)
		imm = map == 0x10a ? 4 : 1;
	else if (map == 1 && ((op >= 0x70 && op <= 0x73) || op == 0xc2 || (op >= 0xc4 && op <= 0xc6)))
		imm = 1;
	int len = pre + 1 + m + imm;
	return len <= n ? len : -1;
}

static int insn_len(const unsigned char *p, int n, bool code16)
{
	bool o16 = false, a16 = false, f2 = false, has66 = false;
	int i = 0;

	if (n > 15)
		n = 15;
	while (i < n && map1[p[i]] == PF) {
		has66 |= p[i] == 0x66;
		o16 |= p[i] == 0x66;
		a16 |= p[i] == 0x67;
		f2 |= p[i] == 0xf2;
		i++;
	}
	if (i >= n)
		return -1;
	if (code16) {           /* 66 and 67 select 32 bits there */
		o16 = !o16;
		a16 = !a16;
	}
	unsigned char op = p[i];
	unsigned kind = map1[op];
	const unsigned char *q = p + i;
	int rest = n - i;
	int len = 1;

	if (kind == VX) {
		if (rest < 2)
			return -1;
		bool vex = op == 0x8f ? ((q[1] >> 3) & 7) != 0 : (q[1] >> 6) == 3;
		if (vex) {
			int l = vex_len(q, rest, a16);
			return l < 0 ? -1 : i + l;
		}
		kind = M;                       /* POP r/m, LES, LDS, BOUND */
	}
	if (kind == ES) {
		if (rest < 2)
			return -1;
		op = q[1];
		kind = map2[op];
		len = 2;
		if (op >= 0x20 && op <= 0x27)   /* MOV CR/DR/TR: ModRM is always a register */
			return rest >= 3 ? i + 3 : -1;
		if (op == 0x78 && (has66 || f2) && rest > 2 && (q[2] >> 6) == 3)
			kind = M | IW;          /* SSE4a EXTRQ/INSERTQ xmm, imm8, imm8 */
		if (kind == T38 || kind == T3A) {
			if (rest < 3)
				return -1;
			kind = kind == T38 ? M : (M | IB);
			len = 3;
		}
	}
	int imm = 0;
	switch (kind & 0x0f) {
	case IB: imm = 1; break;
	case IW: imm = 2; break;
	case IZ: imm = o16 ? 2 : 4; break;
	case IP: imm = (o16 ? 2 : 4) + 2; break;
	case IO: imm = a16 ? 2 : 4; break;
	case IE: imm = 3; break;
	case GF:
		kind = M;
		if (rest < 2)
			return -1;
		if (((q[1] >> 3) & 7) < 2)
			imm = op == 0xf6 ? 1 : (o16 ? 2 : 4);
		break;
	}
	if (kind & M) {
		int m = modrm_len(q + len, rest - len, a16);
		if (m < 0)
			return -1;
		len += m;
	}
	len += imm;
	return len <= rest ? i + len : -1;
}

int x86_insn_len(const unsigned char *p, int n) { return insn_len(p, n, false); }

int x86_insn_len16(const unsigned char *p, int n) { return insn_len(p, n, true); }

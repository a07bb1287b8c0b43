/*
 * insnclass.c - single x86 instructions as the rewriter sees them (insnclass.h):
 * prefixes, FPU/SSE and always-#UD encodings, the translation kind of each
 * instruction, direct branch targets, and 16-bit code's 32-bit form.
 */
#include "insnclass.h"
#include "x86len.h"
#include "rewriter.h"

#include <string.h>

#include <capstone/capstone.h>

bool rw_is_sse(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	const uint8_t *op = x->opcode;
	if (op[0] == 0x0f && op[1] == 0xae && (x->modrm >> 6) != 3 &&
	    (((x->modrm >> 3) & 7) == 2 || ((x->modrm >> 3) & 7) == 3))
		return true;                    /* ldmxcsr, stmxcsr */
	for (int k = 0; k < x->op_count; k++)
		if (x->operands[k].type == X86_OP_REG && x->operands[k].reg >= X86_REG_XMM0 &&
		    x->operands[k].reg <= X86_REG_XMM31)
			return true;
	return false;
}

bool rw_is_fpu(const uint8_t *op, int rest)
{
	if ((op[0] >= 0xd8 && op[0] <= 0xdf) || op[0] == 0x9b)
		return true;
	if ((op[0] == 0xc4 || op[0] == 0xc5) && rest > 1 && (op[1] >> 6) == 3)
		return true;                    /* VEX: AVX */
	if (op[0] != 0x0f || rest < 2)
		return false;
	uint8_t b = op[1];
	if (b == 0xae)                          /* fxsave fxrstor ldmxcsr stmxcsr */
		return rest > 2 && (op[2] >> 6) != 3 && ((op[2] >> 3) & 7) < 4;
	return (b >= 0x10 && b <= 0x17) || (b >= 0x28 && b <= 0x2f) || (b >= 0x50 && b <= 0x7f) ||
	       b == 0xc2 || (b >= 0xc4 && b <= 0xc6) || (b >= 0xd0 && b <= 0xfe) ||
	       b == 0x38 || b == 0x3a;
}

bool has_prefix(const uint8_t *p, int npfx, uint8_t v)
{
	for (int i = 0; i < npfx; i++)
		if (p[i] == v)
			return true;
	return false;
}

bool rw_always_ud(const uint8_t *b, int npfx, int len)
{
	const uint8_t *op = b + npfx;
	int rest = len - npfx;
	if (rest < 2)
		return false;
	uint8_t modrm = op[1];
	int mod = modrm >> 6, reg = (modrm >> 3) & 7;
	switch (op[0]) {
	case 0xc4: case 0xc5: case 0x62:        /* VEX, EVEX (LES/LDS/BOUND need mod != 3) */
		return mod == 3;
	case 0x8f:                              /* XOP (POP r/m needs reg 0) */
		return reg != 0;
	case 0xc6: case 0xc7:                   /* XABORT, XBEGIN */
		return modrm == 0xf8;
	case 0x0f:
		break;
	default:
		return false;
	}
	if (rest < 3)
		return false;
	modrm = op[2];
	mod = modrm >> 6;
	reg = (modrm >> 3) & 7;
	switch (op[1]) {
	case 0xae:                              /* XSAVE, XRSTOR, XSAVEOPT (66: CLWB) */
		return mod != 3 && reg >= 4 && reg <= 6 && !has_prefix(b, npfx, 0x66);
	case 0xc7:      /* XRSTORS XSAVEC XSAVES, VMPTRLD/ST...; RDRAND, RDSEED (RDPID) */
		return mod != 3 ? reg >= 3 : reg >= 6;
	case 0x38: case 0x3a:
		return !rw_vcpu_has_0f38_0f3a(b, npfx, len);
	case 0x78: case 0x79:                   /* VMREAD/VMWRITE; 66/F2: SSE4a's EXTRQ, INSERTQ */
		return true;
	case 0x2b:                              /* F2/F3: SSE4a's MOVNTSD, MOVNTSS */
		return has_prefix(b, npfx, 0xf2) || has_prefix(b, npfx, 0xf3);
	}
	return false;
}

/* The third opcode byte x of a 0F 38 instruction of SSE4.1/SSE4.2/AES (66 prefix). */
static bool sse4_0f38(uint8_t x)
{
	return x == 0x10 || x == 0x14 || x == 0x15 || x == 0x17 ||     /* blends, PTEST */
	       (x >= 0x20 && x <= 0x25) || (x >= 0x30 && x <= 0x35) ||  /* PMOVSX, PMOVZX */
	       (x >= 0x28 && x <= 0x2b) ||      /* PMULDQ PCMPEQQ MOVNTDQA PACKUSDW */
	       (x >= 0x37 && x <= 0x41) ||      /* PCMPGTQ, PMIN/PMAX, PMULLD, PHMINPOSUW */
	       (x >= 0xdb && x <= 0xdf);        /* AESIMC, AESENC(LAST), AESDEC(LAST) */
}

/* The same for 0F 3A (66 prefix). */
static bool sse4_0f3a(uint8_t x)
{
	return (x >= 0x08 && x <= 0x0e) ||     /* ROUND*, BLEND*, PBLENDW */
	       (x >= 0x14 && x <= 0x17) ||      /* PEXTRB/W/D, EXTRACTPS */
	       (x >= 0x20 && x <= 0x22) ||      /* PINSRB, INSERTPS, PINSRD */
	       (x >= 0x40 && x <= 0x42) ||      /* DPPS, DPPD, MPSADBW */
	       x == 0x44 ||                     /* PCLMULQDQ */
	       (x >= 0x60 && x <= 0x63) ||      /* PCMPESTRM/I, PCMPISTRM/I */
	       x == 0xdf;                       /* AESKEYGENASSIST */
}

/*
 * By the opcode maps (SDM Vol. 2, Tables) and the features CPUID leaf 1 lists
 * (cpuid.c). Anything else there is a later extension the host may have and the guest
 * must not (ADCX/ADOX, SHA, MOVDIRI, MOVDIR64B, ENQCMD, GFNI, INVPCID...), or an
 * undefined encoding: #UD either way. The mandatory prefix counts: without it, or with
 * another, the same byte is another instruction.
 */
bool rw_vcpu_has_0f38_0f3a(const uint8_t *b, int npfx, int len)
{
	const uint8_t *op = b + npfx;
	if (len - npfx < 3 || op[0] != 0x0f)
		return false;
	bool p66 = has_prefix(b, npfx, 0x66), pf2 = has_prefix(b, npfx, 0xf2);
	uint8_t x = op[2];
	if (has_prefix(b, npfx, 0xf3))
		return false;
	if (op[1] == 0x38) {
		if (x == 0xf0 || x == 0xf1)
			return pf2;             /* CRC32 (without F2: MOVBE, not this CPU's) */
		if (pf2)
			return false;
		if (x <= 0x0b || (x >= 0x1c && x <= 0x1e))
			return true;            /* SSSE3, MMX (none) or XMM (66) registers */
		return p66 && sse4_0f38(x);
	}
	if (op[1] != 0x3a || pf2)
		return false;
	if (x == 0x0f)
		return true;                    /* PALIGNR, MMX or XMM */
	return p66 && sse4_0f3a(x);
}

bool rw_reserved_nop(uint8_t *b, int n)
{
	int p = rw_prefix_len(b, n);
	if (p + 2 >= n || b[p] != 0x0f || b[p + 1] < 0x18 || b[p + 1] > 0x1f)
		return false;
	b[p + 1] = 0x1f;
	if ((b[p + 2] >> 6) == 3)       /* Capstone knows no register form: [eAX] instead, */
		b[p + 2] &= 0x38;       /* of the same length (no SIB, no displacement) */
	return true;
}

/* The segment prefix an instruction's ModRM operand uses without an override (SS for
 * an EBP or ESP base, BP with a 16-bit address size; SDM Vol. 1, 3.7.4), DS for a
 * register operand. modrm at b[at]; a16: a 67 prefix (32-bit code). */
static uint8_t default_seg_prefix(const uint8_t *b, int at, int n, bool a16)
{
	int mod = b[at] >> 6, rm = b[at] & 7;
	if (mod == 3)
		return 0x3e;
	if (a16)
		return rm == 2 || rm == 3 || (rm == 6 && mod != 0) ? 0x36 : 0x3e;
	if (rm == 4 && at + 1 < n) {
		int base = b[at + 1] & 7;
		return base == 4 || (base == 5 && mod != 0) ? 0x36 : 0x3e;
	}
	return rm == 5 && mod != 0 ? 0x36 : 0x3e;
}

bool rw_bsf_form(uint8_t *b, int n)
{
	int p = rw_prefix_len(b, n);
	if (p + 2 >= n || b[p] != 0x0f || (b[p + 1] != 0xbc && b[p + 1] != 0xbd) ||
	    (!has_prefix(b, p, 0xf3) && !has_prefix(b, p, 0xf2)))
		return false;
	uint8_t seg = default_seg_prefix(b, p + 2, n, has_prefix(b, p, 0x67));
	for (int k = 0; k < p; k++)     /* an override already there stays the last one */
		if (b[k] == 0x26 || b[k] == 0x2e || b[k] == 0x36 || b[k] == 0x3e ||
		    b[k] == 0x64 || b[k] == 0x65)
			seg = b[k];
	for (int k = 0; k < p; k++)
		if (b[k] == 0xf2 || b[k] == 0xf3)
			b[k] = seg;
	return true;
}

int rw_prefix_len(const uint8_t *p, int n)
{
	int i = 0;
	while (i < n) {
		switch (p[i]) {
		case 0xf0: case 0xf2: case 0xf3: case 0x2e: case 0x36: case 0x3e:
		case 0x26: case 0x64: case 0x65: case 0x66: case 0x67:
			i++;
			continue;
		}
		break;
	}
	return i;
}


/* The kind of the instruction whose opcode starts at op (after npfx prefixes). */
enum kind classify(const uint8_t *b, int npfx, int len)
{
	const uint8_t *op = b + npfx;
	int rest = len - npfx;
	bool opsize = has_prefix(b, npfx, 0x66);
	uint8_t modrm = rest > 1 ? op[1] : 0;
	int reg = (modrm >> 3) & 7;

	if (rw_always_ud(b, npfx, len))
		return K_CALLOUT;
	switch (op[0]) {
	case 0x70 ... 0x7f:
		return opsize ? K_CALLOUT : K_JCC;
	case 0xe0 ... 0xe3:
		return opsize ? K_CALLOUT : K_LOOP;
	case 0xeb: case 0xe9:
		return opsize ? K_CALLOUT : K_JMP;
	case 0xe8:
		return opsize ? K_CALLOUT : K_CALL;
	case 0xc2: case 0xc3:
		return opsize ? K_CALLOUT : K_RET;
	case 0xff:
		if (reg == 2 || reg == 4)
			return opsize ? K_CALLOUT : (reg == 2 ? K_CALL_IND : K_JMP_IND);
		if (reg == 3 || reg == 5)
			return K_CALLOUT;               /* far call/jmp m16:32 */
		return K_IDENT;
	case 0x8c:                                      /* mov r/m, sreg */
		return (modrm >> 6) == 3 && reg < 6 ? K_SREG_READ : K_CALLOUT;
	case 0xc4: case 0xc5:                           /* LES/LDS, or a VEX prefix */
		return (modrm >> 6) == 3 ? K_IDENT : K_CALLOUT;
	case 0xfa:
		return K_CLI;
	case 0xfb:
		return K_STI;
	case 0x9c:
		return opsize ? K_CALLOUT : K_PUSHF;
	case 0x9d:
		return opsize ? K_CALLOUT : K_POPF;
	case 0x06: case 0x0e: case 0x16: case 0x1e:     /* push es/cs/ss/ds */
		return has_prefix(b, npfx, 0xf0) ? K_CALLOUT : K_SREG_PUSH;
	case 0x07: case 0x1f:                           /* pop es, pop ds */
		return has_prefix(b, npfx, 0xf0) ? K_CALLOUT : K_SREG_LOAD;
	case 0x8e:                      /* mov es/ds, r16; mov fs/gs, r/m16 */
		return !has_prefix(b, npfx, 0xf0) &&
		       (((modrm >> 6) == 3 && (reg == 0 || reg == 3)) || reg == 4 || reg == 5) ?
		       K_SREG_LOAD : K_CALLOUT;
	case 0xcf:                                      /* iret */
		return npfx ? K_CALLOUT : K_IRET;
	case 0xcd:                                      /* int n */
		return npfx ? K_CALLOUT : K_INT;
	case 0x17:                                      /* pop ss */
	case 0x9a: case 0xea: case 0xca: case 0xcb:     /* far call/jmp/ret */
	case 0xcc: case 0xce: case 0xf1:                /* int3, into, int1 */
	case 0xf4:                                      /* hlt */
	case 0xe4 ... 0xe7: case 0xec ... 0xef:         /* in, out */
	case 0x6c ... 0x6f:                             /* ins, outs */
		return K_CALLOUT;
	case 0x0f:
		if (rest < 2)
			return K_CALLOUT;
		switch (op[1]) {
		case 0x31:
			return K_RDTSC;
		case 0xa0: case 0xa8:   /* push fs/gs */
			return has_prefix(b, npfx, 0xf0) ? K_CALLOUT : K_SREG_PUSH;
		case 0xa1: case 0xa9:   /* pop fs, pop gs */
			return has_prefix(b, npfx, 0xf0) ? K_CALLOUT : K_SREG_LOAD;
		case 0x80 ... 0x8f:
			return opsize ? K_CALLOUT : K_JCC;
		case 0x34:
			return npfx ? K_CALLOUT : K_SYSENTER;
		case 0x35:
			return npfx ? K_CALLOUT : K_SYSEXIT;
		case 0x20:              /* mov r32, cr2 (CR8 with a LOCK prefix on AMD) */
			if (!npfx && rest > 2 && ((op[2] >> 3) & 7) == 2)
				return K_CR2_READ;
			return K_CALLOUT;
		case 0x01:              /* rdtscp, serialize; sgdt sidt lgdt ... */
			if (!npfx && rest > 2 && op[2] == 0xf9)
				return K_RDTSCP;
			return !npfx && rest > 2 && op[2] == 0xe8 ? K_SERIALIZE : K_CALLOUT;
		case 0x00:              /* sldt str lldt ltr verr verw */
		case 0x02: case 0x03:   /* lar, lsl */
		case 0x05: case 0x07:   /* syscall, sysret */
		case 0x06: case 0x08: case 0x09: case 0x0b:     /* clts invd wbinvd ud2 */
		case 0x21 ... 0x23:     /* mov cr/dr */
		case 0x24: case 0x26:   /* mov tr (old) */
		case 0x30: case 0x32: case 0x33:        /* wrmsr rdmsr rdpmc */
		case 0x37:              /* getsec */
		case 0xa2:              /* cpuid */
		case 0xaa:              /* rsm */
		case 0xb2: case 0xb4: case 0xb5:                /* lss lfs lgs */
		case 0xff: case 0xb9:   /* ud0, ud1 */
			return K_CALLOUT;
		case 0xc7:              /* rdpid is F3 0F C7 /7 (register form) */
			return rest > 2 && (op[2] >> 6) == 3 && ((op[2] >> 3) & 7) == 7 &&
			       has_prefix(b, npfx, 0xf3) ? K_CALLOUT : K_IDENT;
		}
		return K_IDENT;
	}
	return K_IDENT;
}

bool rw_is_ident(const uint8_t *b, int len)
{
	return len <= 15 && classify(b, rw_prefix_len(b, len), len) == K_IDENT;
}

bool rw_is_sreg_load(const uint8_t *b, int n)
{
	int len = x86_insn_len(b, n);
	return len > 0 && classify(b, rw_prefix_len(b, len), len) == K_SREG_LOAD;
}

/*
 * The 32-bit-code form of an instruction of 16-bit code (CS.D = 0): the same operation
 * with its operand- and address-size prefixes toggled, since 66 and 67 select the size
 * that the D flag does not (SDM Vol. 1, 3.6.1). 16-bit code is decoded (by Capstone, in
 * 32-bit mode), classified, emitted and emulated in this form; only EIP moves by the
 * guest's own length. A 66 that is not an operand size stays as it is: part of an
 * MMX/SSE encoding (but MOVBE and CRC32, 0F 38 F0/F1, do have a size), and 0F AE
 * (fences, FXSAVE...: 66 makes other instructions) and MOVNTI (0F C3: 66 is #UD).
 * Repeated prefixes of one group are dropped (only the last segment prefix counts)
 * when the result would pass 15 bytes. Returns the new length, up to 17; the callers
 * treat one past 15 as not translatable.
 */
int normalize16(const uint8_t *b, int len, uint8_t *out)
{
	int npfx = rw_prefix_len(b, len);
	const uint8_t *op = b + npfx;
	int rest = len - npfx;
	bool sized = !(op[0] == 0x0f && rest > 1 &&
		       (op[1] == 0xae || op[1] == 0xc3 ||
			(rw_is_fpu(op, rest) &&
			 !(op[1] == 0x38 && rest > 2 && (op[2] == 0xf0 || op[2] == 0xf1)))));
	bool had66 = false, had67 = false;
	for (int k = 0; k < npfx; k++) {
		had66 |= b[k] == 0x66;
		had67 |= b[k] == 0x67;
	}
	/* The added size prefixes go first: a mandatory F2/F3 stays next to the opcode,
	 * where decoders look for it. */
	uint8_t pfx[16];
	int n = 0;
	if (!had66 && sized)
		pfx[n++] = 0x66;
	if (!had67)
		pfx[n++] = 0x67;
	for (int k = 0; k < npfx; k++)
		if (b[k] != 0x67 && !(b[k] == 0x66 && sized))
			pfx[n++] = b[k];
	if (n + rest > 15) {
		/* Keep the last prefix of each group (segment, F2/F3, LOCK, 66, 67). */
		static const uint8_t group[256] = {
			[0x26] = 1, [0x2e] = 1, [0x36] = 1, [0x3e] = 1, [0x64] = 1, [0x65] = 1,
			[0xf2] = 2, [0xf3] = 2, [0xf0] = 3, [0x66] = 4, [0x67] = 5,
		};
		int m = 0;
		for (int k = 0; k < n; k++) {
			bool later = false;
			for (int j = k + 1; j < n && !later; j++)
				later = group[pfx[j]] && group[pfx[j]] == group[pfx[k]];
			if (!later)
				pfx[m++] = pfx[k];
		}
		n = m;
	}
	memcpy(out, pfx, (size_t)n);
	memcpy(out + n, op, (size_t)rest);
	return n + rest;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

uint32_t branch_target(const uint8_t *op, uint32_t after)
{
	switch (op[0]) {
	case 0x70 ... 0x7f:
	case 0xe0 ... 0xe3:
	case 0xeb:
		return after + (uint32_t)(int8_t)op[1];
	case 0xe8:
	case 0xe9:
		return after + rd32(op + 1);
	case 0x0f:
		return after + rd32(op + 2);
	}
	return after;
}

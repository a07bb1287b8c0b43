/*
 * gdbregs.c - the registers the gdb stub shows (see gdbregs.h).
 */
#include "gdbregs.h"

#include <string.h>

#include "engine.h"
#include "vm.h"

/* gdb's i386 core and SSE features as gdb's manual ("i386 Features") names them; the
 * control registers in a feature of trapeze's, shown as "info registers cr0". */
const char gdb_target_xml[] =
	"<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
	"<target version=\"1.0\"><architecture>i386</architecture>"
	"<feature name=\"org.gnu.gdb.i386.core\">"
	"<flags id=\"i386_eflags\" size=\"4\">"
	"<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"PF\" start=\"2\" end=\"2\"/>"
	"<field name=\"AF\" start=\"4\" end=\"4\"/><field name=\"ZF\" start=\"6\" end=\"6\"/>"
	"<field name=\"SF\" start=\"7\" end=\"7\"/><field name=\"TF\" start=\"8\" end=\"8\"/>"
	"<field name=\"IF\" start=\"9\" end=\"9\"/><field name=\"DF\" start=\"10\" end=\"10\"/>"
	"<field name=\"OF\" start=\"11\" end=\"11\"/><field name=\"NT\" start=\"14\" end=\"14\"/>"
	"<field name=\"RF\" start=\"16\" end=\"16\"/><field name=\"VM\" start=\"17\" end=\"17\"/>"
	"<field name=\"AC\" start=\"18\" end=\"18\"/><field name=\"VIF\" start=\"19\" end=\"19\"/>"
	"<field name=\"VIP\" start=\"20\" end=\"20\"/><field name=\"ID\" start=\"21\" end=\"21\"/>"
	"</flags>"
	"<reg name=\"eax\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"ecx\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"edx\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"ebx\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"esp\" bitsize=\"32\" type=\"data_ptr\"/>"
	"<reg name=\"ebp\" bitsize=\"32\" type=\"data_ptr\"/>"
	"<reg name=\"esi\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"edi\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"eip\" bitsize=\"32\" type=\"code_ptr\"/>"
	"<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>"
	"<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>"
	"<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>"
	"<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>"
	"<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>"
	"<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>"
	"<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>"
	"<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>"
	"<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>"
	"<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>"
	"<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
	"<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
	"<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
	"<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
	"<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
	"<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
	"<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
	"<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
	"</feature>"
	"<feature name=\"org.gnu.gdb.i386.sse\">"
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"
	"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"
	"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"
	"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
	"<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/>"
	"<field name=\"v2_double\" type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/>"
	"<field name=\"v8_int16\" type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/>"
	"<field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/>"
	"</union>"
	"<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\"/>"
	"<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\"/>"
	"<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\"/>"
	"<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\"/>"
	"<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\"/>"
	"<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\"/>"
	"<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\"/>"
	"<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\"/>"
	"<reg name=\"mxcsr\" bitsize=\"32\" type=\"int\" group=\"vector\"/>"
	"</feature>"
	"<feature name=\"org.trapeze.i386.system\">"
	"<reg name=\"cr0\" bitsize=\"32\" type=\"int32\" group=\"system\"/>"
	"<reg name=\"cr2\" bitsize=\"32\" type=\"data_ptr\" group=\"system\"/>"
	"<reg name=\"cr3\" bitsize=\"32\" type=\"int32\" group=\"system\"/>"
	"<reg name=\"cr4\" bitsize=\"32\" type=\"int32\" group=\"system\"/>"
	"</feature></target>";
const size_t gdb_target_xml_len = sizeof(gdb_target_xml) - 1;

/* gdb's segment register order (cs, ss, ds, es, fs, gs) as SR_*. */
static const int seg_of[6] = { SR_CS, SR_SS, SR_DS, SR_ES, SR_FS, SR_GS };

int gdb_reg_size(int n)
{
	if (n >= GDB_REG_ST0 && n < GDB_REG_ST0 + 8)
		return 10;
	if (n >= GDB_REG_XMM0 && n < GDB_REG_XMM0 + 8)
		return 16;
	return n >= 0 && n < GDB_REG_COUNT ? 4 : -1;
}

/*
 * The full x87 tag word from FXSAVE's abridged one (SDM Vol. 1, 10.5.1.1): bit j of
 * the abridged tag says physical register j is not empty; its full tag (valid 00,
 * zero 01, special 10) follows from the value, which FXSAVE keeps as ST((j - TOP) & 7).
 */
static uint32_t full_tag(const uint8_t *fx)
{
	uint32_t top = (fx[2] | fx[3] << 8) >> 11 & 7, tag = 0;
	for (uint32_t j = 0; j < 8; j++) {
		uint32_t t = 3;
		if (fx[4] >> j & 1) {
			const uint8_t *st = fx + 32 + 16 * ((j - top) & 7);
			uint32_t exp = (st[8] | st[9] << 8) & 0x7fff;
			uint64_t man;
			memcpy(&man, st, 8);
			if (exp == 0x7fff)
				t = 2;
			else if (exp == 0)
				t = man ? 2 : 1;
			else
				t = man >> 63 ? 0 : 2;
		}
		tag |= t << (2 * j);
	}
	return tag;
}

/* The x87/SSE fields of the FXSAVE image (SDM Vol. 1, 10.5.1): offset and size of
 * the 4-byte registers fctrl .. fop and mxcsr. */
static const struct { uint8_t off, size; } fx_field[] = {
	[GDB_REG_FCTRL - GDB_REG_FCTRL] = { 0, 2 }, [GDB_REG_FSTAT - GDB_REG_FCTRL] = { 2, 2 },
	[GDB_REG_FISEG - GDB_REG_FCTRL] = { 12, 2 }, [GDB_REG_FIOFF - GDB_REG_FCTRL] = { 8, 4 },
	[GDB_REG_FOSEG - GDB_REG_FCTRL] = { 20, 2 }, [GDB_REG_FOOFF - GDB_REG_FCTRL] = { 16, 4 },
	[GDB_REG_FOP - GDB_REG_FCTRL] = { 6, 2 },
};

/* Register n's bytes (little-endian) into out; its size, or -1. */
int gdb_reg_get(struct vm *vm, int n, uint8_t *out)
{
	struct cpu *c = &vm->cpu;
	const uint8_t *fx = c->sh->fx;
	uint32_t v = 0;
	int size = gdb_reg_size(n);
	if (size < 0)
		return -1;
	if (n < 8)
		v = c->sh->regs[n];
	else if (n == GDB_REG_EIP)
		v = c->sh->eip;
	else if (n == GDB_REG_EFLAGS)
		v = cpu_eflags(c);
	else if (n >= GDB_REG_CS && n <= GDB_REG_GS)
		v = c->seg[seg_of[n - GDB_REG_CS]].sel;
	else if (n >= GDB_REG_ST0 && n < GDB_REG_ST0 + 8) {
		memcpy(out, fx + 32 + 16 * (n - GDB_REG_ST0), 10);
		return 10;
	} else if (n >= GDB_REG_XMM0 && n < GDB_REG_XMM0 + 8) {
		memcpy(out, fx + 160 + 16 * (n - GDB_REG_XMM0), 16);
		return 16;
	} else if (n == GDB_REG_FTAG)
		v = full_tag(fx);
	else if (n >= GDB_REG_FCTRL && n <= GDB_REG_FOP) {
		memcpy(&v, fx + fx_field[n - GDB_REG_FCTRL].off, fx_field[n - GDB_REG_FCTRL].size);
		if (n == GDB_REG_FOP)
			v &= 0x7ff;
	} else if (n == GDB_REG_MXCSR)
		memcpy(&v, fx + 24, 4);
	else if (n == GDB_REG_CR0)
		v = c->cr0;
	else if (n == GDB_REG_CR2)
		v = c->sh->cr2;
	else if (n == GDB_REG_CR3)
		v = c->cr3;
	else if (n == GDB_REG_CR4)
		v = c->cr4;
	memcpy(out, &v, 4);
	return 4;
}

/*
 * Set register n from in. General registers, EIP, EFLAGS and the x87/SSE state can
 * be written; a segment or control register only to the value it has (loading one
 * has effects the stub does not emulate). -1 if refused.
 */
int gdb_reg_set(struct vm *vm, int n, const uint8_t *in)
{
	struct cpu *c = &vm->cpu;
	uint8_t *fx = c->sh->fx;
	uint32_t v;
	if (gdb_reg_size(n) < 0)
		return -1;
	memcpy(&v, in, 4);
	if (n < 8) {
		c->sh->regs[n] = v;
	} else if (n == GDB_REG_EIP) {
		c->sh->eip = v;
		vm->engine->redirected(vm);
	} else if (n == GDB_REG_EFLAGS) {
		cpu_set_eflags(c, (v & ~FL_VM) | (cpu_eflags(c) & FL_VM));
	} else if (n >= GDB_REG_ST0 && n < GDB_REG_ST0 + 8) {
		memcpy(fx + 32 + 16 * (n - GDB_REG_ST0), in, 10);
	} else if (n >= GDB_REG_XMM0 && n < GDB_REG_XMM0 + 8) {
		memcpy(fx + 160 + 16 * (n - GDB_REG_XMM0), in, 16);
	} else if (n == GDB_REG_FTAG) {
		uint8_t abridged = 0;
		for (int j = 0; j < 8; j++)
			abridged |= (uint8_t)(((v >> (2 * j) & 3) != 3) << j);
		fx[4] = abridged;
	} else if (n >= GDB_REG_FCTRL && n <= GDB_REG_FOP) {
		memcpy(fx + fx_field[n - GDB_REG_FCTRL].off, &v, fx_field[n - GDB_REG_FCTRL].size);
	} else if (n == GDB_REG_MXCSR) {
		memcpy(fx + 24, &v, 4);
	} else {
		uint8_t now[4];
		gdb_reg_get(vm, n, now);
		return memcmp(now, in, 4) ? -1 : 0;
	}
	return 0;
}

/*
 * x86.h - the architecture as the SDM defines it: register numbers, EFLAGS and control
 * register bits, exception vectors, and a segment register's hidden part.
 *
 * Nothing here knows about trapeze: every module may include it.
 */
#ifndef TRAPEZE_X86_H
#define TRAPEZE_X86_H

#include <stdbool.h>
#include <stdint.h>

/* Segment register numbers in x86 encoding order. */
enum { SR_ES, SR_CS, SR_SS, SR_DS, SR_FS, SR_GS, SR_COUNT };
enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };

/* EFLAGS bits (SDM Vol. 1, 3.4.3). */
#define FL_CF   0x00000001u
#define FL_1    0x00000002u
#define FL_PF   0x00000004u
#define FL_AF   0x00000010u
#define FL_ZF   0x00000040u
#define FL_SF   0x00000080u
#define FL_TF   0x00000100u
#define FL_IF   0x00000200u
#define FL_DF   0x00000400u
#define FL_OF   0x00000800u
#define FL_IOPL 0x00003000u
#define FL_NT   0x00004000u
#define FL_RF   0x00010000u
#define FL_VM   0x00020000u
#define FL_AC   0x00040000u
#define FL_VIF  0x00080000u
#define FL_VIP  0x00100000u
#define FL_ID   0x00200000u
/* Flags that run natively in the host's EFLAGS; the rest are virtual. */
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF | FL_DF)
/* The I/O privilege level in EFLAGS f. */
#define EFLAGS_IOPL(f)  ((unsigned)(((f) & FL_IOPL) >> 12))

#define CR0_PE  0x00000001u
#define CR0_MP  0x00000002u
#define CR0_EM  0x00000004u
#define CR0_TS  0x00000008u
#define CR0_ET  0x00000010u
#define CR0_NE  0x00000020u
#define CR0_WP  0x00010000u
#define CR0_AM  0x00040000u
#define CR0_NW  0x20000000u
#define CR0_CD  0x40000000u
#define CR0_PG  0x80000000u

#define CR4_TSD         0x00000004u
#define CR4_DE          0x00000008u
#define CR4_PSE         0x00000010u
#define CR4_PAE         0x00000020u
#define CR4_PGE         0x00000080u
#define CR4_OSFXSR      0x00000200u
#define CR4_OSXMMEXCPT  0x00000400u

/* DR6 status bits (SDM Vol. 3, 18.2.3): B0-B3 the breakpoints whose condition was
 * met, BD general detect, BS single step, BT task switch; and the bits that read as 1. */
#define DR6_B0_3        0x0000000fu
#define DR6_BD          0x00002000u
#define DR6_BS          0x00004000u
#define DR6_BT          0x00008000u
#define DR6_ONES        0xffff0ff0u
/* DR7 (18.2.4): L0/G0..L3/G3 in bits 0-7, GD (bit 13), R/W and LEN of breakpoint n in
 * bits 16 + 4n and 18 + 4n; bit 10 reads as 1. */
#define DR7_GD          0x00002000u
#define DR7_ONES        0x00000400u

/* IA32_EFER (SDM Vol. 3, 2.2.1): of its bits only NXE exists for this CPU. */
#define EFER_NXE        0x00000800u

/* Exception vectors (SDM Vol. 3, 6.3.1). */
enum {
	VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5,
	VEC_UD = 6, VEC_NM = 7, VEC_DF = 8, VEC_TS = 10, VEC_NP = 11, VEC_SS = 12,
	VEC_GP = 13, VEC_PF = 14, VEC_MF = 16, VEC_AC = 17, VEC_MC = 18, VEC_XM = 19,
};

/* A segment register's hidden part. attr holds descriptor bits 40..55: the access
 * byte (type, S, DPL, P) in bits 0..7 and AVL, L, D/B, G in bits 12..15. */
struct seg {
	uint16_t sel;
	uint16_t attr;
	uint32_t base;
	uint32_t limit;         /* in bytes, granularity applied */
	uint64_t raw;           /* DS/ES loaded from the GDT by seg_load: the descriptor, A
				   set; else 0 (the rewriter's inline reload, K_SREG_LOAD) */
};
#define SEG_P           0x0080u
#define SEG_S           0x0010u
#define SEG_DB          0x4000u
#define SEG_G           0x8000u
#define SEG_DPL(a)      (((a) >> 5) & 3)
#define SEG_TYPE(a)     ((a) & 0xf)
#define SEG_UNUSABLE    0x10000u        /* never in attr; see seg_usable() */

/* The type field of a segment descriptor (SDM Vol. 3, 3.4.5.1, Table 3-1), for a code
 * or data segment (S set: check seg_is_system() first), as Bochs' segment_ctrl_pro.cc
 * names them. attr: struct seg's attr, or DESC_ATTR() of a raw descriptor. */
#define SEG_ACCESSED    0x0001u         /* code/data type bit 0; a load sets it */
#define SEG_TSS_BUSY    0x0002u         /* TSS type bit 1: busy (9 <-> 11) */
static inline bool seg_present(uint16_t attr) { return attr & SEG_P; }
static inline bool seg_is_system(uint16_t attr) { return !(attr & SEG_S); }
static inline bool seg_is_code(uint16_t attr) { return attr & 0x8; }
static inline bool seg_is_data(uint16_t attr) { return !(attr & 0x8); }
/* Code that runs at the caller's CPL, whatever its DPL. */
static inline bool seg_is_conforming(uint16_t attr) { return (attr & 0xc) == 0xc; }
static inline bool seg_is_code_readable(uint16_t attr) { return (attr & 0xa) == 0xa; }
static inline bool seg_is_data_writable(uint16_t attr) { return (attr & 0xa) == 0x2; }
/* A data segment whose valid offsets lie above its limit (3.4.5.1). */
static inline bool seg_is_expand_down(uint16_t attr) { return (attr & 0xc) == 0x4; }
/* May a segment register other than CS hold it: data, or readable code (SDM Vol. 2, MOV)? */
static inline bool seg_is_readable(uint16_t attr) { return seg_is_data(attr) || (attr & 0x2); }

/* System descriptor types (S clear; SDM Vol. 3, 3.5, Table 3-2). */
enum {
	DESC_TSS16_AVAIL = 1, DESC_LDT = 2, DESC_TSS16_BUSY = 3, DESC_CALL_GATE16 = 4,
	DESC_TASK_GATE = 5, DESC_INT_GATE16 = 6, DESC_TRAP_GATE16 = 7, DESC_TSS32_AVAIL = 9,
	DESC_TSS32_BUSY = 11, DESC_CALL_GATE32 = 12, DESC_INT_GATE32 = 14, DESC_TRAP_GATE32 = 15,
};

/* A raw 8-byte descriptor d (SDM Vol. 3, Figure 3-8, and 5.8.3 for gates). */
#define DESC_ATTR(d)    ((uint16_t)(((d) >> 40) & 0xf0ff))     /* as struct seg's attr */
#define DESC_TYPE(d)    ((unsigned)((d) >> 40) & 0xfu)
#define DESC_DPL(d)     ((unsigned)((d) >> 45) & 3u)
#define DESC_ACCESSED   (1ull << 40)
#define DESC_BUSY       (2ull << 40)    /* a TSS's busy bit */
static inline bool desc_present(uint64_t d) { return d & (1ull << 47); }
static inline bool desc_is_system(uint64_t d) { return !(d & (1ull << 44)); }
/* A gate's target selector, offset and (call gates) parameter count. */
#define GATE_SEL(d)     ((uint16_t)((d) >> 16))
#define GATE_OFF(d)     ((uint32_t)((d) & 0xffff) | (uint32_t)((d) >> 48) << 16)
#define GATE_PARAMS(d)  ((int)(((d) >> 32) & 0x1f))

/* The 32-bit TSS (SDM Vol. 3, 7.2.1, Figure 7-2): byte offsets of its fields, and its
 * least limit (104 bytes). ESPn and SSn lie at 4 + 8n and 8 + 8n. */
#define TSS_LINK        0       /* previous-task link */
#define TSS_CR3         28
#define TSS_EIP         32
#define TSS_EFLAGS      36
#define TSS_REGS        40      /* EAX..EDI, 4 bytes each */
#define TSS_SEGS        72      /* ES CS SS DS FS GS, 4 bytes each */
#define TSS_LDT         96
#define TSS_T           100     /* bit 0: the debug trap flag (T) */
#define TSS_IOMAP       102     /* I/O permission bitmap base */
#define TSS32_MIN_LIMIT 0x67u

/* Error codes of #TS #NP #SS #GP (SDM Vol. 3, 6.13): bit 0 EXT, an event from outside
 * the program; bit 1 IDT, the index names an IDT gate. */
#define ERRC_EXT        1u
#define ERRC_IDT        2u

/* Selectors (SDM Vol. 3, 3.4.2): index, table indicator (TI), requested privilege level. */
#define SEL_RPL(s)      ((unsigned)(s) & 3u)
#define SEL_TI          0x0004u         /* in the LDT, not the GDT */
#define SEL_ERR_MASK    0xfffcu         /* a selector as an error code: RPL cleared */
/* Index 0 of the GDT, whatever the RPL: a load of it makes a register unusable. */
static inline bool sel_is_null(uint16_t sel) { return (sel & ~3u) == 0; }

struct dtr {
	uint32_t base;
	uint16_t limit;
};

static inline bool seg_usable(const struct seg *s) { return s->attr & SEG_P; }

#endif

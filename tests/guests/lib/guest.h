/*
 * guest.h - the library every guest test links: port I/O, COM1 output, the
 * PASS/FAIL protocol, a GDT and an IDT whose handlers can resume at a recovery
 * point. See ../README.md.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

/* ---- port I/O ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* ---- small helpers ---- */
#define EFL_CF   0x00000001u
#define EFL_ZF   0x00000040u
#define EFL_TF   0x00000100u
#define EFL_IF   0x00000200u
#define EFL_DF   0x00000400u
#define EFL_OF   0x00000800u
#define EFL_IOPL 0x00003000u
#define EFL_AC   0x00040000u
#define EFL_ID   0x00200000u

static inline uint32_t read_eflags(void)
{
	uint32_t f;
	__asm__ volatile("pushfl; popl %0" : "=r"(f));
	return f;
}
static inline void write_eflags(uint32_t f) { __asm__ volatile("pushl %0; popfl" :: "r"(f) : "memory", "cc"); }
static inline uint16_t read_cs(void) { uint16_t s; __asm__ volatile("movw %%cs, %0" : "=rm"(s)); return s; }
static inline uint32_t read_cr0(void) { uint32_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline void write_cr0(uint32_t v) { __asm__ volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
static inline uint32_t read_cr4(void) { uint32_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr4(uint32_t v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

/* ---- output (COM1) and the PASS/FAIL protocol (report.h) ---- */
void putchar_serial(char c);
void test_main(void);
__attribute__((noreturn)) void guest_exit(int code);   /* QEMU status (code<<1)|1 */
__attribute__((noreturn)) void guest_finish(void);     /* exit 0 if no FAIL, else 1 */

/* Load the GDT and IDT below, mask the 8259s (the BIOS leaves the timer IRQ
 * pending, and sti must not deliver it). Every test calls this first. */
void guest_init(void);

/* The command line the multiboot loader passed (trapeze run --append, QEMU -append:
 * the kernel's path first, then the words appended), or "" if it passed none. */
const char *guest_cmdline(void);

/* ---- GDT: 0 null, 1 flat code (0x08), 2 flat data (0x10), 3.. free ---- */
#define SEL_CODE    0x08
#define SEL_DATA    0x10
#define GDT_ENTRIES 16
#define ACC_CODE    0x9b    /* present, DPL 0, code execute/read, accessed */
#define ACC_DATA    0x93    /* present, DPL 0, data read/write, accessed */
#define GRAN_4K32   0xc     /* G=1, D/B=1 */
#define GRAN_BYTE32 0x4     /* G=0, D/B=1 */
extern uint64_t gdt[GDT_ENTRIES];
uint64_t gdt_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
void gdt_set(int idx, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
/* lgdt with limit 8*n-1, then reload CS=0x08 (far jump) and DS..GS=0x10. */
void gdt_load(int n);

struct dtr { uint16_t limit; uint32_t base; } __attribute__((packed));

/* SDM Vol. 3A, 7.2.1 "Task-State Segment (TSS)", Figure 7-2: the 104-byte 32-bit TSS. */
struct tss32 {
	uint16_t link, r0;
	uint32_t esp0;
	uint16_t ss0, r1;
	uint32_t esp1;
	uint16_t ss1, r2;
	uint32_t esp2;
	uint16_t ss2, r3;
	uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint16_t es, r4, cs, r5, ss, r6, ds, r7, fs, r8, gs, r9, ldt, r10, trap, iomap;
} __attribute__((packed));
_Static_assert(sizeof(struct tss32) == 104, "32-bit TSS is 104 bytes");
/* A task that starts at entry at CPL 0 in the flat segments, on the stack ending at
 * stack_top, with paging from cr3; no I/O bitmap. */
static inline void tss_task_init(struct tss32 *t, uint32_t cr3, const void *entry,
				 uint32_t stack_top)
{
	for (unsigned k = 0; k < sizeof(*t); k++)
		((volatile uint8_t *)t)[k] = 0;
	t->cr3 = cr3;
	t->eip = (uint32_t)entry;
	t->eflags = 0x2;
	t->esp = stack_top;
	t->cs = SEL_CODE;
	t->ss = t->ds = t->es = t->fs = t->gs = SEL_DATA;
	t->iomap = sizeof(struct tss32);
}

/* ---- IDT and exceptions ---- */
/* The frame the common stub builds; hooks may edit it (it is popped by iret). */
struct frame {
	uint32_t gs, fs, es, ds;
	uint32_t edi, esi, ebp, esp0, ebx, edx, ecx, eax;   /* pusha */
	uint32_t vector, error;
	uint32_t eip, cs, eflags;                           /* CPL 0: no SS:ESP */
};
struct exc_record {
	int vector;             /* -1: nothing since exc_clear() */
	int count;
	uint32_t error, eip, cs, eflags;   /* from the frame */
	uint32_t esp;           /* ESP when the event happened (frame end) */
	uint32_t eax;
	uint32_t handler_eflags;   /* EFLAGS inside the handler */
};
extern volatile struct exc_record exc_last;
typedef void (*exc_hook_t)(struct frame *f);

#define IDT_ENTRIES 256
extern uint64_t idt[IDT_ENTRIES];
extern const uint32_t isr_stubs[IDT_ENTRIES];
/* Gates for vectors 0-31 and the software vectors 0x30, 0x80, 0x81; others absent. */
void idt_init(void);
void idt_set(int vec, uint32_t handler, uint16_t sel, uint8_t type_attr);
/* A hook runs for its vector (recorded first), then the stub irets. */
void exc_set_hook(int vec, exc_hook_t hook);

/* Recovery: exc_try() returns 0; if an exception without a hook arrives before
 * exc_untry(), exc_try() returns again with 1, with ESP, EBX/ESI/EDI/EBP, EFLAGS
 * and segment registers as they were at the first return. Unhooked exceptions
 * without an armed recovery point are fatal (FAIL unexpected-exception). */
__attribute__((returns_twice)) int exc_try(void);
void exc_untry(void);
void exc_clear(void);

/* Run the statements; evaluates to the vector they raised, or -1. */
#define EXC(...) ({ exc_clear(); if (exc_try() == 0) { __VA_ARGS__; exc_untry(); } exc_last.vector; })
/* PASS when the statements raise `vec` with error code `err` (err < 0: any). */
#define EXPECT_EXC(name, vec, err, ...) \
	expect_exc((name), EXC(__VA_ARGS__), (vec), (err))
void expect_exc(const char *name, int got, int vec, int err);
/* As expect_exc, for a check QEMU is known to get wrong: under QEMU it prints
 * `SKIP name why` instead (see ../README.md); the SDM decides it under trapeze. */
void expect_exc_sdm(const char *name, int got, int vec, int err, const char *why);
/* check_eq() the same way, for a value QEMU is known to get wrong. */
void check_eq_sdm(const char *name, uint32_t got, uint32_t want, const char *why);

/* Does the CPU's brand string say QEMU? */
int under_qemu(void);

/* Define a global label at the current point of inline asm. */
#define ASM_LABEL(l) ".globl " #l "\n" #l ":\n"

#endif

/*
 * pguest.h - the library every para-x86 guest test links (docs/para-x86.md is the
 * contract, ../../../arch/para.h its numbers): hypercall wrappers, output through
 * console_write, the PASS/FAIL protocol of tests/guests, the trap table and a fix-up
 * that resumes after an expected trap, time from the shared page, page tables.
 *
 * Interface: a guest defines test_main(); boot.S and para_start() check the boot
 * magic, set a stack, install a trap table for vectors 0-63, call test_main(), then
 * exit with 0 when no check failed (process status 1) or 1 (status 3).
 */
#ifndef PGUEST_H
#define PGUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "../../../arch/para.h"
#include "../../guests/lib/report.h"

/* ---- hypercalls (section 4): VMCALL, EAX = number, EBX ECX EDX ESI, result EAX ---- */
static inline int32_t hcall(uint32_t nr, uint32_t b, uint32_t c, uint32_t d, uint32_t s)
{
	int32_t r;
	__asm__ volatile(".byte 0x0f, 0x01, 0xc1"      /* VMCALL */
			 : "=a"(r) : "a"(nr), "b"(b), "c"(c), "d"(d), "S"(s) : "memory", "cc");
	return r;
}
static inline int32_t hc_console_write(const void *buf, uint32_t len)
{ return hcall(PARA_CONSOLE_WRITE, (uint32_t)buf, len, 0, 0); }
static inline int32_t hc_set_trap_table(const struct para_trap *t, uint32_t n)
{ return hcall(PARA_SET_TRAP_TABLE, (uint32_t)t, n, 0, 0); }
static inline int32_t hc_stack_switch(uint32_t esp0) { return hcall(PARA_STACK_SWITCH, esp0, 0, 0, 0); }
static inline int32_t hc_event_poll(void) { return hcall(PARA_EVENT_POLL, 0, 0, 0, 0); }
static inline int32_t hc_set_timer(uint64_t ns)
{ return hcall(PARA_SET_TIMER, (uint32_t)ns, (uint32_t)(ns >> 32), 0, 0); }
static inline int32_t hc_idle(uint64_t ns) { return hcall(PARA_IDLE, (uint32_t)ns, (uint32_t)(ns >> 32), 0, 0); }
static inline int32_t hc_mmu_update(const struct para_mmu_req *r, uint32_t n, uint32_t *done)
{ return hcall(PARA_MMU_UPDATE, (uint32_t)r, n, (uint32_t)done, 0); }
static inline int32_t hc_set_pt(uint32_t pd) { return hcall(PARA_SET_PT, pd, 0, 0, 0); }
static inline int32_t hc_tlb_flush(uint32_t lin, uint32_t n) { return hcall(PARA_TLB_FLUSH, lin, n, 0, 0); }
static inline int32_t hc_ring_setup(uint32_t dev, uint32_t ring, uint32_t rx)
{ return hcall(PARA_RING_SETUP, dev, ring, rx, 0); }
static inline int32_t hc_ring_notify(uint32_t dev) { return hcall(PARA_RING_NOTIFY, dev, 0, 0, 0); }
static inline int32_t hc_event_ack(uint32_t mask) { return hcall(PARA_EVENT_ACK, mask, 0, 0, 0); }
__attribute__((noreturn)) void hc_exit(uint32_t status);

/* ---- boot state ---- */
extern uint32_t boot_eax, boot_ebx, boot_esp;          /* as _start found them */
extern const struct para_start_info *start;            /* EBX */
extern volatile struct para_shared *shared;            /* start->shared_page */
extern const uint32_t para_boot_magic;
extern const uint8_t para_note[];                      /* boot.S's ELF note */
extern char __end[];                                   /* end of the image (bss) */

/* ---- small helpers ---- */
#define EFL_IF 0x00000200u
static inline uint32_t read_eflags(void)
{
	uint32_t f;
	__asm__ volatile("pushfl; popl %0" : "=r"(f));
	return f;
}
static inline void write_eflags(uint32_t f) { __asm__ volatile("pushl %0; popfl" :: "r"(f) : "memory", "cc"); }
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}
static inline uint32_t smsw(void) { uint32_t v; __asm__ volatile("smsw %0" : "=r"(v)); return v; }

/* Guest time from the shared page's TSC fields (section 5), the product taken exactly. */
uint64_t now_ns(void);

/* ---- output (a line buffer through console_write) and the PASS/FAIL protocol:
 * printf, pass, fail, check... are tests/guests/lib/report.h's ---- */
void print_flush(void);
/* PASS when a hypercall returned exactly -err. */
void check_err(const char *name, int32_t got, int err);
void test_main(void);
__attribute__((noreturn)) void guest_finish(void);     /* exit 0 if no FAIL, else 1 */

/* ---- traps (section 6) ---- */
/* The frame trap_common builds: pusha, then the stub's words, then the monitor's. */
struct pframe {
	uint32_t edi, esi, ebp, esp_, ebx, edx, ecx, eax;   /* pusha */
	uint32_t vector, cr2, error;                         /* 0 where the monitor pushes none */
	uint32_t eip, cs, eflags;                            /* CPL 0: no SS:ESP */
};
/* The last trap the fix-up caught. */
struct trap_record {
	int vector;             /* -1: none since trap_clear() */
	int count;
	uint32_t error, cr2, eip, cs, eflags;
	uint32_t frame_end;     /* address just above the frame's EFLAGS */
	uint32_t mask;          /* shared->event_mask inside the handler */
};
extern volatile struct trap_record trap_last;
extern volatile uint32_t trap_fix_eip, trap_fix_resume, trap_fix_esp;
extern const uint32_t trap_stubs[64];
extern struct para_trap trap_table[64];
/* A hook runs for its vector instead of the fix-up (events: 32 + n). */
typedef void (*trap_hook_t)(struct pframe *f);
void trap_set_hook(int vec, trap_hook_t hook);
void trap_clear(void);

/*
 * Arm the fix-up inside an asm statement with operands: a trap whose frame EIP is
 * label `at` resumes at label `resume`; anything else is fatal (FAIL unexpected-trap).
 */
#define FIXUP(at, resume) \
	"movl $" at ", trap_fix_eip\n\tmovl $" resume ", trap_fix_resume\n\t" \
	"movl %%esp, trap_fix_esp\n\t"
/* Load or store a dword at lin; return the vector raised, or -1. */
int probe_read(uint32_t lin, uint32_t *val);
int probe_write(uint32_t lin, uint32_t val);
/* PASS when the last probe raised vec with error code err (err < 0: any). */
void expect_trap(const char *name, int got, int vec, int err);

/* ---- page tables (pt.c): 2-level, built with plain stores, identity = physical ---- */
#define PTE_P   0x001u
#define PTE_W   0x002u
#define PTE_U   0x004u
#define PTE_PS  0x080u
extern uint32_t pt_pd[1024];
uint32_t *pt_pte(uint32_t lin, int alloc);      /* the PTE of lin, 0 if no table */
void pt_map(uint32_t lin, uint32_t phys, uint32_t flags);
/* Identity-map [4 KiB, 4 MiB) (the image), the shared page writable, the start-info
 * page read-only: what a guest touches, and nothing at 0 or in [4 MiB, shared). */
void pt_identity(void);

#endif

/*
 * hal.h - the hardware layer under minik: what the common kernel asks of a machine.
 * Two implementations, one per build: hal_x86.c (GDT/TSS, IDT, 8259, 8254, 16550,
 * ATA PIO, NE2000, CR3/INVLPG, HLT, port 0xf4) and hal_para.c (the para-x86
 * hypercalls and shared page, docs/para-x86.md). The common kernel includes this file
 * and nothing else of the machine; it never knows which layer it has.
 *
 * Interface: the HAL's entry code maps the kernel at KERNBASE (boot_pd, trapasm.S),
 * sets a stack and calls kmain(); kmain() calls hal_init() first. Every trap reaches the common trap() with a struct trapframe
 * (the x86 layout, the same on both: para's #PF CR2 is moved aside by its stub and
 * read back with hal_fault_addr()), through the common alltraps/trapret (trapasm.S).
 * The kernel runs with interrupts off; they are on in user mode and in hal_idle().
 */
#ifndef MINIK_HAL_H
#define MINIK_HAL_H

#include <stdint.h>

/* The kernel runs in the top quarter: physical pa is at KERNBASE + pa (both HALs map
 * it so before kmain), and user space lies below it. Page tables and the HAL's
 * interfaces hold physical addresses. */
#define KERNBASE        0xc0000000u
#define P2V(pa)         ((void *)((uint32_t)(pa) + KERNBASE))
#define V2P(va)         ((uint32_t)(va) - KERNBASE)

/* Selectors: the x86 GDT's, and the ones para-x86 frames carry (section 6). */
#define SEG_KCODE       0x08
#define SEG_KDATA       0x10
#define SEG_UCODE       0x1b
#define SEG_UDATA       0x23

/* Vectors the common kernel knows. */
#define T_PGFLT         14
#define T_TIMER         32      /* x86: IRQ 0 after the 8259 remap; para: event 0 */
#define T_SYSCALL       0x80    /* INT 0x80 from user mode (DPL 3) */

#define FL_IF           0x200u

/* The frame every trap builds: pusha, vector, error code, then what the CPU pushes
 * (esp and ss only on a change of level, from user mode). */
struct trapframe {
	uint32_t edi, esi, ebp, oesp, ebx, edx, ecx, eax;
	uint32_t trapno, err;
	uint32_t eip, cs, eflags;
	uint32_t esp, ss;
};

/* Page-table entry bits (2-level 32-bit paging). */
#define PTE_P           0x001u
#define PTE_W           0x002u
#define PTE_U           0x004u
#define PTE_A           0x020u
#define PTE_D           0x040u
#define PTE_PS          0x080u
#define PTE_G           0x100u  /* global: kept across address-space switches */

/* One page-table entry change: the entry's physical address, its new value, and the
 * linear address it maps in the current address space (HAL_NO_LIN: none). */
struct pte_update {
	uint32_t ptr, val, lin;
};
#define HAL_NO_LIN      0xffffffffu

/* ---- boot ---- */
void hal_init(void);                    /* descriptor tables or trap table, console */
uint32_t hal_mem_size(void);            /* bytes of RAM from physical 0 */
const char *hal_cmdline(void);          /* the boot command line ("" if none) */
/* Physical pages of the machine the kernel must map at P2V (supervisor, writable)
 * beside its RAM: para's shared page. Returns how many, at most max. */
int hal_machine_pages(uint32_t *pa, int max);

/* ---- interrupts ---- */
void hal_irq_disable(void);
void hal_irq_enable(void);
uint32_t hal_irq_save(void);            /* disables; returns the state to restore */
void hal_irq_restore(uint32_t state);
/* Waits for an interrupt with them on; returns with them off. ticks: how many timer
 * ticks nothing needs (0: do not know): a HAL whose timer is one-shot may skip them,
 * and then calls the tick function once for each period that passed. */
void hal_idle(uint32_t ticks);
/* Starts a periodic tick at hz; tick() runs in the timer's trap, interrupts off. */
void hal_timer_start(uint32_t hz, void (*tick)(void));
/* A trap with vector >= 32 that is not T_SYSCALL: acknowledges and dispatches it. */
void hal_interrupt(struct trapframe *tf);
uint32_t hal_fault_addr(void);          /* the linear address of the last #PF */

/* ---- memory management ---- */
/* Switches to the address space of page directory pd (physical) and to the kernel
 * stack esp0 that traps from user mode land on; pd 0 keeps the address space. */
void hal_switch(uint32_t pd, uint32_t esp0);
/* Writes one entry and drops the translation of u->lin if it is not HAL_NO_LIN. */
void hal_pte_set(const struct pte_update *u);
/* Writes n entries in order (at most HAL_BATCH_MAX), as hal_pte_set each. */
#define HAL_BATCH_MAX   512
void hal_pte_batch(const struct pte_update *u, int n);
void hal_tlb_flush(uint32_t lin);       /* one page */
void hal_tlb_flush_all(void);

/* ---- disk ---- */
/* The machine's disk, read in 4 KiB blocks: x86, the primary ATA disk (PIO, polled);
 * para, the block device of the start-info block (its ring, one notify per batch). */
#define HAL_DISK_BATCH  16      /* blocks per hal_disk_read at most */
uint32_t hal_disk_blocks(void);         /* its size in 4 KiB blocks; 0: no disk */
/* Reads blocks [block, block + n) into buf (page-aligned, in the kernel's map at
 * P2V, n <= HAL_DISK_BATCH pages); 0, or -1 on a device error or a bad range. */
int hal_disk_read(uint32_t block, void *buf, int n);

/* ---- network ---- */
/* The machine's network card, whole Ethernet frames without the FCS: x86, an NE2000
 * at 0x300 (polled, remote DMA); para, the network device of the start-info block
 * (its transmit and receive rings). The kernel's pointers; user memory is fine once
 * vm_user_ok has paged it in. */
#define HAL_NET_FRAME   1514    /* the largest frame */
int hal_net_present(void);              /* 1 if there is a card, else 0 */
void hal_net_mac(uint8_t mac[6]);       /* its MAC address (zeros without a card) */
/* Sends one frame of len bytes (14 to HAL_NET_FRAME); 0, or -1 (no card, bad length,
 * a device error). */
int hal_net_send(const void *frame, uint32_t len);
/* Waits at most timeout_ms for a frame and copies it into buf (cut to cap): its
 * length, 0 on time-out, -1 without a card or on a device error (the frame lost). */
int hal_net_recv(void *buf, uint32_t cap, uint32_t timeout_ms);

/* ---- console, time, exit ---- */
void hal_console_write(const char *buf, uint32_t len);
uint64_t hal_time_ns(void);             /* since boot */
static inline uint64_t hal_cycles(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
__attribute__((noreturn)) void hal_exit(uint32_t status);  /* process status (v << 1) | 1 */

/* ---- provided by the common kernel ---- */
void kmain(void);
void trap(struct trapframe *tf);
extern void alltraps(void);             /* trapasm.S: stubs jump here with vector and error pushed */

#endif

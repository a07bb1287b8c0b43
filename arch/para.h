/*
 * para.h - the para-x86 interface in C: the numbers and layouts docs/para-x86.md
 * specifies, for the monitor (64-bit) and for para guests (32-bit, freestanding).
 *
 * Only fixed-width types, no pointers: a layout means the same to both sides. The
 * document is the reference; this header must say nothing it does not.
 */
#ifndef TRAPEZE_PARA_H
#define TRAPEZE_PARA_H

#include <stdint.h>

/* The image's ELF note (section 1). */
#define PARA_NOTE_NAME          "trapeze"
#define PARA_NOTE_TYPE          0x50415241u     /* 'PARA' */
#define PARA_VERSION            1u

/* Boot state (section 2): EAX = PARA_BOOT_MAGIC, EBX = the start-info block. */
#define PARA_BOOT_MAGIC         0x7a505856u

/* Hypercall numbers (section 4): VMCALL with EAX = the number. */
enum para_call {
	PARA_CONSOLE_WRITE = 0,
	PARA_EXIT = 1,
	PARA_SET_TRAP_TABLE = 2,
	PARA_STACK_SWITCH = 3,
	PARA_EVENT_POLL = 4,
	PARA_SET_TIMER = 5,
	PARA_IDLE = 6,
	PARA_MMU_UPDATE = 7,
	PARA_SET_PT = 8,
	PARA_TLB_FLUSH = 9,
	PARA_CONSOLE_READ = 10,
	PARA_RING_SETUP = 11,
	PARA_RING_NOTIFY = 12,
	PARA_EVENT_ACK = 13,
	PARA_MULTICALL = 14,
	PARA_NCALLS
};

/* Errors (section 4), returned negated in EAX. */
#define PARA_EPERM      1
#define PARA_EIO        5
#define PARA_EFAULT     14
#define PARA_EBUSY      16
#define PARA_EINVAL     22
#define PARA_EROFS      30
#define PARA_ENOSYS     38

/* Limits (section 4). */
#define PARA_CONSOLE_MAX        4096u
#define PARA_TRAPS_MAX          256u
#define PARA_MMU_BATCH_MAX      512u
#define PARA_NO_LIN             0xffffffffu     /* mmu_update: the entry maps no known address */

/* The start-info block (section 3). */
#define PARA_DEV_MAX            8u
enum para_dev_type { PARA_DEV_CONSOLE = 1, PARA_DEV_BLOCK = 2, PARA_DEV_NET = 3 };
struct para_dev {
	uint8_t type;
	uint8_t event;
	uint16_t flags;                 /* block: bit 0 read-only */
	uint32_t a, b, c;               /* block: a = size in 4 KiB blocks; net: a, b = MAC */
};
struct para_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t mem_size;
	uint32_t shared_page;
	uint32_t start_info;
	uint32_t cmdline;
	uint32_t ndev;
	uint32_t reserved;
	struct para_dev dev[PARA_DEV_MAX];
};

/* A set_trap_table entry (section 4). */
struct para_trap {
	uint32_t handler;
	uint8_t vector;
	uint8_t dpl;
	uint16_t zero;
};

/* A multicall entry (section 4): the call, its arguments (EBX, ECX, EDX, ESI), and
 * where the monitor puts its result. */
#define PARA_MULTI_MAX          32u
struct para_multi {
	uint32_t nr;
	uint32_t arg[4];
	int32_t result;
};

/* An mmu_update request (section 4). */
struct para_mmu_req {
	uint32_t ptr;
	uint32_t val;
	uint32_t lin;
};

/* The shared page (section 5). */
struct para_shared {
	uint32_t event_mask;
	uint32_t event_pending;
	uint32_t event_enable;
	uint32_t reserved;
	uint64_t time_ns;
	uint64_t tsc_at_zero;
	uint32_t tsc_mult;
	int32_t tsc_shift;
	uint64_t wall_ns;
};

/* Events (section 6): delivered as vector PARA_EVENT_VECTOR + n. */
#define PARA_EVENT_TIMER        0
#define PARA_EVENT_CONSOLE      1
#define PARA_EVENT_DEVICE       2       /* the first device's; the start-info block says */
#define PARA_EVENT_VECTOR       32

/* The selectors frames carry (section 6). */
#define PARA_KERNEL_CS          0x08
#define PARA_KERNEL_DS          0x10
#define PARA_USER_CS            0x1b
#define PARA_USER_DS            0x23

#endif

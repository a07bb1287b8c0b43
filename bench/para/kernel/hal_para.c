/*
 * hal_para.c - the hardware layer on para-x86 (hal.h, docs/para-x86.md): hypercalls
 * instead of privileged instructions, the shared page's event_mask as the interrupt
 * flag and its TSC fields as the clock, a trap table (exceptions, event 0 as vector
 * 32, INT 0x80 at dpl 3), stack_switch for the kernel stack, a one-shot timer
 * re-armed at every tick, mmu_update (with the linear address) for page-table
 * entries, set_pt for address spaces, tlb_flush, idle, console_write and exit; the
 * block and network devices of the start-info block through their rings (section 8).
 *
 * para.S turned paging on with boot_pd (set_pt) before kmain. The start-info page
 * lies outside the processes' kernel map: hal_init copies what it needs.
 */
#include "defs.h"
#include "para.h"

extern uint32_t para_start_info;        /* physical, in boot_pd's map */
extern uint32_t para_cr2;
extern const uint32_t para_vectors[33];
extern char para_syscall_vector[];

static volatile struct para_shared *shared;
static uint32_t shared_pa;
static uint32_t mem_size;
static char cmdline[256];
static struct para_trap traps[34];
static void (*tick_fn)(void);
static uint64_t period, deadline;

/* A device ring (section 8): requests and their responses share a slot. */
#define RING_SLOTS      63u
struct blk_req { uint32_t id; uint16_t op, zero; uint32_t block, buf; };
struct net_req { uint32_t id, buf, len; };      /* transmit: len; receive: the room */
struct blk_rsp { uint32_t id; int32_t status; };/* receive: the frame's length */
struct ring {
	volatile uint32_t req_prod, req_cons, rsp_prod, rsp_cons;
	uint32_t pad[12];
	union { struct blk_req q; struct net_req n; struct blk_rsp a; uint8_t raw[64]; } slot[RING_SLOTS];
};
static struct ring ring __attribute__((aligned(4096)));
static int disk_dev = -1;               /* its index in the start-info block */
static uint32_t disk_size, disk_event;

/* The network device: its transmit ring and one transmit buffer (a frame at a time),
 * its receive ring and NET_RXBUFS buffers, all posted from boot and each posted again
 * once its frame is copied out. A 2 KiB buffer at a 2 KiB boundary holds any frame
 * without crossing a page. */
#define NET_BUF         2048u
#define NET_RXBUFS      16u
static struct ring net_tx __attribute__((aligned(4096)));
static struct ring net_rx __attribute__((aligned(4096)));
static uint8_t net_txbuf[NET_BUF] __attribute__((aligned(NET_BUF)));
static uint8_t net_rxbuf[NET_RXBUFS][NET_BUF] __attribute__((aligned(4096)));
static int net_dev = -1;
static uint32_t net_event;
static uint8_t net_macaddr[6];

static inline int32_t hcall(uint32_t nr, uint32_t b, uint32_t c, uint32_t d)
{
	int32_t r;
	__asm__ volatile(".byte 0x0f, 0x01, 0xc1"      /* VMCALL */
			 : "=a"(r) : "a"(nr), "b"(b), "c"(c), "d"(d) : "memory", "cc");
	return r;
}

static void check(const char *call, int32_t r)
{
	if (r < 0)
		panic("hypercall %s: %d", call, r);
}

static void net_post_rx(uint32_t buf)
{
	net_rx.slot[net_rx.req_prod % RING_SLOTS].n = (struct net_req){ buf, V2P(net_rxbuf[buf]), NET_BUF };
	__asm__ volatile("" ::: "memory");      /* the slot before the index */
	net_rx.req_prod++;
}

/* The MAC from the record (a: bytes 0-3, b: 4-5), the two rings, every receive buffer
 * posted: the monitor fills them as frames come, notify or not. */
static void net_init(uint32_t k, const struct para_dev *d)
{
	net_dev = k;
	net_event = d->event;
	if (net_event > 30)
		panic("the network device's event %u", net_event);
	for (int i = 0; i < 6; i++)
		net_macaddr[i] = (i < 4 ? d->a >> 8 * i : d->b >> 8 * (i - 4)) & 0xff;
	check("ring_setup", hcall(PARA_RING_SETUP, k, V2P(&net_tx), V2P(&net_rx)));
	for (uint32_t b = 0; b < NET_RXBUFS; b++)
		net_post_rx(b);
}

void hal_init(void)
{
	if (para_start_info >= 0x40000000u - 4096)
		panic("the start-info block at %x: minik maps at most 1 GiB of RAM", para_start_info);
	const struct para_start_info *si = P2V(para_start_info);
	shared_pa = si->shared_page;
	shared = P2V(shared_pa);
	mem_size = si->mem_size;
	const char *c = P2V(si->cmdline);
	for (uint32_t i = 0; i < sizeof(cmdline) - 1 && c[i]; i++)
		cmdline[i] = c[i];
	for (int v = 0; v < 33; v++)
		traps[v] = (struct para_trap){ para_vectors[v], (uint8_t)v, 0, 0 };
	traps[33] = (struct para_trap){ (uint32_t)para_syscall_vector, T_SYSCALL, 3, 0 };
	check("set_trap_table", hcall(PARA_SET_TRAP_TABLE, (uint32_t)traps, 34, 0));
	for (uint32_t k = 0; k < si->ndev && k < PARA_DEV_MAX; k++) {
		if (si->dev[k].type == PARA_DEV_BLOCK && disk_dev < 0) {
			disk_dev = k;
			disk_size = si->dev[k].a;
			disk_event = si->dev[k].event;
			if (disk_event > 30)
				panic("the block device's event %u", disk_event);
			check("ring_setup", hcall(PARA_RING_SETUP, k, V2P(&ring), 0));
		} else if (si->dev[k].type == PARA_DEV_NET && net_dev < 0) {
			net_init(k, &si->dev[k]);
		}
	}
}

uint32_t hal_mem_size(void) { return mem_size; }
const char *hal_cmdline(void) { return cmdline; }

int hal_machine_pages(uint32_t *pa, int max)
{
	if (max < 1)
		return 0;
	pa[0] = shared_pa;
	return 1;
}

void hal_irq_disable(void)
{
	shared->event_mask = 1;
	__asm__ volatile("" ::: "memory");
}

/* Unmasking must look for what arrived while masked (section 5). */
void hal_irq_enable(void)
{
	__asm__ volatile("" ::: "memory");
	shared->event_mask = 0;
	__asm__ volatile("" ::: "memory");
	if (shared->event_pending & shared->event_enable)
		hcall(PARA_EVENT_POLL, 0, 0, 0);
}

uint32_t hal_irq_save(void)
{
	uint32_t masked = shared->event_mask;
	hal_irq_disable();
	return !masked;
}

void hal_irq_restore(uint32_t state)
{
	if (state)
		hal_irq_enable();
}

static void arm(uint64_t ns);

/* idle returns when an enabled event is pending even while masked: no lost wakeup.
 * With ticks nothing needs, the timer is set past them (no wakeup per tick while idle:
 * the point of a one-shot timer and an idle with a time-out), and the periods that
 * passed are counted when it returns. */
void hal_idle(uint32_t ticks)
{
	if (ticks > 1 && tick_fn) {
		arm(deadline + (uint64_t)(ticks - 1) * period);
		hcall(PARA_IDLE, 0, 0, 0);
		uint64_t now = hal_time_ns();
		while (deadline <= now) {               /* the ticks slept through, counted here */
			deadline += period;
			tick_fn();
		}
		hcall(PARA_EVENT_ACK, 1u << PARA_EVENT_TIMER, 0, 0);
		arm(deadline);
	} else {
		hcall(PARA_IDLE, 0, 0, 0);
	}
	hal_irq_enable();
	hal_irq_disable();
}

/* Time since boot from the TSC (section 5), the product taken to 96 bits. */
uint64_t hal_time_ns(void)
{
	uint64_t d = hal_cycles() - shared->tsc_at_zero;
	int32_t shift = shared->tsc_shift;
	uint32_t mult = shared->tsc_mult;
	d = shift >= 0 ? d << shift : d >> -shift;
	return (d >> 32) * mult + (((d & 0xffffffffu) * mult) >> 32);
}

static void arm(uint64_t ns)
{
	check("set_timer", hcall(PARA_SET_TIMER, (uint32_t)ns, (uint32_t)(ns >> 32), 0));
}

void hal_timer_start(uint32_t hz, void (*tick)(void))
{
	period = 1000000000u / hz;
	tick_fn = tick;
	deadline = hal_time_ns() + period;
	shared->event_enable |= 1u << PARA_EVENT_TIMER;
	arm(deadline);
}

/* Event 0: acknowledge, re-arm one period after the last deadline (or from now, if
 * that has passed already), then the tick. */
void hal_interrupt(struct trapframe *tf)
{
	if (tf->trapno != PARA_EVENT_VECTOR + PARA_EVENT_TIMER)
		return;
	hcall(PARA_EVENT_ACK, 1u << PARA_EVENT_TIMER, 0, 0);
	uint64_t now = hal_time_ns();
	deadline += period;
	if (deadline <= now)
		deadline = now + period;
	arm(deadline);
	if (tick_fn)
		tick_fn();
}

uint32_t hal_fault_addr(void)
{
	return para_cr2;
}

void hal_switch(uint32_t pd, uint32_t esp0)
{
	if (!pd) {
		check("stack_switch", hcall(PARA_STACK_SWITCH, esp0, 0, 0));
		return;
	}
	/* Both in one exit (multicall, section 4); interrupts are off in the kernel. */
	static struct para_multi m[2];
	m[0] = (struct para_multi){ PARA_STACK_SWITCH, { esp0, 0, 0, 0 }, 0 };
	m[1] = (struct para_multi){ PARA_SET_PT, { pd, 0, 0, 0 }, 0 };
	check("multicall", hcall(PARA_MULTICALL, (uint32_t)m, 2, 0));
	check("stack_switch", m[0].result);
	check("set_pt", m[1].result);
}

void hal_pte_set(const struct pte_update *u)
{
	hal_pte_batch(u, 1);
}

/* struct pte_update is struct para_mmu_req: {ptr, val, lin}, HAL_NO_LIN = PARA_NO_LIN. */
void hal_pte_batch(const struct pte_update *u, int n)
{
	check("mmu_update", hcall(PARA_MMU_UPDATE, (uint32_t)u, n, 0));
}

void hal_tlb_flush(uint32_t lin)
{
	check("tlb_flush", hcall(PARA_TLB_FLUSH, lin, 1, 0));
}

void hal_tlb_flush_all(void)
{
	check("tlb_flush", hcall(PARA_TLB_FLUSH, 0, 0, 0));
}

uint32_t hal_disk_blocks(void)
{
	return disk_dev < 0 ? 0 : disk_size;
}

/* Completion may come after ring_notify (section 8): idle until the responses are
 * there. The device's event is enabled only for the wait: the trap table has no
 * vector for it, and idle wakes for an enabled event even while masked. */
static void disk_wait(uint32_t want)
{
	uint32_t bit = 1u << disk_event;
	shared->event_enable |= bit;
	while ((int32_t)(ring.rsp_prod - want) < 0)
		hcall(PARA_IDLE, 0, 0, 0);
	shared->event_enable &= ~bit;
	hcall(PARA_EVENT_ACK, bit, 0, 0);
}

/* One request per block, then the notify and the acknowledgement of the event it
 * raises in one exit (multicall); the ring is empty between calls, so the n <= 63
 * requests always fit. */
int hal_disk_read(uint32_t block, void *buf, int n)
{
	if (disk_dev < 0 || n <= 0 || n > HAL_DISK_BATCH || block >= disk_size ||
	    (uint32_t)n > disk_size - block)
		return -1;
	_Static_assert(HAL_DISK_BATCH <= RING_SLOTS, "a batch fits the ring");
	uint32_t first = ring.req_prod, pa = V2P(buf);
	for (int k = 0; k < n; k++)
		ring.slot[(first + k) % RING_SLOTS].q =
			(struct blk_req){ first + k, 0, 0, block + k, pa + k * 4096 };
	__asm__ volatile("" ::: "memory");      /* the slots before the index (x86 stores are ordered) */
	ring.req_prod = first + n;
	static struct para_multi m[2];
	m[0] = (struct para_multi){ PARA_RING_NOTIFY, { disk_dev, 0, 0, 0 }, 0 };
	m[1] = (struct para_multi){ PARA_EVENT_ACK, { 1u << disk_event, 0, 0, 0 }, 0 };
	check("multicall", hcall(PARA_MULTICALL, (uint32_t)m, 2, 0));
	if (m[0].result < 0)
		return -1;
	if ((int32_t)(ring.rsp_prod - (first + n)) < 0)
		disk_wait(first + n);
	int bad = 0;
	for (int k = 0; k < n; k++) {
		struct blk_rsp a = ring.slot[(first + k) % RING_SLOTS].a;
		bad |= a.id != first + k || a.status != 0;
	}
	ring.rsp_cons = first + n;
	return bad ? -1 : 0;
}

int hal_net_present(void)
{
	return net_dev >= 0;
}

void hal_net_mac(uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		mac[i] = net_macaddr[i];
}

/* Idles until *prod differs from old or the deadline passes (0: none); 1 if it moved.
 * The device's event is enabled only for the wait, as in disk_wait; a wakeup for it
 * that moved nothing here (an earlier batch's) is acknowledged, so the next idle
 * sleeps. Other enabled events (the tick, pending while masked) end idle at once: the
 * wait then polls until they are delivered on the way back to user mode. */
static int net_wait(volatile uint32_t *prod, uint32_t old, uint64_t deadline)
{
	uint32_t bit = 1u << net_event;
	shared->event_enable |= bit;
	while (*prod == old && (!deadline || hal_time_ns() < deadline)) {
		hcall(PARA_IDLE, (uint32_t)deadline, (uint32_t)(deadline >> 32), 0);
		if (*prod == old && (shared->event_pending & bit))
			hcall(PARA_EVENT_ACK, bit, 0, 0);
	}
	shared->event_enable &= ~bit;
	hcall(PARA_EVENT_ACK, bit, 0, 0);
	return *prod != old;
}

/* One transmit slot and one exit, a multicall of ring_notify and event_ack of the
 * event its response raises. trapeze answers within the notify; a later answer is
 * waited for, so that the buffer and the slot are free for the next frame. */
int hal_net_send(const void *frame, uint32_t len)
{
	if (net_dev < 0 || len < 14 || len > HAL_NET_FRAME)
		return -1;
	memcpy(net_txbuf, frame, len);
	uint32_t id = net_tx.req_prod;
	net_tx.slot[id % RING_SLOTS].n = (struct net_req){ id, V2P(net_txbuf), len };
	__asm__ volatile("" ::: "memory");
	net_tx.req_prod = id + 1;
	static struct para_multi m[2];
	m[0] = (struct para_multi){ PARA_RING_NOTIFY, { net_dev, 0, 0, 0 }, 0 };
	m[1] = (struct para_multi){ PARA_EVENT_ACK, { 1u << net_event, 0, 0, 0 }, 0 };
	check("multicall", hcall(PARA_MULTICALL, (uint32_t)m, 2, 0));
	if (m[0].result < 0)
		return -1;
	if (net_tx.rsp_prod == id)
		net_wait(&net_tx.rsp_prod, id, 0);
	struct blk_rsp a = net_tx.slot[id % RING_SLOTS].a;
	net_tx.rsp_cons = id + 1;
	return a.id == id && a.status == 0 ? 0 : -1;
}

/* The next receive response: wait for it (idle, with the deadline), copy the frame
 * out, post its buffer again. */
int hal_net_recv(void *buf, uint32_t cap, uint32_t timeout_ms)
{
	if (net_dev < 0)
		return -1;
	uint32_t cons = net_rx.rsp_cons;
	if (net_rx.rsp_prod == cons &&
	    !net_wait(&net_rx.rsp_prod, cons, hal_time_ns() + (uint64_t)timeout_ms * 1000000u))
		return 0;
	struct blk_rsp a = net_rx.slot[cons % RING_SLOTS].a;
	net_rx.rsp_cons = cons + 1;
	if (a.id >= NET_RXBUFS)
		panic("net: a receive response for buffer %u", a.id);
	int len = a.status;
	if (len > 0) {
		uint32_t n = (uint32_t)len < cap ? (uint32_t)len : cap;
		memcpy(buf, net_rxbuf[a.id], n < NET_BUF ? n : NET_BUF);
	}
	net_post_rx(a.id);
	return len > 0 ? len : -1;
}

void hal_console_write(const char *buf, uint32_t len)
{
	while (len) {
		uint32_t n = len < PARA_CONSOLE_MAX ? len : PARA_CONSOLE_MAX;
		hcall(PARA_CONSOLE_WRITE, (uint32_t)buf, n, 0);
		buf += n;
		len -= n;
	}
}

void hal_exit(uint32_t status)
{
	hcall(PARA_EXIT, status, 0, 0);
	for (;;)
		;
}

_Static_assert(sizeof(struct pte_update) == sizeof(struct para_mmu_req), "mmu_update layout");
_Static_assert(HAL_NO_LIN == PARA_NO_LIN, "no-lin value");

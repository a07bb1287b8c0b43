/*
 * hal_x86.c - the hardware layer on stock x86 (hal.h): a GDT with kernel and user
 * segments and a TSS for ESP0, an IDT of interrupt gates (INT 0x80 at DPL 3), the
 * 8259 pair remapped to 32-47, the 8254 PIT on IRQ 0 as the tick, the 16550 at
 * 0x3f8 polled for the console, CR3 and INVLPG for the MMU, HLT to idle, QEMU's
 * isa-debug-exit port 0xf4 to stop. Time is the TSC, calibrated against the PIT.
 * The disk is the primary ATA channel's device 0, read with polled PIO; the network
 * card an NE2000 at 0x300, polled.
 * x86.S turned paging on (CR4.PSE, CR0.PG and WP) with boot_pd before kmain.
 *
 * The kernel's data segments are the flat user data selector (DPL 3, loadable at
 * CPL 0), so that no trap has to reload them; SS is the kernel's.
 */
#include "defs.h"

#define COM1            0x3f8
#define PIC1            0x20
#define PIC2            0xa0
#define PIT_HZ          1193182u

struct mbi { uint32_t flags, mem_lower, mem_upper, boot_device, cmdline; };
extern uint32_t x86_mbi;                /* physical, as the loader gave it */
extern const uint32_t x86_vectors[256];

/* The 32-bit TSS: only SS0:ESP0 matter (no I/O bitmap, no hardware task switch). */
struct tss {
	uint32_t link, esp0, ss0, unused[22];
	uint16_t trap, iomap;
} __attribute__((packed));

static uint64_t gdt[6] __attribute__((aligned(8)));
static uint64_t idt[256] __attribute__((aligned(8)));
static struct tss tss;
static void (*tick_fn)(void);
static volatile uint32_t pit_ticks;
static uint64_t tsc0, tsc_per_ms;
static char cmdline[256];
static uint32_t disk_blocks;

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void insw(uint16_t port, void *buf, uint32_t n)
{
	__asm__ volatile("rep insw" : "+D"(buf), "+c"(n) : "d"(port) : "memory");
}
static inline void outsw(uint16_t port, const void *buf, uint32_t n)
{
	__asm__ volatile("rep outsw" : "+S"(buf), "+c"(n) : "d"(port) : "memory");
}
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }

/* A segment descriptor (SDM vol. 3 3.4.5): G=1, 32-bit, for base 0 / limit 4 GiB. */
static uint64_t seg(uint32_t base, uint32_t limit, uint32_t type_dpl_s_p, int g)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)type_dpl_s_p << 40 | (uint64_t)(limit >> 16 & 0xf) << 48 |
	       (uint64_t)(g ? 0xc : 0x0) << 52 | (uint64_t)(base >> 24) << 56;
}

/* An interrupt gate (SDM vol. 3 6.11): IF is cleared on entry. */
static uint64_t gate(uint32_t off, uint16_t sel, int dpl)
{
	return (uint64_t)(off & 0xffff) | (uint64_t)sel << 16 |
	       (uint64_t)(0x8e | dpl << 5) << 40 | (uint64_t)(off >> 16) << 48;
}

static void load_tables(void)
{
	struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gd, id;
	gdt[1] = seg(0, 0xfffff, 0x9a, 1);              /* kernel code */
	gdt[2] = seg(0, 0xfffff, 0x92, 1);              /* kernel data */
	gdt[3] = seg(0, 0xfffff, 0xfa, 1);              /* user code, DPL 3 */
	gdt[4] = seg(0, 0xfffff, 0xf2, 1);              /* user data, DPL 3 */
	tss.ss0 = SEG_KDATA;
	tss.iomap = sizeof(tss);
	gdt[5] = seg((uint32_t)&tss, sizeof(tss) - 1, 0x89, 0);  /* available 32-bit TSS */
	for (int v = 0; v < 256; v++)
		idt[v] = gate(x86_vectors[v], SEG_KCODE, v == T_SYSCALL ? 3 : 0);
	gd.limit = sizeof(gdt) - 1;
	gd.base = (uint32_t)gdt;
	id.limit = sizeof(idt) - 1;
	id.base = (uint32_t)idt;
	__asm__ volatile("lgdt %0\n\t"
			 "ljmp $0x08, $1f\n"
			 "1:\tmov %1, %%ds\n\tmov %1, %%es\n\tmov %1, %%fs\n\tmov %1, %%gs\n\t"
			 "mov %2, %%ss\n\t"
			 "lidt %3\n\t"
			 "ltr %w4"
			 :: "m"(gd), "r"(SEG_UDATA), "r"(SEG_KDATA), "m"(id), "r"(0x28) : "memory");
}

/* The 8259 pair (ICW1-4): IRQs 0-15 at vectors 32-47, all masked but IRQ 0. */
static void pic_init(void)
{
	outb(PIC1, 0x11); outb(PIC2, 0x11);
	outb(PIC1 + 1, 32); outb(PIC2 + 1, 40);
	outb(PIC1 + 1, 4); outb(PIC2 + 1, 2);
	outb(PIC1 + 1, 1); outb(PIC2 + 1, 1);
	outb(PIC1 + 1, 0xfe); outb(PIC2 + 1, 0xff);
}

/* ---- the disk: ATA/ATAPI-6 (T13/1410D), the primary channel, device 0, PIO ----
 * Polled, not IRQ 14: the kernel runs with interrupts off and a read lasts a small
 * part of a tick, so nIEN keeps INTRQ off the (masked) 8259 line. */
#define ATA             0x1f0   /* command block: data, error, count, LBA 0-23, device, status/command */
#define ATA_CTL         0x3f6   /* Alternate Status / Device Control */
#define ATA_ERR         0x01    /* Status (7.15) */
#define ATA_DRQ         0x08
#define ATA_DF          0x20
#define ATA_BSY         0x80
#define ATA_NIEN        0x02    /* Device Control (7.9) */
#define ATA_DEV_LBA     0xe0    /* Device: LBA, device 0, the obsolete bits set */

/* The 400 ns a device may take to post status after a command (9.1): four reads of
 * Alternate Status. */
static void ata_delay400(void)
{
	for (int i = 0; i < 4; i++)
		inb(ATA_CTL);
}

/* Status once BSY is clear (reading Status acknowledges INTRQ); 0xff if it never is. */
static uint8_t ata_wait(void)
{
	for (uint32_t i = 0; i < 100000000u; i++) {
		uint8_t s = inb(ATA + 7);
		if (!(s & ATA_BSY))
			return s;
	}
	return 0xff;
}

/* A READ SECTORS (8.34, LBA28) or READ SECTORS EXT (8.35, LBA48) of count sectors
 * (at most 256) from lba; the 48-bit registers take the high-order byte first. */
static void ata_read_cmd(uint64_t lba, uint32_t count)
{
	if (lba + count <= 1u << 28) {
		outb(ATA + 6, ATA_DEV_LBA | (lba >> 24 & 0x0f));
		outb(ATA + 2, count & 0xff);            /* 0 means 256 */
		outb(ATA + 3, lba);
		outb(ATA + 4, lba >> 8);
		outb(ATA + 5, lba >> 16);
		outb(ATA + 7, 0x20);
	} else {
		outb(ATA + 6, ATA_DEV_LBA);
		outb(ATA + 2, count >> 8);
		outb(ATA + 3, lba >> 24);
		outb(ATA + 4, lba >> 32);
		outb(ATA + 5, lba >> 40);
		outb(ATA + 2, count);
		outb(ATA + 3, lba);
		outb(ATA + 4, lba >> 8);
		outb(ATA + 5, lba >> 16);
		outb(ATA + 7, 0x24);
	}
	ata_delay400();
}

/* A disk answers IDENTIFY DEVICE (8.15); an empty channel reads 0 (trapeze, QEMU),
 * a floating bus 0xff. Its size: words 100-103 with the 48-bit feature set (word 83
 * bit 10), else words 60-61. */
static void ata_init(void)
{
	uint16_t id[256];
	outb(ATA_CTL, ATA_NIEN);
	outb(ATA + 6, ATA_DEV_LBA);
	ata_delay400();
	uint8_t s = inb(ATA_CTL);
	if (s == 0x00 || s == 0xff)
		return;
	outb(ATA + 7, 0xec);
	ata_delay400();
	s = ata_wait();
	if ((s & (ATA_ERR | ATA_DF | ATA_DRQ)) != ATA_DRQ)
		return;
	insw(ATA, id, 256);
	uint32_t sectors = id[60] | (uint32_t)id[61] << 16;
	if (id[83] & 1u << 10)
		sectors = id[102] | id[103] ? 0xffffffffu : id[100] | (uint32_t)id[101] << 16;
	disk_blocks = sectors / 8;
}

uint32_t hal_disk_blocks(void)
{
	return disk_blocks;
}

/* One command for the n blocks (8n sectors), then per sector: BSY clear, DRQ set,
 * 256 words from the data port (the PIO data-in protocol, 9.7). */
int hal_disk_read(uint32_t block, void *buf, int n)
{
	if (n <= 0 || n > HAL_DISK_BATCH || block >= disk_blocks || (uint32_t)n > disk_blocks - block)
		return -1;
	uint32_t count = 8 * n;
	ata_read_cmd((uint64_t)block * 8, count);
	uint16_t *p = buf;
	for (uint32_t k = 0; k < count; k++, p += 256) {
		uint8_t s = ata_wait();
		if ((s & (ATA_ERR | ATA_DF | ATA_DRQ)) != ATA_DRQ)
			return -1;
		insw(ATA, p, 256);
	}
	return 0;
}

/* ---- the network card: an NE2000 (National DP8390D datasheet) at 0x300 ----
 * The 8390's registers at 0x300-0x30f (in pages chosen by CR.PS), the remote-DMA data
 * port at 0x310, reset at 0x31f; 16 KiB of card memory at pages 0x40-0x7f (256 bytes
 * each): one frame's transmit buffer at 0x40, the receive ring after it. Polled, as
 * the disk is: ISR's bits rise whatever IMR says, so IMR stays 0 and IRQ 9 masked. */
#define NE              0x300
#define NE_DATA         (NE + 0x10)
#define NE_RESET        (NE + 0x1f)
#define NE_CR           0x00    /* page 0 unless said: */
#define NE_PSTART       0x01
#define NE_PSTOP        0x02
#define NE_BNRY         0x03
#define NE_TPSR         0x04
#define NE_TBCR0        0x05
#define NE_TBCR1        0x06
#define NE_ISR          0x07
#define NE_RSAR0        0x08
#define NE_RSAR1        0x09
#define NE_RBCR0        0x0a
#define NE_RBCR1        0x0b
#define NE_RCR          0x0c
#define NE_TCR          0x0d
#define NE_DCR          0x0e
#define NE_IMR          0x0f
#define NE_PAR0         0x01    /* page 1: PAR0-5, CURR, MAR0-7 */
#define NE_CURR         0x07
#define NE_MAR0         0x08
#define CR_STP          0x01
#define CR_STA          0x02
#define CR_TXP          0x04
#define CR_RREAD        0x08    /* RD0: remote read */
#define CR_RWRITE       0x10    /* RD1: remote write */
#define CR_NODMA        0x20    /* RD2: abort/complete remote DMA */
#define CR_PAGE1        0x40
#define ISR_PRX         0x01
#define ISR_PTX         0x02
#define ISR_TXE         0x08
#define ISR_OVW         0x10
#define ISR_RDC         0x40
#define ISR_RST         0x80
#define NE_TX_PAGE      0x40
#define NE_RX_START     0x46    /* 6 pages hold a 1514-byte frame */
#define NE_RX_STOP      0x80

static int net_ok;
static uint8_t net_macaddr[6];
static uint8_t net_next;                /* the ring page the next frame starts at */

static void ne_out(uint8_t reg, uint8_t v) { outb(NE + reg, v); }
static uint8_t ne_in(uint8_t reg) { return inb(NE + reg); }

/* Remote DMA (DP8390D "Remote DMA"): count bytes at card address addr through the
 * data port, a word at a time (DCR.WTS); an odd count moves one byte more on the
 * card's side, the last word's high byte dropped or zero here. Waits for ISR.RDC. */
static void ne_dma_setup(uint16_t addr, uint16_t count, uint8_t cmd)
{
	ne_out(NE_ISR, ISR_RDC);
	ne_out(NE_RBCR0, count & 0xff);
	ne_out(NE_RBCR1, count >> 8);
	ne_out(NE_RSAR0, addr & 0xff);
	ne_out(NE_RSAR1, addr >> 8);
	ne_out(NE_CR, cmd | CR_STA);
}

static void ne_dma_done(void)
{
	for (uint32_t i = 0; i < 1000000u && !(ne_in(NE_ISR) & ISR_RDC); i++)
		;
	ne_out(NE_ISR, ISR_RDC);
}

static void ne_read(uint16_t addr, void *buf, uint16_t count)
{
	ne_dma_setup(addr, (count + 1) & ~1u, CR_RREAD);
	insw(NE_DATA, buf, count / 2);
	if (count & 1)
		((uint8_t *)buf)[count - 1] = inw(NE_DATA) & 0xff;
	ne_dma_done();
}

static void ne_write(uint16_t addr, const void *buf, uint16_t count)
{
	ne_dma_setup(addr, (count + 1) & ~1u, CR_RWRITE);
	outsw(NE_DATA, buf, count / 2);
	if (count & 1)
		outw(NE_DATA, ((const uint8_t *)buf)[count - 1]);
	ne_dma_done();
}

/* Reset, then the datasheet's initialization order (DP8390D "Initialization
 * Procedure"): stopped, DCR, RBCR 0, RCR monitor and TCR loopback while the ring and
 * the addresses are set, then started with TCR normal and RCR taking broadcast and
 * our own address. A card answers with CR as written: an empty ISA bus reads 0
 * (trapeze) or 0xff (QEMU). The MAC is the first 6 of the PROM's 16 bytes, each one
 * doubled in word mode (card address 0). */
static void ne_init(void)
{
	ne_out(NE_CR, CR_NODMA | CR_STP);
	if (ne_in(NE_CR) != (CR_NODMA | CR_STP))
		return;
	outb(NE_RESET, inb(NE_RESET));          /* a read of the reset port resets */
	for (uint32_t i = 0; i < 100000u && !(ne_in(NE_ISR) & ISR_RST); i++)
		;
	ne_out(NE_CR, CR_NODMA | CR_STP);
	ne_out(NE_DCR, 0x49);                   /* word transfers, normal mode, FIFO 8 bytes */
	ne_out(NE_RBCR0, 0);
	ne_out(NE_RBCR1, 0);
	ne_out(NE_RCR, 0x20);                   /* monitor */
	ne_out(NE_TCR, 0x02);                   /* internal loopback */
	ne_out(NE_ISR, 0xff);
	ne_out(NE_IMR, 0);
	uint16_t prom[6];
	ne_read(0, prom, sizeof(prom));
	for (int i = 0; i < 6; i++)
		net_macaddr[i] = prom[i] & 0xff;
	ne_out(NE_TPSR, NE_TX_PAGE);
	ne_out(NE_PSTART, NE_RX_START);
	ne_out(NE_BNRY, NE_RX_START);
	ne_out(NE_PSTOP, NE_RX_STOP);
	ne_out(NE_CR, CR_PAGE1 | CR_NODMA | CR_STP);
	for (int i = 0; i < 6; i++)
		ne_out(NE_PAR0 + i, net_macaddr[i]);
	for (int i = 0; i < 8; i++)
		ne_out(NE_MAR0 + i, 0);
	net_next = NE_RX_START + 1;             /* BNRY trails the next frame by a page */
	ne_out(NE_CURR, net_next);
	ne_out(NE_CR, CR_NODMA | CR_STA);
	ne_out(NE_ISR, 0xff);
	ne_out(NE_TCR, 0x00);                   /* normal */
	ne_out(NE_RCR, 0x04);                   /* AB: broadcast; our address always */
	net_ok = 1;
}

int hal_net_present(void)
{
	return net_ok;
}

void hal_net_mac(uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		mac[i] = net_macaddr[i];
}

/* The frame into the transmit pages, then TPSR/TBCR and CR.TXP; waits for the
 * transmission's end (ISR.PTX, or TXE: a wire's drop, not the caller's error). */
int hal_net_send(const void *frame, uint32_t len)
{
	if (!net_ok || len < 14 || len > HAL_NET_FRAME)
		return -1;
	ne_write(NE_TX_PAGE << 8, frame, len);
	ne_out(NE_ISR, ISR_PTX | ISR_TXE);
	ne_out(NE_TPSR, NE_TX_PAGE);
	ne_out(NE_TBCR0, len & 0xff);
	ne_out(NE_TBCR1, len >> 8);
	ne_out(NE_CR, CR_NODMA | CR_TXP | CR_STA);
	for (uint32_t i = 0; i < 10000000u && !(ne_in(NE_ISR) & (ISR_PTX | ISR_TXE)); i++)
		;
	ne_out(NE_ISR, ISR_PTX | ISR_TXE);
	return 0;
}

/* CURR, the page the card writes the next frame to (page 1). */
static uint8_t ne_curr(void)
{
	ne_out(NE_CR, CR_PAGE1 | CR_NODMA | CR_STA);
	uint8_t c = ne_in(NE_CURR);
	ne_out(NE_CR, CR_NODMA | CR_STA);
	return c;
}

/* The ring holds frames while net_next != CURR. Each starts with the 4-byte header
 * the 8390 writes (receive status, next page, length with the header); the frame is
 * read in at most two pieces (it may wrap at PSTOP), then BNRY gives its pages back.
 * No recovery from a ring overflow (ISR.OVW): one frame in flight never fills it. */
int hal_net_recv(void *buf, uint32_t cap, uint32_t timeout_ms)
{
	if (!net_ok)
		return -1;
	uint64_t end = hal_cycles() + (uint64_t)timeout_ms * tsc_per_ms;
	while (net_next == ne_curr()) {
		if (hal_cycles() >= end)
			return 0;
	}
	ne_out(NE_ISR, ISR_PRX | ISR_OVW);
	uint8_t hdr[4];
	ne_read(net_next << 8, hdr, 4);
	uint32_t len = (hdr[2] | hdr[3] << 8) - 4;
	if (hdr[1] < NE_RX_START || hdr[1] >= NE_RX_STOP || len > HAL_NET_FRAME) {
		net_next = ne_curr();                   /* a broken ring: drop what it holds */
		len = 0;
	} else {
		uint32_t n = len < cap ? len : cap;
		uint32_t at = (net_next << 8) + 4, room = (NE_RX_STOP << 8) - at;
		ne_read(at, buf, n < room ? n : room);
		if (n > room)
			ne_read(NE_RX_START << 8, (uint8_t *)buf + room, n - room);
		net_next = hdr[1];
	}
	ne_out(NE_BNRY, net_next == NE_RX_START ? NE_RX_STOP - 1 : net_next - 1);
	return len ? (int)len : -1;
}

/* The loader's command line may lie just past the image, in what becomes free
 * memory (QEMU puts it there): copied before kinit. */
void hal_init(void)
{
	const struct mbi *mbi = P2V(x86_mbi);
	if (mbi->flags & 4) {
		const char *c = P2V(mbi->cmdline);
		for (uint32_t i = 0; i < sizeof(cmdline) - 1 && c[i]; i++)
			cmdline[i] = c[i];
	}
	load_tables();
	pic_init();
	outb(COM1 + 3, 0x03);           /* 8N1; the divisor as the firmware left it */
	ata_init();
	ne_init();
}

uint32_t hal_mem_size(void)
{
	const struct mbi *mbi = P2V(x86_mbi);
	if (mbi->flags & 1)
		return (mbi->mem_upper + 1024) * 1024;
	return 64u << 20;
}

const char *hal_cmdline(void)
{
	return cmdline;
}

int hal_machine_pages(uint32_t *pa, int max)
{
	(void)pa, (void)max;
	return 0;
}

void hal_irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
void hal_irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }

uint32_t hal_irq_save(void)
{
	uint32_t f;
	__asm__ volatile("pushfl; popl %0; cli" : "=r"(f) :: "memory");
	return f & FL_IF;
}

void hal_irq_restore(uint32_t state)
{
	if (state)
		hal_irq_enable();
}

void hal_idle(uint32_t ticks)
{
	(void)ticks;                    /* the PIT ticks on: HLT wakes at the next one */
	__asm__ volatile("sti; hlt; cli" ::: "memory");      /* STI's shadow covers HLT */
}

/* Mode 2 (rate generator) on channel 0; then 20 ticks against the TSC. */
void hal_timer_start(uint32_t hz, void (*tick)(void))
{
	uint32_t div = PIT_HZ / hz;
	outb(0x43, 0x34);
	outb(0x40, div & 0xff);
	outb(0x40, div >> 8);
	uint32_t k = pit_ticks;
	while (pit_ticks == k)
		hal_idle(0);
	tsc0 = hal_cycles();
	k = pit_ticks;
	while (pit_ticks - k < 20)
		hal_idle(0);
	tsc_per_ms = udiv64((hal_cycles() - tsc0) * hz, 20 * 1000);
	if (!tsc_per_ms)
		tsc_per_ms = 1;
	tick_fn = tick;
}

void hal_interrupt(struct trapframe *tf)
{
	uint32_t irq = tf->trapno - 32;
	if (irq == 7 || irq == 15)              /* spurious: no EOI for it on its chip */
		return;
	if (irq >= 8)
		outb(PIC2, 0x20);
	outb(PIC1, 0x20);
	if (irq == 0) {
		pit_ticks++;
		if (tick_fn)
			tick_fn();
	}
}

uint32_t hal_fault_addr(void)
{
	uint32_t a;
	__asm__ volatile("mov %%cr2, %0" : "=r"(a));
	return a;
}

void hal_switch(uint32_t pd, uint32_t esp0)
{
	tss.esp0 = esp0;
	if (pd)
		__asm__ volatile("mov %0, %%cr3" :: "r"(pd) : "memory");
}

void hal_tlb_flush(uint32_t lin)
{
	__asm__ volatile("invlpg (%0)" :: "r"(lin) : "memory");
}

void hal_tlb_flush_all(void)
{
	uint32_t r;
	__asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(r) :: "memory");
}

void hal_pte_set(const struct pte_update *u)
{
	*(volatile uint32_t *)P2V(u->ptr) = u->val;
	if (u->lin != HAL_NO_LIN)
		hal_tlb_flush(u->lin);
}

void hal_pte_batch(const struct pte_update *u, int n)
{
	for (int i = 0; i < n; i++)
		hal_pte_set(&u[i]);
}

void hal_console_write(const char *buf, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		while (!(inb(COM1 + 5) & 0x20))
			;
		outb(COM1, buf[i]);
	}
}

uint64_t hal_time_ns(void)
{
	if (!tsc_per_ms)
		return 0;
	return udiv64((hal_cycles() - tsc0) * 1000000, tsc_per_ms);
}

void hal_exit(uint32_t status)
{
	outb(0xf4, status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/*
 * ne2000.c - an NE2000 ISA card: a DP8390 network interface controller, 16 KiB of
 * buffer memory at 0x4000-0x7fff and the station address PROM at 0, reached only by
 * remote DMA through the data port. Register map and bits from the DP8390D datasheet
 * (National, 1995): 4.0 the register pages selected by CR.PS, 7.0 reception into the
 * buffer ring, 8.0 transmission, 9.0/10.0 remote DMA; the board (data port 0x10,
 * reset port 0x1f, the doubled PROM) as QEMU's ne2k_isa has it.
 *
 * Design: every operation completes inside the guest's port access or the board's
 * update: CR.TXP hands TBCR bytes at TPSR to netdev_send and reports PTX at once; a
 * remote DMA moves one byte or word per data-port access. Received frames are taken
 * from the back end (never blocking) while the card runs and the ring has room for the
 * largest frame; a frame then passes the address filter, is padded to 60 bytes, and is
 * stored behind a 4-byte header (status, next page, byte count) at CURR. Short of that
 * room the card leaves frames in the back end, as QEMU does with a full ring: the
 * datasheet's overflow (7.0 "Buffer Ring Overflow": OVW, RXE, the missed-packet count)
 * is what a frame that would still reach BNRY gets, which rx_room() rules out.
 *
 * Hostile registers: every access to buffer memory goes through mem_read/mem_write,
 * which answer 0xff / drop outside the PROM and the 16 KiB; every loop is bounded by a
 * frame's length. A ring with PSTART >= PSTOP, or CURR or BNRY outside it, has no
 * room. A transmit whose bytes are not all in buffer memory, or whose TBCR is below 14
 * or above 1514, sends nothing but completes with PTX (QEMU completes every transmit).
 *
 * Where QEMU and the datasheet part: the unicast filter compares PAR0-5 (QEMU compares
 * the PROM); CR.STP sets ISR.RST (QEMU sets it only at the reset port); the Send Packet
 * command loads RSAR and RBCR from the packet at BNRY and advances BNRY (QEMU ignores
 * it); page 2 reads back the configuration registers (QEMU reads 0); the PROM is read
 * only (QEMU lets remote DMA write it); memory past 0x7fff is absent (QEMU has 32 KiB);
 * a ring short of room reports PRX again once the driver has cleared it (rx_remind()).
 * As QEMU: the loopback modes of TCR still send to the back end, the data port moves
 * bytes whatever CR.RD says, and a remote DMA with RBCR 0 reports RDC at once.
 *
 * Interface: ne2000_create() on the board's I/O bus; the board's ne2000_poll() and
 * ne2000_wait_fd(); then the guest's port accesses.
 */
#include "ne2000.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "netdev.h"

#define MEM_START 0x4000u               /* buffer memory, 16 KiB */
#define MEM_END   0x8000u
#define PROM_SIZE 32u
#define MIN_FRAME 60u                   /* Ethernet's minimum, without the FCS */
#define RX_BATCH  64                    /* frames taken per poll: a flood cannot hold us */

/* Board ports, offsets from the base. */
#define P_DATA  0x10
#define P_RESET 0x1f

/* Command register (4.0, CR). */
#define CR_STP  0x01
#define CR_STA  0x02
#define CR_TXP  0x04
#define CR_RD   0x38                    /* remote DMA command, bits 3-5 */
#define CR_RD_READ  0x08
#define CR_RD_WRITE 0x10
#define CR_RD_SEND  0x18
#define CR_PS   0xc0                    /* register page select */

/* Interrupt status and mask (ISR, IMR). */
#define ISR_PRX 0x01
#define ISR_PTX 0x02
#define ISR_RXE 0x04
#define ISR_TXE 0x08
#define ISR_OVW 0x10
#define ISR_CNT 0x20
#define ISR_RDC 0x40
#define ISR_RST 0x80                    /* a status, never an interrupt */

/* Receive configuration (RCR) and receive status (RSR). */
#define RCR_AB  0x04
#define RCR_AM  0x08
#define RCR_PRO 0x10
#define RCR_MON 0x20
#define RSR_PRX 0x01
#define RSR_MPA 0x10
#define RSR_PHY 0x20                    /* multicast or broadcast destination */

#define TSR_PTX 0x01
#define DCR_WTS 0x01                    /* word-wide remote DMA */

struct ne2000 {
	struct netdev *net;
	struct irq_line irq;
	uint8_t cr, isr, imr, rcr, tcr, dcr, rsr, tsr;
	uint8_t pstart, pstop, bnry, curr, tpsr;
	uint16_t tbcr, rsar, rbcr;
	uint8_t par[6], mar[8];
	uint8_t cntr2;                  /* missed-packet tally */
	bool send_pkt;                  /* a Send Packet command is moving a frame */
	uint8_t send_next;              /* its header's next-page pointer, for BNRY */
	uint8_t prom[PROM_SIZE];
	uint8_t mem[MEM_END - MEM_START];
	uint8_t frame[NETDEV_MTU_FRAME];
};

static void update_irq(struct ne2000 *n)
{
	irq_set(&n->irq, (n->isr & n->imr & 0x7f) != 0);
}

static void raise_isr(struct ne2000 *n, uint8_t bits)
{
	n->isr |= bits;
	update_irq(n);
}

/* ---- buffer memory: the only way in, bounds-checked ---- */

static uint8_t mem_read(const struct ne2000 *n, uint16_t a)
{
	if (a < PROM_SIZE)
		return n->prom[a];
	if (a >= MEM_START && a < MEM_END)
		return n->mem[a - MEM_START];
	return 0xff;                    /* nothing decodes there */
}

static void mem_write(struct ne2000 *n, uint16_t a, uint8_t v)
{
	if (a >= MEM_START && a < MEM_END)
		n->mem[a - MEM_START] = v;
}

/* ---- the receive ring (7.0) ---- */

/* BNRY as a page of the ring. Linux's 8390 driver keeps BNRY one page behind the next
 * frame to read, and writes PSTART - 1 when that frame is at PSTART: the page before
 * the ring's first is its last, PSTOP - 1 (QEMU's free-space arithmetic takes it so
 * too). A card that called such a ring invalid took no more frames, and Linux's
 * receive stalled for good. */
static unsigned ring_bnry(const struct ne2000 *n)
{
	return n->bnry + 1 == n->pstart ? (unsigned)n->pstop - 1 : n->bnry;
}

/* Is the ring one the card can store into: PSTART < PSTOP, CURR and BNRY inside? */
static bool ring_valid(const struct ne2000 *n)
{
	return n->pstart < n->pstop && n->curr >= n->pstart && n->curr < n->pstop &&
	       ring_bnry(n) >= n->pstart && ring_bnry(n) < n->pstop;
}

/* Pages free from CURR up to BNRY; CURR == BNRY is an empty ring (the whole ring). */
static unsigned ring_free(const struct ne2000 *n)
{
	unsigned size = (unsigned)(n->pstop - n->pstart);
	unsigned d = (ring_bnry(n) + size - n->curr) % size;
	return d ? d : size;
}

/* The next ring address after a: past PSTOP it wraps to PSTART. */
static uint16_t ring_next(const struct ne2000 *n, uint16_t a)
{
	a++;
	return a == (uint16_t)(n->pstop << 8) ? (uint16_t)(n->pstart << 8) : a;
}

/* Pages a frame of len bytes takes: its 4-byte header, and the FCS, as QEMU counts. */
static unsigned frame_pages(unsigned len) { return (len + 4 + 4 + 255) >> 8; }

/* Can the card take a frame now: running, and room for the largest one? A frame is
 * stored only if it leaves CURR short of BNRY. Short of that room the frames wait in
 * the back end, as QEMU's card leaves them queued: the DP8390D drops a frame that does
 * not fit with OVW (7.0), since a real wire cannot wait, and under Linux each such drop
 * cost an overrun recovery and a TCP retransmission timeout (a 4 MB wget on --net user
 * took 30 s with 30 drops; 0.4 s without). */
static bool rx_room(const struct ne2000 *n)
{
	return !(n->cr & CR_STP) && ring_valid(n) && ring_free(n) > frame_pages(NETDEV_MTU_FRAME);
}

/* The Ethernet CRC-32 (MSB first) of the destination; its top 6 bits index MAR
 * (DP8390D 7.0 "Multicast Address Filter"). */
static unsigned mcast_index(const uint8_t *dst)
{
	uint32_t crc = 0xffffffffu;
	for (int i = 0; i < 6; i++) {
		uint8_t b = dst[i];
		for (int k = 0; k < 8; k++, b >>= 1) {
			uint32_t carry = (crc >> 31) ^ (b & 1u);
			crc <<= 1;
			if (carry)
				crc ^= 0x04c11db7u;
		}
	}
	return crc >> 26;
}

/* The address filter: RCR.PRO takes everything, broadcast needs AB, multicast AM and
 * its MAR bit, a unicast destination must equal PAR0-5. */
static bool rx_accept(const struct ne2000 *n, const uint8_t *dst)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	if (n->rcr & RCR_PRO)
		return true;
	if (!memcmp(dst, bcast, 6))
		return n->rcr & RCR_AB;
	if (dst[0] & 1) {
		unsigned i = mcast_index(dst);
		return (n->rcr & RCR_AM) && (n->mar[i >> 3] & (1u << (i & 7)));
	}
	return !memcmp(dst, n->par, 6);
}

/* A frame lost for want of buffers: OVW, a receive error, the missed-packet tally. */
static void rx_missed(struct ne2000 *n, bool overflow)
{
	n->rsr = RSR_MPA;
	if (n->cntr2 < 0xff)
		n->cntr2++;
	raise_isr(n, (uint8_t)((overflow ? ISR_OVW : 0) | ISR_RXE | (n->cntr2 & 0x80 ? ISR_CNT : 0)));
}

/* Store one frame of len bytes (at least MIN_FRAME) at CURR behind its header. */
static void rx_store(struct ne2000 *n, const uint8_t *buf, unsigned len)
{
	unsigned count = len + 4;                       /* the header's byte count */
	unsigned pages = frame_pages(len);
	if (pages >= ring_free(n)) {
		rx_missed(n, true);
		return;
	}
	unsigned size = (unsigned)(n->pstop - n->pstart);
	unsigned next = n->curr + pages;
	if (next >= n->pstop)
		next -= size;
	n->rsr = (uint8_t)(RSR_PRX | (buf[0] & 1 ? RSR_PHY : 0));
	uint16_t a = (uint16_t)(n->curr << 8);
	const uint8_t hdr[4] = { n->rsr, (uint8_t)next, (uint8_t)count, (uint8_t)(count >> 8) };
	for (unsigned i = 0; i < 4; i++, a = ring_next(n, a))
		mem_write(n, a, hdr[i]);
	for (unsigned i = 0; i < len; i++, a = ring_next(n, a))
		mem_write(n, a, buf[i]);
	n->curr = (uint8_t)next;
	raise_isr(n, ISR_PRX);
}

/* One frame from the wire: padded as QEMU pads, filtered, stored or missed. */
static void rx_frame(struct ne2000 *n, unsigned len)
{
	if (len < MIN_FRAME) {
		memset(n->frame + len, 0, MIN_FRAME - len);
		len = MIN_FRAME;
	}
	if (!rx_accept(n, n->frame))
		return;
	if (n->rcr & RCR_MON) {         /* monitor mode: checked and counted, not stored */
		rx_missed(n, false);
		return;
	}
	rx_store(n, n->frame, len);
}

/* A running card whose ring is short of room while ISR.PRX is clear: the driver
 * acknowledged PRX with frames still unread, and since none can be stored nothing
 * would set PRX again. The driver's race: Linux's ei_receive() reads CURR, takes the
 * frames up to it (nine at most) and only then writes PRX to ISR, so frames stored in
 * between (a board update can come between any two guest instructions) are
 * acknowledged unseen; a full ring of them, with more waiting in the back end, stalled
 * the guest's receive for good (its TCP then waits on a sender whose frames can never
 * be stored). The DP8390D would get out of it by dropping the next frame with OVW
 * (7.0); this card, which holds frames back instead, reports PRX again, so the driver
 * reads the ring and frees it. Only for a ring holding something: empty is BNRY at
 * CURR or one page behind it (the two conventions drivers use), and a ring smaller
 * than the largest frame is short of room even then. */
static void rx_remind(struct ne2000 *n)
{
	if (!(n->isr & ISR_PRX) && !(n->cr & CR_STP) && ring_valid(n) &&
	    ring_free(n) <= frame_pages(NETDEV_MTU_FRAME) &&
	    ring_free(n) + 1 < (unsigned)(n->pstop - n->pstart))
		raise_isr(n, ISR_PRX);
}

void ne2000_poll(struct ne2000 *n)
{
	/* Stopped, or no room: the frames wait in the host socket, as in QEMU (which does
	 * not receive while stopped). Never taking them while stopped also leaves them to
	 * a para-x86 guest's network device on the same back end, the card being there but
	 * never started. */
	for (int k = 0; k < RX_BATCH && rx_room(n); k++) {
		ssize_t r = netdev_recv(n->net, n->frame, sizeof(n->frame));
		if (r <= 0)
			break;
		rx_frame(n, (unsigned)r);
	}
	rx_remind(n);
}

int ne2000_wait_fd(struct ne2000 *n)
{
	ne2000_poll(n);
	return rx_room(n) ? netdev_fd(n->net) : -1;
}

/* ---- transmit (8.0) ---- */

static void transmit(struct ne2000 *n)
{
	uint32_t a = (uint32_t)n->tpsr << 8;
	if (n->tbcr >= 14 && n->tbcr <= NETDEV_MTU_FRAME && a >= MEM_START &&
	    a + n->tbcr <= MEM_END)
		netdev_send(n->net, n->mem + (a - MEM_START), n->tbcr);   /* a loss is the wire's */
	n->tsr = TSR_PTX;
	n->cr &= (uint8_t)~CR_TXP;
	raise_isr(n, ISR_PTX);
}

/* ---- remote DMA (10.0) ---- */

/* len bytes moved: advance RSAR (wrapping at PSTOP to PSTART), count RBCR down; at
 * zero, RDC, and a Send Packet hands its frame's pages back by moving BNRY. */
static void dma_advance(struct ne2000 *n, unsigned len)
{
	n->rsar = (uint16_t)(n->rsar + len);
	if (n->rsar == (uint16_t)(n->pstop << 8))
		n->rsar = (uint16_t)(n->pstart << 8);
	if (n->rbcr > len) {
		n->rbcr = (uint16_t)(n->rbcr - len);
		return;
	}
	n->rbcr = 0;
	if (n->send_pkt) {
		n->send_pkt = false;
		n->bnry = n->send_next;
	}
	raise_isr(n, ISR_RDC);
}

/* The data port: size bytes (a byte in byte mode, whatever the access; in word mode a
 * word from the even address, or a dword), little-endian. Reads move whatever RBCR
 * says; writes need RBCR > 0 (QEMU). */
static unsigned dma_width(const struct ne2000 *n, int size)
{
	return size == 4 ? 4 : (n->dcr & DCR_WTS) ? 2 : 1;
}

static uint32_t data_read(struct ne2000 *n, int size)
{
	unsigned w = dma_width(n, size);
	uint16_t a = w > 1 ? (uint16_t)(n->rsar & ~1u) : n->rsar;
	uint32_t v = 0;
	for (unsigned i = 0; i < w; i++)
		v |= (uint32_t)mem_read(n, (uint16_t)(a + i)) << (8 * i);
	dma_advance(n, w);
	return v;
}

static void data_write(struct ne2000 *n, int size, uint32_t v)
{
	if (n->rbcr == 0)
		return;
	unsigned w = dma_width(n, size);
	uint16_t a = w > 1 ? (uint16_t)(n->rsar & ~1u) : n->rsar;
	for (unsigned i = 0; i < w; i++)
		mem_write(n, (uint16_t)(a + i), (uint8_t)(v >> (8 * i)));
	dma_advance(n, w);
}

/* Send Packet: the remote DMA reads the frame at BNRY, header included, its byte
 * count taken from the header (10.0 "Send Packet Command"). */
static void send_packet(struct ne2000 *n)
{
	uint16_t a = (uint16_t)(n->bnry << 8);
	n->send_next = mem_read(n, (uint16_t)(a + 1));
	n->rsar = a;
	n->rbcr = (uint16_t)(mem_read(n, (uint16_t)(a + 2)) | mem_read(n, (uint16_t)(a + 3)) << 8);
	n->send_pkt = n->rbcr != 0;
}

/* ---- registers (4.0) ---- */

static void write_cr(struct ne2000 *n, uint8_t v)
{
	n->cr = v;
	if (v & CR_STP) {
		n->isr |= ISR_RST;      /* the NIC is in its reset state (ISR, RST) */
		return;
	}
	n->isr &= (uint8_t)~ISR_RST;
	unsigned rd = v & CR_RD;
	n->send_pkt = false;
	if (rd == CR_RD_SEND)
		send_packet(n);
	if ((rd == CR_RD_READ || rd == CR_RD_WRITE || rd == CR_RD_SEND) && n->rbcr == 0)
		n->isr |= ISR_RDC;      /* nothing to move: complete at once (QEMU) */
	if (v & CR_TXP)
		transmit(n);
	update_irq(n);
}

static uint8_t reg_read(struct ne2000 *n, unsigned r)
{
	if (r == 0)
		return n->cr;
	switch ((n->cr >> 6) << 4 | r) {
	case 0x03: return n->bnry;
	case 0x04: return n->tsr;
	case 0x07:
		ne2000_poll(n);         /* a driver polling ISR sees frames arrive */
		return n->isr;
	case 0x08: return (uint8_t)n->rsar;
	case 0x09: return (uint8_t)(n->rsar >> 8);
	case 0x0a: return 0x50;         /* RTL8029 ID bytes "PC", as QEMU answers */
	case 0x0b: return 0x43;
	case 0x0c: return n->rsr;
	case 0x0f: {                    /* CNTR2: the tally clears when read */
		uint8_t c = n->cntr2;
		n->cntr2 = 0;
		return c;
	}
	case 0x11: case 0x12: case 0x13: case 0x14: case 0x15: case 0x16:
		return n->par[r - 1];
	case 0x17: return n->curr;
	case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
		return n->mar[r - 8];
	case 0x21: return n->pstart;
	case 0x22: return n->pstop;
	case 0x24: return n->tpsr;
	case 0x2c: return n->rcr;
	case 0x2d: return n->tcr;
	case 0x2e: return n->dcr;
	case 0x2f: return n->imr;
	case 0x35: return 0x40;         /* RTL8029 CONFIG2/3, as QEMU answers */
	case 0x36: return 0x40;
	default: return 0;
	}
}

static void reg_write(struct ne2000 *n, unsigned r, uint8_t v)
{
	if (r == 0) {
		write_cr(n, v);
		return;
	}
	switch ((n->cr >> 6) << 4 | r) {
	case 0x01: n->pstart = v; break;
	case 0x02: n->pstop = v; break;
	case 0x03: n->bnry = v; break;
	case 0x04: n->tpsr = v; break;
	case 0x05: n->tbcr = (uint16_t)((n->tbcr & 0xff00) | v); break;
	case 0x06: n->tbcr = (uint16_t)((n->tbcr & 0x00ff) | v << 8); break;
	case 0x07:                      /* write 1 to clear; RST is the chip's own */
		n->isr &= (uint8_t)~(v & 0x7f);
		update_irq(n);
		break;
	case 0x08: n->rsar = (uint16_t)((n->rsar & 0xff00) | v); break;
	case 0x09: n->rsar = (uint16_t)((n->rsar & 0x00ff) | v << 8); break;
	case 0x0a: n->rbcr = (uint16_t)((n->rbcr & 0xff00) | v); break;
	case 0x0b: n->rbcr = (uint16_t)((n->rbcr & 0x00ff) | v << 8); break;
	case 0x0c: n->rcr = v & 0x3f; break;
	case 0x0d: n->tcr = v & 0x1f; break;
	case 0x0e: n->dcr = v & 0x7f; break;
	case 0x0f:
		n->imr = v & 0x7f;
		update_irq(n);
		break;
	case 0x11: case 0x12: case 0x13: case 0x14: case 0x15: case 0x16:
		n->par[r - 1] = v;
		break;
	case 0x17: n->curr = v; break;
	case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
		n->mar[r - 8] = v;
		break;
	default: break;                 /* page 2 and 3 are read only here */
	}
}

/* The reset port: a read pulses the board's reset line (QEMU: ISR = RST, nothing
 * else); the DP8390 then is stopped (CR 0x21). Writing ends the pulse: nothing. */
static void board_reset(struct ne2000 *n)
{
	n->isr = ISR_RST;
	n->cr = CR_STP | 0x20;
	n->send_pkt = false;
	update_irq(n);
}

static uint32_t ne_read(void *opaque, uint16_t port, int size)
{
	struct ne2000 *n = opaque;
	unsigned off = port & 0x1f;
	uint32_t ones = size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	if (off == P_DATA)
		return data_read(n, size);
	if (size != 1)
		return ones;            /* the registers are bytes (QEMU: all ones) */
	if (off < 0x10)
		return reg_read(n, off);
	if (off == P_RESET) {
		board_reset(n);
		return 0;
	}
	return ones;
}

static void ne_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct ne2000 *n = opaque;
	unsigned off = port & 0x1f;
	if (off == P_DATA)
		data_write(n, size, val);
	else if (size == 1 && off < 0x10)
		reg_write(n, off, (uint8_t)val);
}

struct ne2000 *ne2000_create(struct iobus *io, uint16_t base, struct irq_line irq,
			     struct netdev *net)
{
	struct ne2000 *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->net = net;
	n->irq = irq;
	/* The PROM as the NE2000 wires it to a 16-bit bus: each byte doubled; the station
	 * address, then 'W' 'W' (0x57, an NE2000 rather than an NE1000) at 14-15. */
	uint8_t mac[6];
	netdev_mac(net, mac);
	for (int i = 0; i < 6; i++)
		n->prom[2 * i] = n->prom[2 * i + 1] = mac[i];
	memset(n->prom + 28, 0x57, 4);
	board_reset(n);
	const struct io_ports ports[] = { { base, 0x20, ne_read, ne_write } };
	if (io_claim(io, ports, 1, n) < 0) {
		free(n);
		return NULL;
	}
	return n;
}

void ne2000_destroy(struct ne2000 *n) { free(n); }

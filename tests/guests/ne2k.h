/*
 * ne2k.h - an NE2000 driver for guest tests (ne2000.c, netuser.c): the card at 0x300,
 * IRQ 9, its registers (DP8390D datasheet), remote DMA, one transmit buffer, the
 * receive ring polled through CURR, and the check that a card is there at all.
 * Everything is static: each guest is one translation unit plus lib/.
 */
#ifndef GUESTS_NE2K_H
#define GUESTS_NE2K_H

#include "irq.h"

#define NE       0x300
#define NE_CR    (NE + 0x00)
#define NE_DATA  (NE + 0x10)
#define NE_RESET (NE + 0x1f)
/* page 0 */
#define P0_PSTART (NE + 0x01)
#define P0_PSTOP  (NE + 0x02)
#define P0_BNRY   (NE + 0x03)
#define P0_TPSR   (NE + 0x04)           /* read: TSR */
#define P0_TBCR0  (NE + 0x05)
#define P0_TBCR1  (NE + 0x06)
#define P0_ISR    (NE + 0x07)
#define P0_RSAR0  (NE + 0x08)           /* read: CRDA0 */
#define P0_RSAR1  (NE + 0x09)
#define P0_RBCR0  (NE + 0x0a)
#define P0_RBCR1  (NE + 0x0b)
#define P0_RCR    (NE + 0x0c)           /* read: RSR */
#define P0_TCR    (NE + 0x0d)
#define P0_DCR    (NE + 0x0e)
#define P0_IMR    (NE + 0x0f)
/* page 1 */
#define P1_PAR    (NE + 0x01)
#define P1_CURR   (NE + 0x07)
#define P1_MAR    (NE + 0x08)

#define CR_STP   0x01
#define CR_STA   0x02
#define CR_TXP   0x04
#define CR_RREAD 0x08
#define CR_RWRITE 0x10
#define CR_NODMA 0x20
#define CR_PAGE1 0x40
#define CR_PAGE2 0x80

#define ISR_PRX 0x01
#define ISR_PTX 0x02
#define ISR_OVW 0x10
#define ISR_RDC 0x40
#define ISR_RST 0x80

#define DCR_WORD 0x49                   /* word-wide, normal, FIFO 8 bytes */
#define DCR_BYTE 0x48
#define RCR_AB   0x04
#define RCR_AM   0x08
#define RCR_PRO  0x10

#define TX_PAGE  0x40                   /* 6 pages for one frame */
#define RX_START 0x46
#define RX_STOP  0x60

#define IRQ9_SLAVE_MASK 0xfd            /* slave IR1 open */
#define IRQ_MASTER_CASCADE 0xfb

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint8_t txbuf[1600], rxbuf[1600];
static uint8_t next_pkt;                /* the page the next received frame starts at */

/* ---- register access ---- */

static void page(uint8_t p) { outb(NE_CR, (uint8_t)(p | CR_NODMA | CR_STA)); }

static uint8_t isr(void) { return inb(P0_ISR); }

static uint8_t curr(void)
{
	page(CR_PAGE1);
	uint8_t c = inb(P1_CURR);
	page(0);
	return c;
}

static void set_rbcr(uint16_t n)
{
	outb(P0_RBCR0, (uint8_t)n);
	outb(P0_RBCR1, (uint8_t)(n >> 8));
}

static void set_rsar(uint16_t a)
{
	outb(P0_RSAR0, (uint8_t)a);
	outb(P0_RSAR1, (uint8_t)(a >> 8));
}

static inline uint16_t crda(void) { return (uint16_t)(inb(P0_RSAR0) | inb(P0_RSAR1) << 8); }

/* Remote read of n bytes from a (n even in word mode), then wait for RDC. */
static int dma_read(uint16_t a, uint8_t *buf, uint16_t n, int word)
{
	outb(P0_ISR, ISR_RDC);
	set_rbcr(n);
	set_rsar(a);
	outb(NE_CR, CR_RREAD | CR_STA);
	for (uint16_t i = 0; i < n; i += word ? 2 : 1) {
		if (word) {
			uint16_t w = inw(NE_DATA);
			buf[i] = (uint8_t)w;
			buf[i + 1] = (uint8_t)(w >> 8);
		} else {
			buf[i] = inb(NE_DATA);
		}
	}
	int ok = (isr() & ISR_RDC) != 0;
	outb(P0_ISR, ISR_RDC);
	return ok;
}

static int dma_write(uint16_t a, const uint8_t *buf, uint16_t n)
{
	outb(P0_ISR, ISR_RDC);
	set_rbcr(n);
	set_rsar(a);
	outb(NE_CR, CR_RWRITE | CR_STA);
	for (uint16_t i = 0; i < n; i += 2)
		outw(NE_DATA, (uint16_t)(buf[i] | buf[i + 1] << 8));
	int ok = (isr() & ISR_RDC) != 0;
	outb(P0_ISR, ISR_RDC);
	return ok;
}

/* Copy the frame to the transmit buffer and send it; whether PTX came. */
static int transmit(uint16_t len)
{
	dma_write(TX_PAGE << 8, txbuf, (uint16_t)((len + 1) & ~1));
	outb(P0_ISR, ISR_PTX);
	outb(P0_TPSR, TX_PAGE);
	outb(P0_TBCR0, (uint8_t)len);
	outb(P0_TBCR1, (uint8_t)(len >> 8));
	outb(NE_CR, CR_NODMA | CR_TXP | CR_STA);
	int ok = WAIT_UNTIL(isr() & ISR_PTX, EVENT_US);
	outb(P0_ISR, ISR_PTX);
	return ok;
}

struct rx {
	uint8_t status, next;
	uint16_t count;                 /* header included */
};

/* The frame at next_pkt, once CURR has moved past it (polled): header into h, the
 * frame into rxbuf; BNRY is left one page behind the next frame, as Linux keeps it.
 * 0 if none came within us microseconds. */
static int receive_within(struct rx *h, uint32_t us)
{
	if (!WAIT_UNTIL(curr() != next_pkt, us))
		return 0;
	uint8_t hdr[4];
	dma_read((uint16_t)(next_pkt << 8), hdr, 4, 1);
	h->status = hdr[0];
	h->next = hdr[1];
	h->count = (uint16_t)(hdr[2] | hdr[3] << 8);
	uint16_t n = h->count > 4 ? (uint16_t)(h->count - 4) : 0;
	if (n > sizeof(rxbuf))
		n = sizeof(rxbuf);
	dma_read((uint16_t)((next_pkt << 8) + 4), rxbuf, (uint16_t)((n + 1) & ~1), 1);
	next_pkt = h->next;
	outb(P0_BNRY, (uint8_t)(next_pkt == RX_START ? RX_STOP - 1 : next_pkt - 1));
	outb(P0_ISR, ISR_PRX);
	return 1;
}

static inline int receive(struct rx *h) { return receive_within(h, EVENT_US); }

static int card_present(void)
{
	/* The reset port reads 0 on the card (QEMU), all ones on an empty bus; the
	 * reset sets ISR.RST. */
	uint8_t r = inb(NE_RESET);
	outb(NE_RESET, r);
	if (r != 0xff && WAIT_UNTIL((isr() & ISR_RST) && inb(NE_CR) != 0xff, 20000))
		return 1;
	int floats = 1;
	for (int p = 0; p < 0x20; p++)
		floats &= inb((uint16_t)(NE + p)) == 0xff;
	printf("ne2000: no card at 0x300\n");
	check(floats, "absent-card-ports-read-ones");
	return 0;
}

static void ring_init(uint8_t start, uint8_t stop, uint8_t rcr)
{
	outb(NE_CR, CR_NODMA | CR_STP);
	outb(P0_PSTART, start);
	outb(P0_PSTOP, stop);
	outb(P0_BNRY, (uint8_t)(stop - 1));
	outb(NE_CR, CR_NODMA | CR_STP | CR_PAGE1);
	for (int i = 0; i < 6; i++)
		outb((uint16_t)(P1_PAR + i), mac[i]);
	for (int i = 0; i < 8; i++)
		outb((uint16_t)(P1_MAR + i), 0);
	outb(P1_CURR, start);
	outb(NE_CR, CR_NODMA | CR_STP);
	next_pkt = start;
	outb(P0_RCR, rcr);
	outb(P0_TCR, 0);
	outb(P0_IMR, 0);
	outb(P0_ISR, 0xff);
	outb(NE_CR, CR_NODMA | CR_STA);
}


#endif

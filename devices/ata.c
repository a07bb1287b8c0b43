/*
 * ata.c - an ATA (IDE) channel with at most one disk (device 0), in PIO mode, as a PC
 * has it at 0x1f0-0x1f7 / 0x3f6 on IRQ 14 and as QEMU emulates it. Register map,
 * protocols and error bits from ATA/ATAPI-6 (T13/1410D): 7.x the registers, 9 the
 * PIO data-in and data-out protocols and software reset, 8 the commands.
 *
 * Design: the device runs each command to completion inside the guest's OUT to the
 * Command register (blockdev calls are synchronous), so BSY is never seen except while
 * SRST is held. One 512-byte buffer holds the block the guest moves through the data
 * port; each DRQ block is one sector (READ/WRITE MULTIPLE answer ABRT). The address
 * range of a READ or WRITE is checked once, when the command is written: an address
 * past the end answers IDNF before any data moves, so the guest can never reach
 * outside the image. Only LBA addressing (Device bit 6) is served; CHS answers ABRT.
 *
 * Interrupts: the device's INTRQ is pending after each data-in block is ready, after
 * each data-out block but the first is wanted and after the last is written, and at
 * each completion without data; reading the Status register (not Alternate Status)
 * or writing Command clears it. The line carries INTRQ while nIEN is clear (the bit
 * gates the driver, 7.9.6). What the guest reads with no disk, or with the absent
 * device 1 selected, is QEMU's empty channel: 0 from every register.
 *
 * Interface: ata_create() on the board's I/O bus; then the guest's port accesses.
 */
#include "ata.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev.h"

#define SECTOR 512u

/* Command block registers, offsets from the base port (7.1 table 2). */
enum { R_DATA, R_ERROR, R_NSECT, R_LBAL, R_LBAM, R_LBAH, R_DEVICE, R_STATUS };

/* Status register (7.15). */
#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DSC  0x10            /* seek complete: obsolete in ATA-6, set as QEMU does */
#define ST_DF   0x20
#define ST_DRDY 0x40
#define ST_BSY  0x80
/* Error register (7.11), and WP from the removable media status notification set. */
#define ER_AMNF 0x01            /* after a reset or diagnostic: "device 0 passed" */
#define ER_ABRT 0x04
#define ER_IDNF 0x10
#define ER_WP   0x40
/* Device register (7.10) and Device Control register (7.9). */
#define DEV_LBA 0x40
#define DEV_DEV 0x10
#define DEV_OBS 0xa0            /* obsolete bits, read as one (QEMU) */
#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB  0x80

enum xfer { X_NONE, X_IN, X_OUT };

struct ata {
	struct blockdev *disk;          /* NULL: no device on the channel */
	struct irq_line irq;
	/* [0] the register, [1] the value written before it (the 48-bit high bytes). */
	uint8_t feat[2], nsect[2], lbal[2], lbam[2], lbah[2];
	uint8_t dev, status, error, ctl;
	bool intrq;                     /* the device's interrupt is pending */
	enum xfer xfer;
	bool rw;                        /* the transfer is a READ/WRITE (not IDENTIFY) */
	bool lba48;
	uint64_t lba;                   /* the sector the buffer holds or waits for */
	uint32_t left;                  /* sectors still to move, the buffered one included */
	unsigned pos;                   /* bytes of buf moved through the data port */
	uint8_t buf[SECTOR];
};

static void update_irq(struct ata *a)
{
	irq_set(&a->irq, a->intrq && !(a->ctl & CTL_NIEN));
}

static void raise_intrq(struct ata *a)
{
	a->intrq = true;
	update_irq(a);
}

static void clear_intrq(struct ata *a)
{
	a->intrq = false;
	update_irq(a);
}

/* Does the guest talk to the disk (present and selected)? */
static bool selected(const struct ata *a)
{
	return a->disk && !(a->dev & DEV_DEV);
}

/* End the command with ERR and the given error bits, and interrupt. */
static void cmd_error(struct ata *a, uint8_t err)
{
	a->xfer = X_NONE;
	a->status = ST_DRDY | ST_ERR;
	a->error = err;
	raise_intrq(a);
}

/* End the command without data, successfully, and interrupt. */
static void cmd_done(struct ata *a)
{
	a->xfer = X_NONE;
	a->status = ST_DRDY | ST_DSC;
	raise_intrq(a);
}

/* The registers after a reset or EXECUTE DEVICE DIAGNOSTIC: the ATA signature (9.12),
 * diagnostic code 01h (device 0 passed, device 1 absent). */
static void set_signature(struct ata *a)
{
	a->nsect[0] = 1;
	a->lbal[0] = 1;
	a->lbam[0] = 0;
	a->lbah[0] = 0;
	a->dev = DEV_OBS;
	a->error = ER_AMNF;
	a->status = ST_DRDY | ST_DSC;
	a->xfer = X_NONE;
}

/* The address registers written back after a sector moved: they follow the transfer, so
 * an error leaves the failing address in them (QEMU does the same). */
static void put_lba(struct ata *a)
{
	uint64_t l = a->lba;
	a->lbal[0] = (uint8_t)l;
	a->lbam[0] = (uint8_t)(l >> 8);
	a->lbah[0] = (uint8_t)(l >> 16);
	a->nsect[0] = (uint8_t)a->left;
	if (a->lba48) {
		a->lbal[1] = (uint8_t)(l >> 24);
		a->lbam[1] = (uint8_t)(l >> 32);
		a->lbah[1] = (uint8_t)(l >> 40);
		a->nsect[1] = (uint8_t)(a->left >> 8);
	} else {
		a->dev = (uint8_t)((a->dev & 0xf0) | ((l >> 24) & 0x0f));
	}
}

/* ---- IDENTIFY DEVICE (8.15, table 21) ---- */

/* ATA strings: space padded, the two bytes of each word swapped. */
static void put_string(uint16_t *w, const char *s, int words)
{
	size_t n = strlen(s);
	for (int i = 0; i < 2 * words; i++) {
		uint8_t c = i < (int)n ? (uint8_t)s[i] : ' ';
		w[i / 2] |= (uint16_t)(i & 1 ? c : c << 8);
	}
}

static void identify(struct ata *a)
{
	uint16_t w[256] = { 0 };
	uint64_t n = blockdev_sectors(a->disk);
	/* QEMU's geometry for an image without a partition table (16 heads, 63 sectors);
	 * reported for old drivers, though only LBA addressing is served. */
	uint64_t cyl = n / (16 * 63);
	cyl = cyl > 16383 ? 16383 : cyl < 2 ? 2 : cyl;
	uint32_t chs = (uint32_t)cyl * 16 * 63;
	uint32_t lba28 = n > 0x0fffffff ? 0x0fffffff : (uint32_t)n;

	w[0] = 0x0040;                          /* ATA device, fixed */
	w[1] = (uint16_t)cyl;
	w[3] = 16;
	w[6] = 63;
	put_string(&w[10], "TZ00001", 10);      /* serial number */
	put_string(&w[23], "1.0", 4);           /* firmware revision */
	put_string(&w[27], "TRAPEZE HARDDISK", 20);  /* model number */
	w[47] = 0x8000;                         /* READ/WRITE MULTIPLE: none */
	w[49] = 1u << 9;                        /* LBA supported; no DMA */
	w[50] = 0x4000;
	w[51] = 0x0200;                         /* PIO mode 2 timing (obsolete) */
	w[53] = 0x0003;                         /* words 54-58 and 64-70 valid */
	w[54] = (uint16_t)cyl;
	w[55] = 16;
	w[56] = 63;
	w[57] = (uint16_t)chs;
	w[58] = (uint16_t)(chs >> 16);
	w[60] = (uint16_t)lba28;                /* LBA28 user-addressable sectors */
	w[61] = (uint16_t)(lba28 >> 16);
	w[64] = 0x0003;                         /* PIO modes 3 and 4 */
	w[65] = w[66] = w[67] = w[68] = 120;
	w[80] = 0x007c;                         /* ATA-2 to ATA-6 */
	/* Supported and enabled: FLUSH CACHE EXT (13), FLUSH CACHE (12), 48-bit (10). */
	w[83] = 0x4000 | 1u << 13 | 1u << 12 | 1u << 10;
	w[84] = 0x4000;
	w[86] = 1u << 13 | 1u << 12 | 1u << 10;
	w[87] = 0x4000;
	w[100] = (uint16_t)n;                   /* LBA48 user-addressable sectors */
	w[101] = (uint16_t)(n >> 16);
	w[102] = (uint16_t)(n >> 32);
	w[103] = (uint16_t)(n >> 48);
	/* Integrity word: signature A5h, then the byte that makes all 512 sum to 0. */
	w[255] = 0x00a5;
	uint8_t sum = 0;
	for (int i = 0; i < 256; i++)
		sum = (uint8_t)(sum + (w[i] & 0xff) + (w[i] >> 8));
	w[255] |= (uint16_t)((uint8_t)-sum << 8);
	for (int i = 0; i < 256; i++) {
		a->buf[2 * i] = (uint8_t)w[i];
		a->buf[2 * i + 1] = (uint8_t)(w[i] >> 8);
	}
}

/* ---- PIO data-in and data-out (9.7, 9.8) ---- */

/* Hand the guest the block in buf: DRQ and an interrupt. */
static void data_in(struct ata *a)
{
	a->xfer = X_IN;
	a->pos = 0;
	a->status = ST_DRDY | ST_DSC | ST_DRQ;
	raise_intrq(a);
}

/* Read the next sector of a READ into buf and offer it, or end the command. */
static void read_next(struct ata *a)
{
	if (!a->left) {
		a->xfer = X_NONE;
		a->status = ST_DRDY | ST_DSC;   /* after the last block: no interrupt (9.7) */
		return;
	}
	if (blockdev_read(a->disk, a->lba, 1, a->buf) < 0) {
		cmd_error(a, ER_ABRT);          /* a host I/O error: the range was checked */
		return;
	}
	a->lba++;
	a->left--;
	put_lba(a);
	data_in(a);
}

/* The guest moved the whole block. */
static void block_done(struct ata *a)
{
	if (a->xfer == X_IN) {
		if (a->rw) {
			read_next(a);
		} else {
			a->xfer = X_NONE;
			a->status = ST_DRDY | ST_DSC;
		}
		return;
	}
	/* Data-out: write the sector, then ask for the next or end with an interrupt. */
	if (blockdev_write(a->disk, a->lba, 1, a->buf) < 0) {
		cmd_error(a, ER_ABRT);
		return;
	}
	a->lba++;
	a->left--;
	put_lba(a);
	if (!a->left) {
		cmd_done(a);
		return;
	}
	a->pos = 0;
	a->status = ST_DRDY | ST_DSC | ST_DRQ;
	raise_intrq(a);
}

/* READ/WRITE SECTORS (EXT): the address from the registers; false (and the command
 * ended with an error) if it is CHS or outside the disk. */
static bool setup_rw(struct ata *a, bool lba48)
{
	if (!(a->dev & DEV_LBA)) {
		cmd_error(a, ER_ABRT);          /* CHS addressing is not served */
		return false;
	}
	a->lba48 = lba48;
	if (lba48) {
		a->lba = (uint64_t)a->lbah[1] << 40 | (uint64_t)a->lbam[1] << 32 |
			 (uint64_t)a->lbal[1] << 24 | (uint64_t)a->lbah[0] << 16 |
			 (uint64_t)a->lbam[0] << 8 | a->lbal[0];
		a->left = (uint32_t)a->nsect[1] << 8 | a->nsect[0];
		if (!a->left)
			a->left = 65536;        /* 8.34: a count of 0 means 65536 */
	} else {
		a->lba = (uint64_t)(a->dev & 0x0f) << 24 | (uint32_t)a->lbah[0] << 16 |
			 (uint32_t)a->lbam[0] << 8 | a->lbal[0];
		a->left = a->nsect[0] ? a->nsect[0] : 256;
	}
	uint64_t n = blockdev_sectors(a->disk);
	if (a->lba > n || a->left > n - a->lba) {
		cmd_error(a, ER_IDNF);          /* 8.34: address out of range */
		return false;
	}
	a->rw = true;
	return true;
}

/* SET FEATURES (8.37): what changes nothing a PIO disk without a cache model has. */
static bool feature_harmless(const struct ata *a)
{
	switch (a->feat[0]) {
	case 0x02: case 0x82:           /* write cache on/off: writes reach the host as made */
	case 0x55: case 0xaa:           /* read look-ahead off/on */
	case 0x66: case 0xcc:           /* power-on defaults kept / reverted */
		return true;
	case 0x03:                      /* transfer mode: PIO default or PIO flow control */
		return a->nsect[0] <= 0x01 || (a->nsect[0] >= 0x08 && a->nsect[0] <= 0x0c);
	default:
		return false;
	}
}

static void command(struct ata *a, uint8_t cmd)
{
	a->error = 0;
	a->rw = false;
	switch (cmd) {
	case 0xec:                      /* IDENTIFY DEVICE */
		identify(a);
		data_in(a);
		break;
	case 0x20: case 0x21:           /* READ SECTORS (with and without retries) */
	case 0x24:                      /* READ SECTORS EXT */
		if (setup_rw(a, cmd == 0x24))
			read_next(a);
		break;
	case 0x30: case 0x31:           /* WRITE SECTORS */
	case 0x34:                      /* WRITE SECTORS EXT */
		if (blockdev_readonly(a->disk)) {
			cmd_error(a, ER_ABRT | ER_WP);
			break;
		}
		if (!setup_rw(a, cmd == 0x34))
			break;
		/* 9.8: DRQ for the first block without an interrupt. */
		a->xfer = X_OUT;
		a->pos = 0;
		a->status = ST_DRDY | ST_DSC | ST_DRQ;
		break;
	case 0x40: case 0x41:           /* READ VERIFY SECTORS: the range is all to check */
	case 0x42:                      /* READ VERIFY SECTORS EXT */
		if (setup_rw(a, cmd == 0x42)) {
			a->lba += a->left;
			a->left = 0;
			put_lba(a);
			cmd_done(a);
		}
		break;
	case 0xe7: case 0xea:           /* FLUSH CACHE (EXT) */
		if (blockdev_flush(a->disk) < 0)
			cmd_error(a, ER_ABRT);
		else
			cmd_done(a);
		break;
	case 0xef:                      /* SET FEATURES */
		if (feature_harmless(a))
			cmd_done(a);
		else
			cmd_error(a, ER_ABRT);
		break;
	case 0x90:                      /* EXECUTE DEVICE DIAGNOSTIC (8.11) */
		set_signature(a);
		raise_intrq(a);
		break;
	case 0xe5:                      /* CHECK POWER MODE: always active */
		a->nsect[0] = 0xff;
		cmd_done(a);
		break;
	case 0xe0: case 0xe1:           /* STANDBY / IDLE IMMEDIATE: nothing spins */
	case 0xe2: case 0xe3:           /* STANDBY / IDLE */
		cmd_done(a);
		break;
	default:                        /* NOP, DMA, MULTIPLE, CHS setup, unknown */
		cmd_error(a, ER_ABRT);
		break;
	}
}

/* ---- the ports ---- */

static uint32_t data_read(struct ata *a, int size)
{
	if (size == 1)
		return 0xff;                    /* 8-bit data transfers are not enabled */
	/* No data-in block (QEMU answers 0 and moves nothing, as here). */
	if (!selected(a) || a->xfer != X_IN || a->pos + (unsigned)size > SECTOR)
		return 0;
	uint32_t v = 0;
	for (int i = 0; i < size; i++)
		v |= (uint32_t)a->buf[a->pos + i] << (8 * i);
	a->pos += (unsigned)size;
	if (a->pos == SECTOR)
		block_done(a);
	return v;
}

static void data_write(struct ata *a, int size, uint32_t v)
{
	if (size == 1 || !selected(a) || a->xfer != X_OUT || a->pos + (unsigned)size > SECTOR)
		return;
	for (int i = 0; i < size; i++)
		a->buf[a->pos + i] = (uint8_t)(v >> (8 * i));
	a->pos += (unsigned)size;
	if (a->pos == SECTOR)
		block_done(a);
}

/* Status as the selected device drives it: BSY alone while SRST is held. */
static uint8_t status(const struct ata *a)
{
	if (!selected(a))
		return 0;
	return (a->ctl & CTL_SRST) ? ST_BSY : a->status;
}

static uint32_t cmd_read(void *opaque, uint16_t port, int size)
{
	struct ata *a = opaque;
	int reg = port & 7;
	if (reg == R_DATA)
		return data_read(a, size);
	if (!a->disk)
		return 0;
	int hob = (a->ctl & CTL_HOB) ? 1 : 0;
	switch (reg) {
	case R_ERROR:
		return selected(a) ? (hob ? a->feat[1] : a->error) : 0;
	case R_NSECT:
		return a->nsect[hob];
	case R_LBAL:
		return a->lbal[hob];
	case R_LBAM:
		return a->lbam[hob];
	case R_LBAH:
		return a->lbah[hob];
	case R_DEVICE:
		return a->dev;
	default: {                      /* R_STATUS: reading it acknowledges INTRQ */
		uint8_t s = status(a);
		if (selected(a))
			clear_intrq(a);
		return s;
	}
	}
}

/* A register write: the old value moves to the high-order slot (48-bit addressing,
 * 7.1.1) and HOB clears. */
static void shift_in(struct ata *a, uint8_t r[2], uint8_t v)
{
	r[1] = r[0];
	r[0] = v;
	a->ctl &= (uint8_t)~CTL_HOB;
}

static void cmd_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct ata *a = opaque;
	uint8_t v = (uint8_t)val;
	switch (port & 7) {
	case R_DATA:
		data_write(a, size, val);
		break;
	case R_ERROR:
		shift_in(a, a->feat, v);
		break;
	case R_NSECT:
		shift_in(a, a->nsect, v);
		break;
	case R_LBAL:
		shift_in(a, a->lbal, v);
		break;
	case R_LBAM:
		shift_in(a, a->lbam, v);
		break;
	case R_LBAH:
		shift_in(a, a->lbah, v);
		break;
	case R_DEVICE:
		a->dev = v | DEV_OBS;
		a->ctl &= (uint8_t)~CTL_HOB;
		break;
	case R_STATUS:
		a->ctl &= (uint8_t)~CTL_HOB;
		if (!selected(a))
			break;                  /* no device 1: nobody takes the command */
		clear_intrq(a);
		/* The host shall not write Command while BSY or DRQ is set (7.4): the device
		 * ignores it, as QEMU does; SRST is the way out of a transfer. */
		if ((a->ctl & CTL_SRST) || (a->status & (ST_BSY | ST_DRQ)))
			break;
		command(a, v);
		break;
	}
}

static uint32_t ctl_read(void *opaque, uint16_t port, int size)
{
	(void)port;
	(void)size;
	return status(opaque);          /* Alternate Status: INTRQ stays */
}

static void ctl_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct ata *a = opaque;
	uint8_t v = (uint8_t)val;
	(void)port;
	(void)size;
	if (a->disk && (a->ctl & CTL_SRST) && !(v & CTL_SRST)) {
		/* 9.2: SRST released: the device resets and posts its signature. */
		a->intrq = false;
		set_signature(a);
	} else if (a->disk && !(a->ctl & CTL_SRST) && (v & CTL_SRST)) {
		a->xfer = X_NONE;               /* SRST asserted: any transfer ends */
		a->intrq = false;
	}
	a->ctl = v;
	update_irq(a);
}

struct ata *ata_create(struct iobus *io, uint16_t cmd, uint16_t ctl, struct irq_line irq,
		       struct blockdev *disk)
{
	struct ata *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->disk = disk;
	a->irq = irq;
	set_signature(a);
	const struct io_ports ports[] = {
		{ cmd, 8, cmd_read, cmd_write }, { ctl, 1, ctl_read, ctl_write },
	};
	if (io_claim(io, ports, 2, a) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

void ata_destroy(struct ata *a) { free(a); }

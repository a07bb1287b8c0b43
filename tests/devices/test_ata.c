/*
 * test_ata.c - the ATA channel (devices/ata.c) through its real ports against a temp
 * image of DISK sectors, each filled with its LBA as 32-bit words: IDENTIFY, reads
 * (LBA28, LBA48, count 0, 32-bit data port), writes read back from the file, flush,
 * the read-only refusal, addresses past the end, SRST and its signature, nIEN and
 * the interrupt's acknowledge, the empty channel, and random port traffic.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../devices/ata.h"
#include "../../devices/blockdev.h"
#include "../../devices/ioport.h"

#define DISK 300u               /* sectors: more than a count of 0 (256) */
#define CMD 0x1f0
#define CTL 0x3f6
#define R_ERR (CMD + 1)
#define R_NSECT (CMD + 2)
#define R_LBAL (CMD + 3)
#define R_LBAM (CMD + 4)
#define R_LBAH (CMD + 5)
#define R_DEV (CMD + 6)
#define R_STATUS (CMD + 7)

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DSC 0x10
#define ST_DRDY 0x40
#define ST_BSY 0x80

static struct iobus *io;
static struct ata *ata;
static struct blockdev *disk;
static char path[64];
static int irq_level, irq_rises;

static void set_irq(void *opaque, int line, int level)
{
	(void)opaque;
	(void)line;
	if (level && !irq_level)
		irq_rises++;
	irq_level = level;
}

static uint8_t inb(uint16_t p) { return (uint8_t)io_in(io, p, 1); }
static void outb(uint16_t p, uint8_t v) { io_out(io, p, 1, v); }
static uint16_t inw(void) { return (uint16_t)io_in(io, CMD, 2); }

static void make_image(void)
{
	strcpy(path, "/tmp/test_ata.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	uint32_t s[128];
	for (uint32_t lba = 0; lba < DISK; lba++) {
		for (int i = 0; i < 128; i++)
			s[i] = lba;
		ck_assert_int_eq(write(fd, s, sizeof(s)), (ssize_t)sizeof(s));
	}
	close(fd);
}

static void open_channel(bool with_disk, bool ro)
{
	irq_level = irq_rises = 0;
	io = io_create();
	disk = NULL;
	if (with_disk) {
		make_image();
		disk = blockdev_open(path, ro);
		ck_assert_ptr_nonnull(disk);
	}
	ata = ata_create(io, CMD, CTL, (struct irq_line){ set_irq, NULL, 14 }, disk);
	ck_assert_ptr_nonnull(ata);
}

static void setup(void) { open_channel(true, false); }
static void setup_ro(void) { open_channel(true, true); }
static void setup_empty(void) { open_channel(false, false); }

static void teardown(void)
{
	ata_destroy(ata);
	io_destroy(io);
	blockdev_close(disk);
	if (path[0])
		unlink(path);
	path[0] = 0;
}

static void cmd28(uint8_t cmd, uint32_t lba, uint8_t count)
{
	outb(R_DEV, (uint8_t)(0xe0 | ((lba >> 24) & 0x0f)));
	outb(R_NSECT, count);
	outb(R_LBAL, (uint8_t)lba);
	outb(R_LBAM, (uint8_t)(lba >> 8));
	outb(R_LBAH, (uint8_t)(lba >> 16));
	outb(R_STATUS, cmd);
}

static void cmd48(uint8_t cmd, uint64_t lba, uint16_t count)
{
	outb(R_DEV, 0xe0);
	outb(R_NSECT, (uint8_t)(count >> 8));
	outb(R_LBAL, (uint8_t)(lba >> 24));
	outb(R_LBAM, (uint8_t)(lba >> 32));
	outb(R_LBAH, (uint8_t)(lba >> 40));
	outb(R_NSECT, (uint8_t)count);
	outb(R_LBAL, (uint8_t)lba);
	outb(R_LBAM, (uint8_t)(lba >> 8));
	outb(R_LBAH, (uint8_t)(lba >> 16));
	outb(R_STATUS, cmd);
}

/* Read one data-in block; true if it is sector lba of the pattern. */
static bool read_block(uint32_t lba)
{
	bool ok = true;
	for (int i = 0; i < 128; i++) {
		uint32_t lo = inw(), hi = inw();
		ok &= (lo | hi << 16) == lba;
	}
	return ok;
}

static uint32_t file_word(uint32_t lba, int i)
{
	uint32_t v;
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, (long)lba * 512 + i * 4, SEEK_SET);
	ck_assert_int_eq(fread(&v, 4, 1, f), 1);
	fclose(f);
	return v;
}

START_TEST(identify)
{
	outb(R_DEV, 0xa0);
	outb(R_STATUS, 0xec);
	ck_assert_int_eq(inb(CTL), ST_DRDY | ST_DSC | ST_DRQ);
	ck_assert_int_eq(irq_level, 1);
	uint16_t w[256];
	for (int i = 0; i < 256; i++)
		w[i] = inw();
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	ck_assert_int_eq(irq_level, 0);
	ck_assert_int_eq(w[0] & 0x8000, 0);
	ck_assert(w[49] & (1u << 9));
	ck_assert_int_eq(w[60] | (uint32_t)w[61] << 16, DISK);
	ck_assert(w[83] & (1u << 10));
	ck_assert_int_eq(w[83] & 0xc000, 0x4000);
	ck_assert_int_eq(w[100] | (uint32_t)w[101] << 16, DISK);
	ck_assert_int_eq(w[102] | w[103], 0);
	char model[41];
	for (int i = 0; i < 20; i++) {
		model[2 * i] = (char)(w[27 + i] >> 8);
		model[2 * i + 1] = (char)w[27 + i];
	}
	model[40] = 0;
	ck_assert(strncmp(model, "TRAPEZE HARDDISK   ", 19) == 0);
	uint8_t sum = 0;
	for (int i = 0; i < 256; i++)
		sum = (uint8_t)(sum + (w[i] & 0xff) + (w[i] >> 8));
	ck_assert_int_eq(w[255] & 0xff, 0xa5);
	ck_assert_int_eq(sum, 0);
	ck_assert_int_eq(inw(), 0);     /* no DRQ: nothing moves */
}
END_TEST

START_TEST(read_lba28_irq_per_block)
{
	cmd28(0x20, 7, 3);
	for (uint32_t k = 0; k < 3; k++) {
		ck_assert_int_eq(irq_level, 1);
		ck_assert_int_eq(inb(CTL), ST_DRDY | ST_DSC | ST_DRQ);
		ck_assert_int_eq(irq_level, 1);         /* Alternate Status leaves it */
		ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC | ST_DRQ);
		ck_assert_int_eq(irq_level, 0);
		ck_assert(read_block(7 + k));
	}
	ck_assert_int_eq(irq_level, 0);                 /* none after the last block */
	ck_assert_int_eq(irq_rises, 3);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	ck_assert_int_eq(inb(R_ERR), 0);
	ck_assert_int_eq(inb(R_NSECT), 0);
	ck_assert_int_eq(inb(R_LBAL), 10);              /* the address follows the transfer */
}
END_TEST

START_TEST(read_dword_and_lba48)
{
	cmd48(0x24, 290, 2);
	for (uint32_t k = 0; k < 2; k++)
		for (int i = 0; i < 128; i++)
			ck_assert_uint_eq(io_in(io, CMD, 4), 290 + k);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	/* HOB reads back the high-order bytes written first. */
	cmd48(0x40 + 2, 0x123, 1);                      /* READ VERIFY EXT */
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	outb(CTL, 0x80);
	ck_assert_int_eq(inb(R_LBAL), 0);
	outb(CTL, 0);
	ck_assert_int_eq(inb(R_LBAL), 0x24);
}
END_TEST

START_TEST(count0)
{
	cmd28(0x20, 10, 0);                             /* 256 sectors */
	for (uint32_t k = 0; k < 256; k++) {
		ck_assert_int_eq(inb(R_STATUS) & ST_DRQ, ST_DRQ);
		ck_assert(read_block(10 + k));
	}
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	cmd28(0x20, 50, 0);                             /* 50 + 256 > 300 */
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	ck_assert_int_eq(inb(R_ERR), 0x10);
	cmd48(0x24, 0, 0);                              /* 65536 sectors */
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	ck_assert_int_eq(inb(R_ERR), 0x10);
}
END_TEST

START_TEST(write_readback_flush)
{
	cmd28(0x30, 20, 2);
	ck_assert_int_eq(inb(CTL), ST_DRDY | ST_DSC | ST_DRQ);
	ck_assert_int_eq(irq_level, 0);                 /* none for the first block */
	for (int i = 0; i < 256; i++)
		io_out(io, CMD, 2, 0xab00u + (unsigned)i);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC | ST_DRQ);
	for (int i = 0; i < 128; i++)
		io_out(io, CMD, 4, 0xcafe0000u + (unsigned)i);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	ck_assert_uint_eq(file_word(20, 1), 0xab03ab02u);
	ck_assert_uint_eq(file_word(21, 127), 0xcafe007fu);
	ck_assert_uint_eq(file_word(22, 0), 22);
	outb(R_STATUS, 0xe7);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	outb(R_STATUS, 0xea);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	cmd48(0x34, DISK - 1, 1);
	for (int i = 0; i < 256; i++)
		io_out(io, CMD, 2, 0x1111);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	ck_assert_uint_eq(file_word(DISK - 1, 5), 0x11111111u);
}
END_TEST

START_TEST(write_readonly_refused)
{
	cmd28(0x30, 3, 1);
	ck_assert_int_eq(inb(CTL), ST_DRDY | ST_ERR);
	ck_assert_int_eq(inb(R_ERR), 0x44);             /* ABRT, WP */
	ck_assert_int_eq(irq_level, 1);
	for (int i = 0; i < 256; i++)
		io_out(io, CMD, 2, 0xffff);
	cmd48(0x34, 3, 1);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	ck_assert_uint_eq(file_word(3, 0), 3);
	outb(R_STATUS, 0xe7);                           /* nothing to flush: fine */
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	cmd28(0x20, 3, 1);
	ck_assert(read_block(3));
}
END_TEST

START_TEST(past_the_end)
{
	cmd28(0x20, DISK, 1);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	ck_assert_int_eq(inb(R_ERR), 0x10);             /* IDNF */
	ck_assert_int_eq(inw(), 0);
	cmd28(0x30, DISK - 1, 2);                       /* straddles the end: nothing moves */
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	ck_assert_int_eq(inb(R_ERR), 0x10);
	io_out(io, CMD, 2, 0);
	ck_assert_uint_eq(file_word(DISK - 1, 0), DISK - 1);
	cmd48(0x24, 1ull << 40, 1);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	cmd28(0x20, 0x0fffffff, 1);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	/* CHS addressing is not served; unknown commands and MULTIPLE abort. */
	outb(R_DEV, 0xa0);
	outb(R_STATUS, 0x20);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	ck_assert_int_eq(inb(R_ERR), 0x04);
	static const uint8_t bad[] = { 0x00, 0xc4, 0xc5, 0xc6, 0xc8, 0x91, 0xf0, 0xff };
	for (size_t k = 0; k < sizeof(bad); k++) {
		cmd28(bad[k], 1, 1);
		ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
		ck_assert_int_eq(inb(R_ERR), 0x04);
	}
}
END_TEST

START_TEST(busy_and_drq)
{
	cmd28(0x20, 5, 1);
	outb(R_STATUS, 0xec);                           /* during DRQ: ignored */
	ck_assert(read_block(5));
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	/* SRST in the middle of a transfer: BSY, the transfer ends, the signature. */
	cmd28(0x20, 5, 2);
	outb(CTL, 0x04);
	ck_assert_int_eq(inb(CTL), ST_BSY);
	ck_assert_int_eq(inw(), 0);
	outb(R_STATUS, 0xec);                           /* while SRST: ignored */
	outb(CTL, 0x00);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	ck_assert_int_eq(inb(R_ERR), 0x01);
	ck_assert_int_eq(inb(R_NSECT), 1);
	ck_assert_int_eq(inb(R_LBAL), 1);
	ck_assert_int_eq(inb(R_LBAM), 0);
	ck_assert_int_eq(inb(R_LBAH), 0);
	ck_assert_int_eq(inb(R_DEV) & 0x10, 0);
	ck_assert_int_eq(inw(), 0);
	ck_assert_int_eq(irq_level, 0);
}
END_TEST

START_TEST(nien)
{
	outb(CTL, 0x02);
	outb(R_STATUS, 0xe7);
	ck_assert_int_eq(irq_level, 0);
	outb(CTL, 0x00);                                /* pending: nIEN gated it (7.9.6) */
	ck_assert_int_eq(irq_level, 1);
	outb(CTL, 0x02);
	ck_assert_int_eq(irq_level, 0);
	inb(R_STATUS);                                  /* acknowledged */
	outb(CTL, 0x00);
	ck_assert_int_eq(irq_level, 0);
	outb(R_STATUS, 0xe7);
	ck_assert_int_eq(irq_level, 1);
	outb(R_STATUS, 0xe7);                           /* writing Command clears, then sets */
	ck_assert_int_eq(irq_rises, 3);
}
END_TEST

START_TEST(features_and_device1)
{
	outb(R_ERR, 0x02);
	outb(R_STATUS, 0xef);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_DSC);
	outb(R_ERR, 0x03);
	outb(R_NSECT, 0x45);                            /* UDMA mode 5: no DMA here */
	outb(R_STATUS, 0xef);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
	/* Device 1 is absent: Status reads 0 and commands go nowhere. */
	outb(R_DEV, 0xb0);
	ck_assert_int_eq(inb(R_STATUS), 0);
	ck_assert_int_eq(inb(CTL), 0);
	outb(R_STATUS, 0xec);
	ck_assert_int_eq(inw(), 0);
	outb(R_DEV, 0xa0);
	ck_assert_int_eq(inb(R_STATUS), ST_DRDY | ST_ERR);
}
END_TEST

START_TEST(empty_channel)
{
	outb(R_NSECT, 0x55);
	ck_assert_int_eq(inb(R_NSECT), 0);
	ck_assert_int_eq(inb(R_STATUS), 0);
	ck_assert_int_eq(inb(CTL), 0);
	outb(R_STATUS, 0xec);
	ck_assert_int_eq(inb(R_STATUS), 0);
	ck_assert_int_eq(inw(), 0);
	outb(CTL, 0x04);
	outb(CTL, 0x00);
	ck_assert_int_eq(inb(R_STATUS), 0);
	ck_assert_int_eq(irq_level, 0);
}
END_TEST

/* Random traffic on every port: never a crash, never a write outside the image (its
 * size is checked after). */
START_TEST(random_ports)
{
	srand(1234);
	static const uint16_t ports[] = { CMD, CMD, CMD, CMD + 1, CMD + 2, CMD + 3, CMD + 4,
					  CMD + 5, CMD + 6, CMD + 7, CTL };
	static const uint8_t cmds[] = { 0x20, 0x24, 0x30, 0x34, 0xec, 0xe7, 0xea, 0xef,
					0x40, 0x90, 0xe5 };
	for (int n = 0; n < 200000; n++) {
		uint16_t p = ports[rand() % (int)(sizeof(ports) / sizeof(ports[0]))];
		int size = 1 << (rand() % 3);
		uint32_t v = (uint32_t)rand();
		if (p == CMD + 7 && (v & 1))
			v = cmds[v % sizeof(cmds)];
		if (p == CMD + 6)
			v &= ~0x10u;
		if (rand() & 1)
			io_in(io, p, size);
		else
			io_out(io, p, size, v);
	}
	ck_assert_uint_eq(blockdev_sectors(disk), DISK);
	FILE *f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	ck_assert_int_eq(ftell(f), (long)DISK * 512);
	fclose(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ata");
	TCase *t = tcase_create("disk");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, identify);
	tcase_add_test(t, read_lba28_irq_per_block);
	tcase_add_test(t, read_dword_and_lba48);
	tcase_add_test(t, count0);
	tcase_add_test(t, write_readback_flush);
	tcase_add_test(t, past_the_end);
	tcase_add_test(t, busy_and_drq);
	tcase_add_test(t, nien);
	tcase_add_test(t, features_and_device1);
	tcase_add_test(t, random_ports);
	suite_add_tcase(s, t);
	TCase *r = tcase_create("readonly");
	tcase_add_checked_fixture(r, setup_ro, teardown);
	tcase_add_test(r, write_readonly_refused);
	suite_add_tcase(s, r);
	TCase *e = tcase_create("empty");
	tcase_add_checked_fixture(e, setup_empty, teardown);
	tcase_add_test(e, empty_channel);
	suite_add_tcase(s, e);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

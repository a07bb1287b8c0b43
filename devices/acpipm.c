/*
 * acpipm.c - PM1a event and control blocks (see acpipm.h), after the ACPI 6.4
 * specification, 4.8.3 "PM1 Event Grouping" and 4.8.3.2 "PM1 Control Registers"
 * (Table 4.16: SCI_EN bit 0, SLP_TYPx bits 12-10, SLP_EN bit 13, write-only).
 * PM1_STS bits are write-one-to-clear; nothing sets them here.
 */
#include "acpipm.h"

#include <stdbool.h>
#include <stdlib.h>

#define CNT_SCI_EN      0x0001u
#define CNT_SLP_TYP(v)  (((v) >> 10) & 7)
#define CNT_SLP_EN      0x2000u

struct acpipm {
	struct board_stop_hook stop;
	uint16_t sts, en, cnt;
};

/* One byte of the four event-block bytes and two control-block bytes. */
static uint8_t read_byte(const struct acpipm *p, uint16_t port)
{
	switch (port - ACPI_PM1A_EVT) {
	case 0: return (uint8_t)p->sts;
	case 1: return (uint8_t)(p->sts >> 8);
	case 2: return (uint8_t)p->en;
	case 3: return (uint8_t)(p->en >> 8);
	case 4: return (uint8_t)(p->cnt | CNT_SCI_EN);
	case 5: return (uint8_t)(p->cnt >> 8);
	}
	return 0xff;
}

static uint32_t pm_read(void *opaque, uint16_t port, int size)
{
	uint32_t v = 0;
	for (int i = 0; i < size; i++)
		v |= (uint32_t)read_byte(opaque, (uint16_t)(port + i)) << (8 * i);
	return v;
}

/* A write of PM1_CNT: SLP_EN with S5's type turns the machine off; other sleep
 * states (no \_S1-\_S4 in the DSDT) are ignored. */
static void cnt_write(struct acpipm *p, uint16_t v)
{
	p->cnt = (uint16_t)(v & ~CNT_SLP_EN);
	if ((v & CNT_SLP_EN) && CNT_SLP_TYP(v) == ACPI_PM_S5_TYPE)
		board_stop(&p->stop, BOARD_POWEROFF, 0, "the guest powered off (ACPI S5)");
}

static void pm_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct acpipm *p = opaque;
	/* Registers are 16 bits; a byte write changes its half. PM1_CNT takes effect once
	 * with all the bytes written (SLP_EN sits in its high byte). */
	uint16_t cnt = p->cnt;
	bool cnt_written = false;
	for (int i = 0; i < size; i++) {
		unsigned off = (unsigned)(port + i - ACPI_PM1A_EVT);
		uint16_t b = (uint8_t)(val >> (8 * i));
		unsigned sh = (off & 1) * 8;
		switch (off & ~1u) {
		case 0:
			p->sts &= (uint16_t)~(b << sh);
			break;
		case 2:
			p->en = (uint16_t)((p->en & ~(0xffu << sh)) | (unsigned)b << sh);
			break;
		case 4:
			cnt = (uint16_t)((cnt & ~(0xffu << sh)) | (unsigned)b << sh);
			cnt_written = true;
			break;
		}
	}
	if (cnt_written)
		cnt_write(p, cnt);
}

struct acpipm *acpipm_create(struct iobus *io, const struct board_stop_hook *stop)
{
	struct acpipm *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->stop = *stop;
	static const struct io_ports ports[] = { { ACPI_PM1A_EVT, 6, pm_read, pm_write } };
	if (io_claim(io, ports, 1, p) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

void acpipm_destroy(struct acpipm *p) { free(p); }

/*
 * acpipm.h - the ACPI fixed hardware a PC's chipset has for its power management
 * (PIIX4's at QEMU's ports): the PM1a event block (PM1_STS, PM1_EN) at 0x600 and the
 * PM1a control block (PM1_CNT) at 0x604. The machine is always in ACPI mode (SCI_EN
 * set, no SMI command port), raises no events, and ends when the guest enters S5:
 * SLP_EN written with the sleep type the DSDT's \_S5 gives (ACPI_PM_S5_TYPE).
 */
#ifndef TRAPEZE_ACPIPM_H
#define TRAPEZE_ACPIPM_H

#include "board.h"
#include "ioport.h"

struct acpipm;

#define ACPI_PM1A_EVT 0x600
#define ACPI_PM1A_CNT 0x604
#define ACPI_PM_S5_TYPE 5

/* Claim the PM1a blocks on io; S5 stops the machine through stop (copied). NULL on
 * failure. */
struct acpipm *acpipm_create(struct iobus *io, const struct board_stop_hook *stop);
void acpipm_destroy(struct acpipm *p);

#endif

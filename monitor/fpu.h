/*
 * fpu.h - the guest's x87/SSE state stays in the registers across exits (fpu.c).
 */
#ifndef TRAPEZE_FPU_H
#define TRAPEZE_FPU_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu_shared;

/* sh's state may be live in this thread's registers from now on. */
void fpu_attach(struct vcpu_shared *sh);
/* Store the live guest state in the vCPU block (enter.S reloads it): before anything
 * that may use vector registers. */
void fpu_save(void);
/* The same for sh, whether or not it is attached: sh->fx holds its state after. */
void fpu_save_vcpu(struct vcpu_shared *sh);

/* TRAPEZE_CHECK_FPU is set: compare the state across each exit (engine_bt.c). */
bool fpu_check_enabled(void);
/* FXSAVE64 of the registers as they are, into a 16-byte aligned image. */
void fpu_snapshot(uint8_t img[512]);
/* Do two images hold the same guest-visible state? */
bool fpu_same(const uint8_t a[512], const uint8_t b[512]);

#endif

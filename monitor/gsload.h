/*
 * gsload.h - the GS loads of context switches in translated code: a small cache of
 * recently loaded GS values that a MOV GS / POP GS at CPL 0 installs without the
 * monitor (gsload.c; the emitted side is rewriter/mangle_state.c, emit_gs_load).
 *
 * Interface: gs_cache_fill() after each GS load the monitor emulates, gs_cache_clear()
 * whenever the host selectors it holds may be stale (a shadow pool reset, the CPL-3
 * shadows' top moved) or its descriptors moved (LGDT), gs_cache_catch_up() after each
 * return from translated code (before kentry_catch_up).
 */
#ifndef TRAPEZE_GSLOAD_H
#define TRAPEZE_GSLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "../arch/vcpu.h"

struct vm;

/* The monitor's side of the entries in the vCPU block (VC_GSC). */
struct gs_cache {
	struct seg seg[GSC_ENTRIES];    /* what each entry loads into GS */
	bool used[GSC_ENTRIES];
	unsigned next;                  /* the entry the next new value replaces */
	uint32_t seen;                  /* VC_GS_LOADS when last caught up */
	uint64_t loads;                 /* in line, counted at catch-up (--stats) */
};

/* GS was loaded with s from descriptor d (0 for a null selector) by the emulator. */
void gs_cache_fill(struct vm *vm, const struct seg *s, uint64_t d);
void gs_cache_clear(struct vm *vm);
void gs_cache_catch_up(struct vm *vm);
/* The GS class the CPL-3 mode word depends on (MODE_GS_LIN; VC_GGS_FLAT). */
bool gs_flat(const struct seg *s);

#endif

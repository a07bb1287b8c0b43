/*
 * gsload.c - GS loads of context switches without a monitor exit (see gsload.h).
 *
 * Linux loads the next task's GS in __switch_to (loadsegment(gs, next->gs)) right
 * after load_TLS has written that task's TLS descriptor into the GDT: busybox
 * processes all use selector 0x33 (GDT_ENTRY_TLS_MIN), each with a descriptor of its
 * own base, so the load is "the same selector, another descriptor", and between the
 * two processes of a pipe ping-pong it alternates between a few values. The monitor
 * remembers the last few GS values it loaded (GSC_ENTRIES, round robin), each with
 * everything the in-line load installs: the host shadows at CPL 0 (where the load
 * runs) and at CPL 3 (for the prepared SYSEXIT's set, kentry.c), the base and whether
 * GS is flat (MODE_GS_LIN). Translated code (rewriter/mangle_state.c, emit_gs_load)
 * compares the new selector with an entry's and the GDT entry as it is now with the
 * entry's descriptor, so a rewritten descriptor misses, and only a descriptor whose
 * accessed bit is already set can hit (the load would set it: SDM Vol. 3, 3.4.5); it
 * counts the load, and the monitor takes the value over at its next exit.
 *
 * An entry holds only what a load the monitor emulated produced: its checks (SDM
 * Vol. 2, MOV: null, RPL/DPL, present, readable) passed then, at some CPL, and pass at
 * CPL 0 for the same selector and descriptor. Its host selectors stay valid until the
 * shadow pool is reset or the CPL-3 shadows' top moves (the cache is emptied); where
 * its descriptor lies depends on GDTR (LGDT empties it too).
 */
#include <string.h>

#include "gsload.h"
#include "kentry.h"
#include "segments.h"
#include "vm.h"
#include "../rewriter/rewriter.h"

bool gs_flat(const struct seg *s)
{
	return rw_flat_data(s, false);
}

static void entry_empty(struct gs_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->nsel = 1;                    /* no 16-bit selector plus 1 is zero */
	e->dlin = VCPU_ADDR + VC_ONES8;
}

void gs_cache_clear(struct vm *vm)
{
	struct gs_cache *g = &vm->gsc;
	for (int k = 0; k < GSC_ENTRIES; k++) {
		entry_empty(&vm->cpu.sh->gsc[k]);
		g->used[k] = false;
	}
	g->next = 0;
}

/* The entry that holds s from descriptor d already, else the one to replace. */
static int entry_for(struct gs_cache *g, const struct vcpu_shared *sh, uint16_t sel,
		     uint64_t d)
{
	for (int k = 0; k < GSC_ENTRIES; k++)
		if (g->used[k] && g->seg[k].sel == sel &&
		    sh->gsc[k].ndesc[0] == -(uint32_t)d && sh->gsc[k].ndesc[1] == -(uint32_t)(d >> 32))
			return k;
	return (int)(g->next++ % GSC_ENTRIES);
}

void gs_cache_fill(struct vm *vm, const struct seg *s, uint64_t d)
{
	struct gs_cache *g = &vm->gsc;
	struct cpu *c = &vm->cpu;
	uint32_t dlin = seg_desc_lin(c, s->sel, d);
	if (dlin == VCPU_ADDR + VC_ONES8)
		return;                 /* an LDT selector, or a GDT the fast path cannot read */
	uint32_t resets = seg_pool_resets(vm);
	uint16_t h0 = seg_shadow(vm, s, false, 0), h0w = seg_shadow(vm, s, true, 0);
	uint16_t h3 = seg_shadow(vm, s, false, 3), h3w = seg_shadow(vm, s, true, 3);
	if (seg_pool_resets(vm) != resets || vm->stop != STOP_NONE)
		return;                 /* some of them are stale already */
	int k = entry_for(g, c->sh, s->sel, d);
	struct gs_entry *e = &c->sh->gsc[k];
	g->seg[k] = *s;
	g->seg[k].raw = 0;
	g->used[k] = true;
	e->nsel = -(uint32_t)s->sel;
	e->dlin = dlin;
	e->ndesc[0] = -(uint32_t)d;
	e->ndesc[1] = -(uint32_t)(d >> 32);
	e->sel = s->sel;
	e->base = s->base;
	e->hsel0[0] = h0;
	e->hsel0[1] = h0w;
	e->hsel3[0] = h3;
	e->hsel3[1] = h3w;
	e->nflat = -(uint32_t)gs_flat(s);
}

/*
 * Translated code loaded GS from the cache since the monitor last looked: the last
 * entry it loaded is GS now, with its CPL-0 shadows (a later in-line SYSEXIT or
 * SYSENTER installed its set's, and kentry_catch_up, which runs after, says so). A
 * load that changed whether GS is flat cleared the in-line SYSEXIT's flags (the CPL-3
 * mode word the sets were made for no longer holds): the sets are made again.
 */
void gs_cache_catch_up(struct vm *vm)
{
	struct gs_cache *g = &vm->gsc;
	struct cpu *c = &vm->cpu;
	uint32_t n = c->sh->gs_loads;
	if (n == g->seen)
		return;
	g->loads += n - g->seen;
	g->seen = n;
	uint32_t k = c->sh->gs_last / GSC_SIZE;
	if (k >= GSC_ENTRIES || !g->used[k]) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "an in-line GS load took entry %u, which the "
			"monitor does not hold", k);
		return;
	}
	bool was_flat = gs_flat(&c->seg[SR_GS]);
	c->seg[SR_GS] = g->seg[k];
	vm->shadow_cpl[SR_GS] = 0;
	if (gs_flat(&c->seg[SR_GS]) != was_flat || kentry_flags_cleared(vm))
		kentry_invalidate(vm);
}

/*
 * segments.c - guest segmentation on host LDT shadows (see segments.h).
 *
 * Checks follow SDM Vol. 2, MOV (to a segment register), and Vol. 3, 5.5-5.8.
 * Host LDT entries are allocated by content from a pool and never change while in
 * use; when the pool is full it is reset and the live registers are re-shadowed.
 *
 * Each process of the VM (aspaces.c) has an LDT of its own and writes into it only
 * the pool entries it uses: an entry another process made is written here when this
 * process's monitor code asks the pool for it, or when loading its selector faults
 * (the selector reached translated code or tz_enter through shared state: a
 * register's shadow, the GS cache, an in-line system call's set). An entry never
 * written reads as a null system descriptor, and loading it raises #GP with the
 * selector (seg_ldt_fault). A pool reset makes every written entry stale: each
 * process, when it next runs, rewrites those the new pool holds and empties the rest
 * (seg_ldt_sync), so that none can be loaded with old contents.
 */
#define _GNU_SOURCE
#include "segments.h"

#include <asm/ldt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exceptions.h"
#include "vm.h"
#include "../devices/mmio.h"
#include "gsload.h"
#include "kentry.h"
#include "../shadowmmu/mmu.h"
#include "../shadowmmu/walk.h"
#include "../shadowmmu/mem.h"

#define POOL_HASH 16384

struct shadow_key {
	uint32_t base, limit;
	uint32_t kind;          /* attr bits that matter, and whether it is "empty" */
};

struct segshadow {
	struct shadow_key key[POOL_HASH];
	uint16_t idx[POOL_HASH];        /* LDT index, 0 = free slot */
	uint16_t next_idx;
	uint32_t resets;                /* pool resets so far: selectors older are stale */
	struct user_desc desc[LDT_ENTRIES];     /* what each pool entry holds */
};

/* This process's LDT (thread-local: private to each process of the VM): the pool
 * entries written into it, as of pool reset ldt_epoch. */
static __thread uint8_t ldt_have[LDT_ENTRIES / 8];
static __thread uint32_t ldt_epoch;

static bool have(uint32_t idx)
{
	return ldt_have[idx >> 3] & (1u << (idx & 7));
}

static int modify_ldt_write(struct user_desc *d)
{
	if (syscall(SYS_modify_ldt, 0x11, d, sizeof(*d)) != 0)
		return -errno;
	return 0;
}

/* Write pool entry idx's contents into this process's LDT. */
static int ldt_put(struct segshadow *sh, uint32_t idx, struct vm *vm)
{
	int r = modify_ldt_write(&sh->desc[idx]);
	if (r == 0) {
		ldt_have[idx >> 3] |= (uint8_t)(1u << (idx & 7));
		vm->stats.ldt_writes++;
	}
	return r;
}

int seg_ldt_sync(struct vm *vm)
{
	struct segshadow *sh = vm->shadow;
	if (!sh || ldt_epoch == sh->resets)
		return 0;
	/* A pool reset since this process last ran: what it wrote is stale, and ES, DS
	 * and GS may hold it (tz_enter reloads them only when the selector changes). */
	__asm__ volatile("movl %0, %%ds\n\tmovl %0, %%es\n\tmovl %0, %%gs" :: "r"(0) : "memory");
	int r = 0;
	for (uint32_t k = LDT_POOL_FIRST; r == 0 && k < LDT_ENTRIES; k++) {
		if (!have(k))
			continue;
		if (k < sh->next_idx) {
			r = ldt_put(sh, k, vm);
			continue;
		}
		struct user_desc empty = { .entry_number = k, .read_exec_only = 1,
					   .seg_not_present = 1 };
		r = modify_ldt_write(&empty);
		ldt_have[k >> 3] &= (uint8_t)~(1u << (k & 7));
	}
	ldt_epoch = sh->resets;
	vm->stats.ldt_replays++;
	return r;
}

bool seg_ldt_fault(struct vm *vm, int trapno, uint32_t err)
{
	struct segshadow *sh = vm->shadow;
	int saved = errno;
	uint32_t idx = err >> 3;
	/* #GP, #NP or #SS naming an LDT selector (TI set, not an IDT vector or external) */
	if (!sh || (trapno != 13 && trapno != 11 && trapno != 12) || (err & 7) != 4 ||
	    idx < LDT_POOL_FIRST || idx >= sh->next_idx || ldt_epoch != sh->resets || have(idx))
		return false;
	int r = ldt_put(sh, idx, vm);
	errno = saved;
	if (r < 0)
		return false;
	vm->stats.ldt_faults++;
	return true;
}

int shadow_init(struct vm *vm)
{
	struct user_desc d = {
		.entry_number = SEL_MCODE >> 3, .base_addr = 0,
		.limit = 0xfffff, .seg_32bit = 1,
		.contents = MODIFY_LDT_CONTENTS_CODE, .limit_in_pages = 1, .useable = 1,
	};
	int r = modify_ldt_write(&d);
	if (r < 0)
		return r;
	d.entry_number = SEL_MDATA >> 3;
	d.contents = MODIFY_LDT_CONTENTS_DATA;
	r = modify_ldt_write(&d);
	if (r < 0)
		return r;
	vm->shadow = calloc(1, sizeof(*vm->shadow));
	if (!vm->shadow)
		return -ENOMEM;
	vm->shadow->next_idx = LDT_POOL_FIRST;
	memset(ldt_have, 0, sizeof(ldt_have));
	ldt_epoch = 0;
	return 0;
}

void shadow_exit(struct vm *vm)
{
	free(vm->shadow);
	vm->shadow = NULL;
}

/*
 * The host descriptor for guest segment s used as data. Guest offset o reaches host
 * linear base + o, wrapping at 4 GiB as the guest's does; the host limit is cut so that no
 * offset the host accepts wraps into the monitor window, and, for a guest at CPL 3
 * with paging, so that none reaches a page mapped for its supervisor (top: the
 * linear address it must stay below).
 */
static void host_desc(const struct seg *s, uint64_t top, struct user_desc *d,
		      struct shadow_key *k)
{
	uint64_t room = s->base < top ? top - s->base : 0;
	bool expand_down = seg_is_expand_down(s->attr);
	bool writable = seg_is_data_writable(s->attr);
	uint64_t hl;
	bool empty = false;

	memset(d, 0, sizeof(*d));
	d->base_addr = s->base;
	d->seg_32bit = !!(s->attr & SEG_DB);
	d->read_exec_only = !writable;
	d->useable = 1;
	if (expand_down) {
		/* Valid offsets (limit, top]. Raising the bound to 4 GiB - 1 - base makes
		 * every accepted offset wrap back below base, inside the guest's space. */
		uint64_t max_off = d->seg_32bit ? 0xffffffffull : 0xffff;
		hl = s->limit;
		if (d->seg_32bit) {
			/* The accepted offsets then reach guest linear [.., base - 1],
			 * which must stay below the top: base <= top. */
			if (hl < 0xffffffffull - s->base)
				hl = 0xffffffffull - s->base;
			if (s->base > top)
				empty = true;
		} else if (max_off >= room) {
			empty = true;
		}
		d->contents = MODIFY_LDT_CONTENTS_STACK;
		if (hl > 0xfffff) {
			d->limit_in_pages = 1;
			hl >>= 12;      /* rounds the lower bound up */
		}
	} else {
		hl = s->limit;
		if (room == 0)
			empty = true;
		else if (hl > room - 1)
			hl = room - 1;
		d->contents = MODIFY_LDT_CONTENTS_DATA;
		if (hl > 0xfffff) {
			d->limit_in_pages = 1;
			hl = ((hl + 1) >> 12) - 1;      /* rounds the limit down */
		}
	}
	if (empty) {
		/* No offset valid: expand-down with the largest limit. */
		d->contents = MODIFY_LDT_CONTENTS_STACK;
		d->seg_32bit = 1;
		d->limit_in_pages = 1;
		hl = 0xfffff;
	}
	d->limit = (unsigned)hl;
	k->base = d->base_addr;
	k->limit = d->limit;
	k->kind = 1u | d->seg_32bit << 1 | d->contents << 2 | d->read_exec_only << 4 |
		  d->limit_in_pages << 5;
}

static void pool_reset(struct vm *vm);

/*
 * The second view of a flat-limited segment with a base: only the offsets that wrap
 * around 4 GiB to below the base (an expand-down host segment). Thread-local storage
 * on i386 is reached as gs:-disp (glibc's and busybox's errno, stack guard...): the
 * rewriter points a gs: access with a large constant displacement at this view, which
 * reaches what the ordinary view's cut would send to the emulator. False if s has no
 * such offsets that the host can reach.
 */
static bool host_desc_wrap(const struct seg *s, uint64_t top, struct user_desc *d,
			   struct shadow_key *k)
{
	bool exec_only = seg_is_code(s->attr) && !seg_is_code_readable(s->attr);
	if (!s->base || s->base > top || s->limit != 0xffffffffu || seg_is_expand_down(s->attr) ||
	    !(s->attr & SEG_DB) || exec_only)
		return false;
	memset(d, 0, sizeof(*d));
	d->base_addr = s->base;
	d->seg_32bit = 1;
	d->read_exec_only = !seg_is_data_writable(s->attr);
	d->useable = 1;
	d->contents = MODIFY_LDT_CONTENTS_STACK;
	uint64_t hl = 0xffffffffull - s->base;  /* accepted offsets (hl, 4 GiB) */
	if (hl > 0xfffff) {
		d->limit_in_pages = 1;
		hl >>= 12;
	}
	d->limit = (unsigned)hl;
	k->base = d->base_addr;
	k->limit = d->limit;
	k->kind = 1u | d->seg_32bit << 1 | d->contents << 2 | d->read_exec_only << 4 |
		  d->limit_in_pages << 5;
	return true;
}

/* The host selector shadowing guest segment s as data (wrap: its wrap view, see
 * host_desc_wrap); 0 if s is unusable. */
static uint16_t shadow_sel_cpl(struct vm *vm, const struct seg *s, bool wrap, int cpl)
{
	struct segshadow *sh = vm->shadow;
	struct user_desc d;
	struct shadow_key k;

	if (!seg_usable(s))
		return 0;
	if (seg_is_code(s->attr) && !seg_is_code_readable(s->attr))
		return 0;               /* execute-only code: no data view */
	uint64_t top = GUEST_TOP;
	if (cpl == 3 && vm->mmu && mmu_user_top(vm->mmu) < top)
		top = mmu_user_top(vm->mmu);
	if (!wrap)
		host_desc(s, top, &d, &k);
	else if (!host_desc_wrap(s, top, &d, &k))
		return shadow_sel_cpl(vm, s, false, cpl);
	uint32_t h = (k.base * 0x9e3779b1u ^ k.limit * 0x85ebca6bu ^ k.kind) % POOL_HASH;
	for (;;) {
		if (!sh->idx[h])
			break;
		if (!memcmp(&sh->key[h], &k, sizeof(k))) {
			/* Made by another process of the VM: written here on first use. */
			if (!have(sh->idx[h]) && ldt_put(sh, sh->idx[h], vm) < 0)
				goto failed;
			return (uint16_t)(sh->idx[h] << 3 | 7);
		}
		h = (h + 1) % POOL_HASH;
	}
	if (sh->next_idx >= LDT_ENTRIES) {
		pool_reset(vm);
		return shadow_sel_cpl(vm, s, wrap, cpl);
	}
	d.entry_number = sh->next_idx;
	sh->desc[sh->next_idx] = d;
	if (ldt_put(sh, sh->next_idx, vm) < 0)
		goto failed;
	sh->key[h] = k;
	sh->idx[h] = sh->next_idx++;
	vm->stats.ldt_shadows++;
	return (uint16_t)(sh->idx[h] << 3 | 7);
failed:
	vm_stop(vm, STOP_MONITOR_ERROR, 6, "modify_ldt failed for a guest segment: %s",
		strerror(errno));
	return 0;
}

uint16_t seg_shadow(struct vm *vm, const struct seg *s, bool wrap, int cpl)
{
	return shadow_sel_cpl(vm, s, wrap, cpl);
}

static uint16_t shadow_sel_view(struct vm *vm, const struct seg *s, bool wrap)
{
	return shadow_sel_cpl(vm, s, wrap, vm->cpu.cpl);
}

static uint16_t shadow_sel(struct vm *vm, const struct seg *s)
{
	return shadow_sel_view(vm, s, false);
}

static void pool_reset(struct vm *vm)
{
	/* Entries are about to be rewritten while DS, ES and GS may still hold pool
	 * selectors (tz_enter reloads them only when the selector changes): null them
	 * here, so the next entry loads them whatever the kernel does about the LDT
	 * change. */
	__asm__ volatile("movl %0, %%ds\n\tmovl %0, %%es\n\tmovl %0, %%gs" :: "r"(0) : "memory");
	memset(vm->shadow->idx, 0, sizeof(vm->shadow->idx));
	vm->shadow->next_idx = LDT_POOL_FIRST;
	vm->shadow->resets++;
	if (seg_ldt_sync(vm) < 0)       /* this process's entries are stale too */
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "modify_ldt failed emptying the LDT: %s",
			strerror(errno));
	gs_cache_clear(vm);
	for (int sr = 0; sr < SR_COUNT; sr++)
		seg_sync(vm, sr);
	fs_alt_publish(vm);
}

uint32_t seg_pool_resets(const struct vm *vm)
{
	return vm->shadow->resets;
}

/*
 * Where a segment's descriptor lies, for the translated FS swap to compare it (against
 * the GDT as it is then): a null selector's is VC_ZERO8; one that did not come from the
 * GDT (raw 0), or a GDT entry the host could not read, has VC_ONES8, which no
 * descriptor matches.
 */
uint32_t seg_desc_lin(const struct cpu *c, uint16_t sel, uint64_t raw)
{
	if (!(sel & ~3u))
		return VCPU_ADDR + VC_ZERO8;
	uint32_t at = c->gdtr.base + (sel & ~7u);
	if ((sel & SEL_TI) || !raw || (sel & ~7u) + 7 > c->gdtr.limit || at < GUEST_LOW ||
	    at > GUEST_TOP - 8)
		return VCPU_ADDR + VC_ONES8;
	return at;
}

static uint32_t desc_lin(const struct cpu *c, const struct seg *s)
{
	return seg_desc_lin(c, s->sel, s->raw);
}

/*
 * Publish fs_alt for translated code (rewriter/mangle_state.c, emit_fs_load): Linux loads FS with
 * its per-CPU segment at every kernel entry and the user's value at every exit, so the
 * value before the current one is the next one, and translated code at CPL 0 swaps
 * the two without the monitor. Its shadow is made for CPL 0, where the swap runs.
 */
void fs_alt_publish(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	struct vcpu_shared *sh = c->sh;
	const struct seg *a = &c->fs_alt;
	sh->zero8 = 0;
	sh->ones8 = ~0ull;
	sh->fsalt_nsel = -(uint32_t)a->sel;
	sh->fsalt_dlin = desc_lin(c, a);
	sh->fsalt_ndesc[0] = -(uint32_t)a->raw;
	sh->fsalt_ndesc[1] = -(uint32_t)(a->raw >> 32);
	sh->fsalt_hsel = shadow_sel_cpl(vm, a, false, 0);
	sh->fs_dlin = desc_lin(c, &c->seg[SR_FS]);
}

/* Translated code swapped FS with fs_alt an odd number of times since the monitor last
 * looked: swap the monitor's copies too (the vCPU block's already are). */
void fs_alt_catch_up(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	uint32_t n = c->sh->fs_swaps - c->fs_swaps_seen;
	c->fs_swaps_seen = c->sh->fs_swaps;
	if (n & 1) {
		struct seg t = c->seg[SR_FS];
		c->seg[SR_FS] = c->fs_alt;
		c->fs_alt = t;
		vm->shadow_cpl[SR_FS] = 0;
	}
}

void seg_sync(struct vm *vm, int sr)
{
	/* The in-line system calls' sets hold the data segments' shadows (their CS and SS
	 * are the targets' own): an event delivered or a far transfer leaves them. */
	if (sr != SR_CS && sr != SR_SS)
		kentry_invalidate(vm);
	seg_reshadow(vm, sr);
}

void seg_reshadow(struct vm *vm, int sr)
{
	struct cpu *c = &vm->cpu;
	uint16_t h = shadow_sel(vm, &c->seg[sr]);
	vm->shadow_cpl[sr] = (int8_t)c->cpl;
	c->sh->gsel[sr] = c->seg[sr].sel;
	c->sh->gsel32[sr] = c->seg[sr].sel;
	c->sh->ldesc[sr] = c->seg[sr].raw;
	/* CS and GS themselves are always the monitor's: their slots hold the data
	 * views that translated code swaps into FS for cs: and gs: prefixes. */
	if (sr == SR_GS) {
		c->sh->ggs_base = c->seg[sr].base;
		c->sh->ggs_flat = gs_flat(&c->seg[sr]);
		c->sh->hsel_ggs = h;
		c->sh->hsel_ggs_wrap = shadow_sel_view(vm, &c->seg[sr], true);
	} else
		c->sh->hsel[sr] = h;
	c->sh->hsel[SR_GS] = SEL_MDATA;
	if (sr == SR_FS)
		c->sh->fs_dlin = desc_lin(c, &c->seg[sr]);
}

void seg_from_desc(struct seg *s, uint16_t sel, uint64_t d)
{
	s->sel = sel;
	s->base = (uint32_t)((d >> 16) & 0xffffff) | (uint32_t)((d >> 56) & 0xff) << 24;
	s->limit = (uint32_t)(d & 0xffff) | (uint32_t)((d >> 48) & 0xf) << 16;
	s->attr = DESC_ATTR(d);
	s->raw = 0;
	if (s->attr & SEG_G)
		s->limit = s->limit << 12 | 0xfff;
}

void seg_set(struct vm *vm, int sr, uint16_t sel, uint32_t base, uint32_t limit, uint16_t attr)
{
	struct seg *s = &vm->cpu.seg[sr];
	s->sel = sel;
	s->base = base;
	s->limit = limit;
	s->attr = attr;
	s->raw = 0;
	seg_sync(vm, sr);
}

/* Guest physical memory for the monitor: RAM, else a device on the MMIO bus (one
 * access of the whole size, as the instruction makes it), else an empty bus (all
 * ones, writes dropped). */
static void phys_read(struct vm *vm, uint64_t pa, void *buf, uint32_t len)
{
	uint8_t *p = mem_phys(&vm->mem, pa, len);
	if (p) {
		memcpy(buf, p, len);
		return;
	}
	uint64_t v;
	if ((len == 1 || len == 2 || len == 4 || len == 8) && mmio_read(vm->mmio, pa, (int)len, &v)) {
		memcpy(buf, &v, len);
		return;
	}
	for (uint32_t i = 0; i < len; i++) {
		p = mem_phys(&vm->mem, pa + i, 1);
		if (p)
			((uint8_t *)buf)[i] = *p;
		else if (mmio_read(vm->mmio, pa + i, 1, &v))
			((uint8_t *)buf)[i] = (uint8_t)v;
		else
			((uint8_t *)buf)[i] = 0xff;
	}
}

static void phys_write(struct vm *vm, uint64_t pa, const void *buf, uint32_t len)
{
	if (mem_write_phys(&vm->mem, pa, buf, len))
		return;
	uint64_t v = 0;
	memcpy(&v, buf, len < 8 ? len : 8);
	if ((len == 1 || len == 2 || len == 4 || len == 8) && mmio_write(vm->mmio, pa, (int)len, v))
		return;
	for (uint32_t i = 0; i < len; i++)
		if (!mem_write_phys(&vm->mem, pa + i, (const uint8_t *)buf + i, 1))
			mmio_write(vm->mmio, pa + i, 1, ((const uint8_t *)buf)[i]);
}

int lin_access(struct vm *vm, uint32_t lin, void *buf, uint32_t len, unsigned acc)
{
	/* Translate every page first, so that a #PF leaves memory as it was. */
	uint64_t pa[4];         /* above 4 GiB under PAE: not RAM */
	uint32_t npages = len ? (((lin & 0xfff) + len - 1) >> 12) + 1 : 0;
	if (npages > 4) {           /* long accesses: page by page */
		for (uint32_t done = 0; done < len;) {
			uint32_t n = 4096 - ((lin + done) & 0xfff);
			if (n > len - done)
				n = len - done;
			if (lin_access(vm, lin + done, (uint8_t *)buf + done, n, acc) < 0)
				return -1;
			done += n;
		}
		return 0;
	}
	for (uint32_t k = 0; k < npages; k++) {
		uint32_t at = k ? ((lin & ~0xfffu) + (k << 12)) : lin;
		if (mmu_translate(vm->mmu, at, acc, &pa[k]) < 0)
			return -1;
	}
	for (uint32_t k = 0, done = 0; k < npages; k++) {
		uint32_t n = 4096 - (pa[k] & 0xfff);
		if (n > len - done)
			n = len - done;
		if (acc & PF_ACC_WRITE)
			phys_write(vm, pa[k], (const uint8_t *)buf + done, n);
		else
			phys_read(vm, pa[k], (uint8_t *)buf + done, n);
		done += n;
	}
	return 0;
}

int lin_check(struct vm *vm, uint32_t lin, uint32_t len, unsigned acc)
{
	uint64_t pa;
	uint32_t npages = len ? (((lin & 0xfff) + len - 1) >> 12) + 1 : 0;
	for (uint32_t k = 0; k < npages; k++)
		if (mmu_translate(vm->mmu, k ? (lin & ~0xfffu) + (k << 12) : lin, acc, &pa) < 0)
			return -1;
	return 0;
}

int lin_read(struct vm *vm, uint32_t lin, void *buf, uint32_t len)
{
	return lin_access(vm, lin, buf, len, 0);
}

int lin_write(struct vm *vm, uint32_t lin, const void *buf, uint32_t len)
{
	return lin_access(vm, lin, (void *)buf, len, PF_ACC_WRITE);
}

bool desc_fetch(struct vm *vm, uint16_t sel, uint64_t *d, uint32_t *lin)
{
	struct cpu *c = &vm->cpu;
	uint32_t base, limit, off = sel & ~7u;
	if (sel & SEL_TI) {
		if (!seg_usable(&c->ldtr))
			return false;
		base = c->ldtr.base;
		limit = c->ldtr.limit;
	} else {
		base = c->gdtr.base;
		limit = c->gdtr.limit;
	}
	if (off + 7 > limit)
		return false;
	lin_read(vm, base + off, d, 8);
	if (lin)
		*lin = base + off;
	return true;
}

void desc_mark_accessed(struct vm *vm, uint64_t *d, uint32_t lin)
{
	if (*d & DESC_ACCESSED)
		return;
	*d |= DESC_ACCESSED;
	uint8_t b = (uint8_t)(*d >> 40);
	lin_write(vm, lin + 5, &b, 1);
}

/* A loaded register takes s; FS keeps the value it had as its alternate. */
static void seg_assign(struct vm *vm, int sr, struct seg s)
{
	struct cpu *c = &vm->cpu;
	if (sr == SR_FS)
		c->fs_alt = c->seg[sr];
	c->seg[sr] = s;
	seg_sync(vm, sr);
	if (sr == SR_FS)
		fs_alt_publish(vm);
}

int seg_load(struct vm *vm, int sr, uint16_t sel)
{
	struct cpu *c = &vm->cpu;
	uint64_t d;
	uint32_t lin;
	uint16_t err = sel & SEL_ERR_MASK;

	assert(sr != SR_CS);
	if (sel_is_null(sel)) {
		if (sr == SR_SS) {
			exc_raise(vm, VEC_GP, true, 0);
			return -1;
		}
		seg_assign(vm, sr, (struct seg){ .sel = sel });
		if (sr == SR_GS)
			gs_cache_fill(vm, &c->seg[sr], 0);
		return 0;
	}
	if (!desc_fetch(vm, sel, &d, &lin)) {
		exc_raise(vm, VEC_GP, true, err);
		return -1;
	}
	struct seg s;
	seg_from_desc(&s, sel, d);
	unsigned dpl = SEG_DPL(s.attr), rpl = SEL_RPL(sel);
	if (seg_is_system(s.attr)) {
		exc_raise(vm, VEC_GP, true, err);
		return -1;
	}
	if (sr == SR_SS) {
		/* A writable data segment with RPL = DPL = CPL. */
		if (rpl != (unsigned)c->cpl || dpl != (unsigned)c->cpl || !seg_is_data_writable(s.attr)) {
			exc_raise(vm, VEC_GP, true, err);
			return -1;
		}
		if (!seg_present(s.attr)) {
			exc_raise(vm, VEC_SS, true, err);
			return -1;
		}
	} else {
		if (!seg_is_readable(s.attr)) {         /* execute-only code */
			exc_raise(vm, VEC_GP, true, err);
			return -1;
		}
		/* data and non-conforming code: privilege check */
		if (!seg_is_conforming(s.attr) && (rpl > dpl || (unsigned)c->cpl > dpl)) {
			exc_raise(vm, VEC_GP, true, err);
			return -1;
		}
		if (!seg_present(s.attr)) {
			exc_raise(vm, VEC_NP, true, err);
			return -1;
		}
	}
	desc_mark_accessed(vm, &d, lin);
	s.attr |= SEG_ACCESSED;
	s.raw = (sr == SR_DS || sr == SR_ES || sr == SR_FS) && !(sel & SEL_TI) ? d : 0;
	seg_assign(vm, sr, s);
	if (sr == SR_GS)
		gs_cache_fill(vm, &s, d);
	return 0;
}

int seg_check_cs(struct vm *vm, uint16_t sel, uint32_t eip, struct cs_load *l)
{
	struct cpu *c = &vm->cpu;
	uint64_t d;
	uint32_t lin;
	uint16_t err = sel & SEL_ERR_MASK;

	if (sel_is_null(sel) || !desc_fetch(vm, sel, &d, &lin)) {
		exc_raise(vm, VEC_GP, true, err);
		return -1;
	}
	struct seg s;
	seg_from_desc(&s, sel, d);
	unsigned dpl = SEG_DPL(s.attr), rpl = SEL_RPL(sel);
	/* Gates and TSSs were dispatched before (emulate.c); any other system or data
	 * descriptor is #GP(sel). */
	if (seg_is_system(s.attr) || !seg_is_code(s.attr)) {
		exc_raise(vm, VEC_GP, true, err);
		return -1;
	}
	if (seg_is_conforming(s.attr)) {
		if (dpl > (unsigned)c->cpl) {
			exc_raise(vm, VEC_GP, true, err);
			return -1;
		}
	} else if (rpl > (unsigned)c->cpl || dpl != (unsigned)c->cpl) {
		exc_raise(vm, VEC_GP, true, err);
		return -1;
	}
	if (!seg_present(s.attr)) {
		exc_raise(vm, VEC_NP, true, err);
		return -1;
	}
	if (eip > s.limit) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	*l = (struct cs_load){ s, d, lin, eip };
	return 0;
}

void seg_commit_cs(struct vm *vm, struct cs_load *l)
{
	struct cpu *c = &vm->cpu;
	desc_mark_accessed(vm, &l->d, l->lin);
	l->s.attr |= SEG_ACCESSED;
	l->s.sel = (uint16_t)((l->s.sel & ~3u) | (unsigned)c->cpl);
	c->seg[SR_CS] = l->s;
	seg_sync(vm, SR_CS);
	c->sh->eip = l->eip;
}

int seg_load_cs(struct vm *vm, uint16_t sel, uint32_t eip)
{
	struct cs_load l;
	if (seg_check_cs(vm, sel, eip, &l) < 0)
		return -1;
	seg_commit_cs(vm, &l);
	return 0;
}

int seg_check(const struct seg *s, int sr, uint32_t off, uint32_t len, bool write)
{
	int vec = sr == SR_SS ? VEC_SS : VEC_GP;
	if (!seg_usable(s))
		return vec;
	if (seg_is_code(s->attr)) {
		if (write || !seg_is_code_readable(s->attr))
			return vec;
	} else if (write && !seg_is_data_writable(s->attr)) {
		return vec;
	}
	uint64_t last = (uint64_t)off + len - 1;
	if (seg_is_expand_down(s->attr)) {
		uint64_t top = (s->attr & SEG_DB) ? 0xffffffffull : 0xffff;
		if (off <= s->limit || last > top)
			return vec;
	} else if (last > s->limit) {
		return vec;
	}
	return -1;
}

int seg_read(struct vm *vm, int sr, uint32_t off, void *buf, uint32_t len)
{
	const struct seg *s = &vm->cpu.seg[sr];
	int vec = seg_check(s, sr, off, len, false);
	if (vec >= 0) {
		exc_raise(vm, vec, true, 0);
		return -1;
	}
	if (lin_access(vm, s->base + off, buf, len, vm->cpu.cpl == 3 ? PF_ACC_USER : 0) < 0)
		return -1;
	if (vm->dbg.nwatch)
		dbg_access(vm, s->base + off, len, false);
	return 0;
}

int seg_write(struct vm *vm, int sr, uint32_t off, const void *buf, uint32_t len)
{
	const struct seg *s = &vm->cpu.seg[sr];
	int vec = seg_check(s, sr, off, len, true);
	if (vec >= 0) {
		exc_raise(vm, vec, true, 0);
		return -1;
	}
	if (lin_access(vm, s->base + off, (void *)buf, len,
		       PF_ACC_WRITE | (vm->cpu.cpl == 3 ? PF_ACC_USER : 0)) < 0)
		return -1;
	if (vm->dbg.nwatch)
		dbg_access(vm, s->base + off, len, true);
	return 0;
}

int stack_push(struct vm *vm, uint32_t v, int size)
{
	struct cpu *c = &vm->cpu;
	bool big = c->seg[SR_SS].attr & SEG_DB;
	uint32_t esp = c->sh->regs[R_ESP];
	uint32_t nsp = big ? esp - size : (esp & 0xffff0000u) | ((esp - size) & 0xffff);
	if (seg_write(vm, SR_SS, big ? nsp : nsp & 0xffff, &v, size) < 0)
		return -1;
	c->sh->regs[R_ESP] = nsp;
	return 0;
}

int stack_pop(struct vm *vm, uint32_t *v, int size)
{
	struct cpu *c = &vm->cpu;
	bool big = c->seg[SR_SS].attr & SEG_DB;
	uint32_t esp = c->sh->regs[R_ESP];
	*v = 0;
	if (seg_read(vm, SR_SS, big ? esp : esp & 0xffff, v, size) < 0)
		return -1;
	c->sh->regs[R_ESP] = big ? esp + size : (esp & 0xffff0000u) | ((esp + size) & 0xffff);
	return 0;
}

void stack_adjust(struct vm *vm, uint32_t delta)
{
	struct cpu *c = &vm->cpu;
	uint32_t esp = c->sh->regs[R_ESP];
	c->sh->regs[R_ESP] = (c->seg[SR_SS].attr & SEG_DB) ? esp + delta
				: (esp & 0xffff0000u) | ((esp + delta) & 0xffff);
}

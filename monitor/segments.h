/*
 * segments.h - guest segmentation: descriptor tables, segment loads and their checks,
 * guest memory access through segments, and the host LDT entries that shadow them.
 *
 * The guest's segment registers are virtual (struct cpu.seg). For each one the
 * monitor loads a host LDT selector whose descriptor has the guest's base and a limit
 * cut so no offset reaches the monitor window above the guest's space (layout.h).
 * Host descriptors are shared by content: a flat guest uses one for DS, ES, SS, FS.
 * Functions returning int give 0 on success or -1 after raising a guest exception.
 */
#ifndef TRAPEZE_SEGMENTS_H
#define TRAPEZE_SEGMENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "../arch/x86.h"

struct vm;
struct seg;

/* Install the monitor's own LDT entries; negative errno if modify_ldt fails. */
int shadow_init(struct vm *vm);
/* Free the shadow pool (the host LDT goes with the process). */
void shadow_exit(struct vm *vm);
/* Before this process runs the guest (aspaces.c) and after a pool reset: if the pool
 * was reset since it last looked, its host LDT's entries are rewritten or emptied;
 * 0 or -errno. */
int seg_ldt_sync(struct vm *vm);
/* A host #GP/#NP/#SS (trapno) with error code err in this process: if it names a pool
 * entry this process's LDT does not have yet, write it and return true (the faulting
 * instruction is then retried). */
bool seg_ldt_fault(struct vm *vm, int trapno, uint32_t err);

/* Recompute the host selectors and guest-visible selectors of register sr. */
void seg_sync(struct vm *vm, int sr);
/* The same for an unchanged segment whose shadow must be made for another CPL (or
 * line): the in-line system calls' sets, made for both CPLs, stay. */
void seg_reshadow(struct vm *vm, int sr);
/* The host selector shadowing s as data at cpl (wrap: its view of the offsets that
 * wrap below its base); 0 if s is unusable as data. */
uint16_t seg_shadow(struct vm *vm, const struct seg *s, bool wrap, int cpl);
/* FS's value before its last load, for translated code to swap in (VC_FSALT_*):
 * publish it again (after LGDT, a shadow pool reset), and take over the swaps
 * translated code made (at every exit, before the monitor looks at FS). */
void fs_alt_publish(struct vm *vm);
void fs_alt_catch_up(struct vm *vm);
/* Where the descriptor of sel (raw: as loaded, 0 if not from the GDT) lies for
 * translated code to compare: VC_ZERO8 for a null selector, VC_ONES8 (matches
 * nothing) if not in the GDT within its limit and below the window. */
struct cpu;
uint32_t seg_desc_lin(const struct cpu *c, uint16_t sel, uint64_t raw);
/* How many times the shadow pool was reset: a host selector made before the last
 * reset is stale. */
uint32_t seg_pool_resets(const struct vm *vm);

/* Decode descriptor d into s (selector sel). */
void seg_from_desc(struct seg *s, uint16_t sel, uint64_t d);
/* Read the descriptor of sel into *d (and its linear address); false if sel is
 * outside its table. */
bool desc_fetch(struct vm *vm, uint16_t sel, uint64_t *d, uint32_t *lin);
/* Set the accessed bit of descriptor *d at linear lin, in *d and in guest memory, as
 * the CPU does when it loads a segment register from it. */
void desc_mark_accessed(struct vm *vm, uint64_t *d, uint32_t lin);

/* MOV/POP/Lxx to a data or stack segment register, with the SDM's checks. */
int seg_load(struct vm *vm, int sr, uint16_t sel);
/* Far transfer to sel:eip at the same privilege (code segment checks, no gates). */
int seg_load_cs(struct vm *vm, uint16_t sel, uint32_t eip);
/* seg_load_cs in two steps, for a far CALL, which checks the target before it pushes
 * and loads it after (a fault leaves memory as it was): the checks (0, or -1 with the
 * exception raised), then the load (marks the descriptor accessed). */
struct cs_load {
	struct seg s;
	uint64_t d;
	uint32_t lin, eip;
};
int seg_check_cs(struct vm *vm, uint16_t sel, uint32_t eip, struct cs_load *l);
void seg_commit_cs(struct vm *vm, struct cs_load *l);
/* Set a register without checks (reset and boot state). */
void seg_set(struct vm *vm, int sr, uint16_t sel, uint32_t base, uint32_t limit, uint16_t attr);

/* Guest linear memory, through the guest's page tables when paging is on (acc: the
 * PF_ACC_* bits of shadowmmu/walk.h). 0, or -1 with #PF raised and nothing written.
 * Physical addresses without RAM read as all ones and drop writes (an empty bus).
 * lin_read/lin_write are supervisor accesses (descriptor tables, the TSS). */
int lin_access(struct vm *vm, uint32_t lin, void *buf, uint32_t len, unsigned acc);
int lin_read(struct vm *vm, uint32_t lin, void *buf, uint32_t len);
/* The page checks of an access of len bytes at lin (acc as lin_access) without the
 * access: 0, or -1 with #PF raised at the first byte the tables refuse (CR2 the start
 * of the second page when that is the one). Sets accessed and dirty bits. */
int lin_check(struct vm *vm, uint32_t lin, uint32_t len, unsigned acc);
int lin_write(struct vm *vm, uint32_t lin, const void *buf, uint32_t len);

/* Check an access of len bytes at offset off through s (register sr): the vector
 * the CPU raises (#GP or #SS), or -1 if the access is allowed. */
int seg_check(const struct seg *s, int sr, uint32_t off, uint32_t len, bool write);

/* Memory access through segment register sr, with limit and type checks. */
int seg_read(struct vm *vm, int sr, uint32_t off, void *buf, uint32_t len);
int seg_write(struct vm *vm, int sr, uint32_t off, const void *buf, uint32_t len);

/* Push and pop on the guest stack (SS:ESP, 32- or 16-bit operand). */
int stack_push(struct vm *vm, uint32_t v, int size);
int stack_pop(struct vm *vm, uint32_t *v, int size);
/* Add delta to ESP, or to SP alone on a 16-bit stack (SS.B clear). */
void stack_adjust(struct vm *vm, uint32_t delta);

#endif

/*
 * mem.h - guest physical memory: its RAM, the low-4-GiB reservation and the window.
 *
 * Guest RAM is one memfd (struct guest_mem, which struct vm embeds). The monitor maps
 * it once at mem->ram (the physmap) for its own accesses; the guest sees it at host =
 * linear, mapped from the memfd by the shadow MMU (mmu.c), which also fills
 * mem->wp: the pages whose writes must be seen (those that hold translated code, and
 * the page tables a CR3 load's check relies on), kept read-only in every guest
 * mapping. mem_init() also reserves the whole low 4 GiB so nothing of the host lands
 * there, and maps the monitor window.
 *
 * Interface: mem_init() at VM creation, then the owner of the translations wires
 * written; mem_phys() for reads and in-place access, mem_write_phys() for every
 * monitor write that must be seen, mem_write_ad() for the A and D bits a walk sets;
 * mem_exit() at teardown.
 */
#ifndef TRAPEZE_MEM_H
#define TRAPEZE_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define MEM_MIN  (2ull << 20)
#define MEM_MAX  (3ull << 30)

struct guest_mem {
	uint8_t *ram;                   /* guest physical 0 in the monitor's physmap */
	uint64_t size;
	int fd;                         /* the memfd, mapped again per guest page */
	uint8_t *wp;                    /* per physical page: MEM_WP_*; not 0: read-only
					   in every guest mapping, writes reported */
	/* Advanced whenever a MEM_WP_TABLE page is written or stops being one, and at
	 * whatever else changes how the tables translate (paging modes): a translation
	 * read from such pages alone holds while this stays (the code cache's CR3 check,
	 * codecache.c, which dates by its low half and forgets every date when the high
	 * half moves). Anyone may advance it; its low half is never 0. */
	uint64_t trace_epoch;
	/* A write is about to reach physical page ppn, which is what (MEM_WP_*): drop its
	 * translations, its tracing. guest: the guest's own write, faulted in translated
	 * code and redone once this returns; else one by the monitor (mem_write_phys). */
	void (*written)(void *opaque, uint32_t ppn, unsigned what, bool guest);
	void *opaque;
};

#define MEM_WP_CODE  1u         /* holds translated code (mmu_protect_code) */
#define MEM_WP_TABLE 2u         /* a paging structure traced translations were read
				   from (mmu_peek_fetch) */

/* Reserve the low 4 GiB, map the window and size bytes of RAM (paging off: at host =
 * physical from GUEST_LOW up); negative errno, nothing left behind. */
int mem_init(struct guest_mem *mem, uint64_t size);
void mem_exit(struct guest_mem *mem);

/* Host pointer to guest physical [pa, pa + len), or NULL if not all RAM. */
void *mem_phys(const struct guest_mem *mem, uint64_t pa, uint64_t len);

/* What must see a write to physical page ppn (MEM_WP_*; 0: nothing, it is mapped
 * as the guest's tables say). */
static inline unsigned mem_page_wp(const struct guest_mem *mem, uint32_t ppn)
{
	return ppn < mem->size >> 12 ? mem->wp[ppn] : 0;
}

/* Copy to guest physical memory, reporting the pages written (written()). Returns
 * false if the range is not all RAM. */
bool mem_write_phys(struct guest_mem *mem, uint64_t pa, const void *src, uint64_t len);

/* The report mem_write_phys makes, for a write to RAM [pa, pa + len) about to happen
 * another way (a device's DMA into a buffer the monitor maps). */
void mem_report_write(struct guest_mem *mem, uint64_t pa, uint64_t len);

/* Write the 32-bit paging-structure entry at pa, whose value differs from the one
 * there only in its A and D bits: what the entry says of its page, not where or how
 * it maps it, so a traced translation read from it still holds (only translated code
 * on that page is reported). Nothing outside RAM. */
void mem_write_ad(struct guest_mem *mem, uint64_t pa, uint32_t v);

#endif

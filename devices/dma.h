/*
 * dma.h - guest physical memory as a bus-master device reaches it: by guest physical
 * address, bounds-checked, never through the guest's page tables.
 *
 * The monitor fills a struct dma_space when it builds the board (it owns guest RAM);
 * a device asks it for a host pointer to a range before each access and treats NULL
 * (a range not all RAM: outside the guest's memory, or wrapping) as the guest's error.
 * A range mapped for writing has its translated code dropped first, so a device that
 * writes over code the guest ran (a disk read into a code page) is seen by the CPU.
 *
 * Interface: dma_map() for each access; the pointer is good until the guest runs again.
 */
#ifndef TRAPEZE_DMA_H
#define TRAPEZE_DMA_H

#include <stdbool.h>
#include <stdint.h>

struct dma_space {
	/* Host pointer to guest physical [pa, pa + len), or NULL if not all RAM; write:
	 * the caller is about to write it. */
	void *(*map)(void *opaque, uint64_t pa, uint64_t len, bool write);
	void *opaque;
};

static inline void *dma_map(const struct dma_space *d, uint64_t pa, uint64_t len, bool write)
{
	return d->map(d->opaque, pa, len, write);
}

#endif

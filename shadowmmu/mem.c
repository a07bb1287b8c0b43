/*
 * mem.c - guest RAM on a memfd, the low-4-GiB reservation and the monitor window
 * (see mem.h). Owns the memfd, the physmap and the per-page write-protection bytes; the
 * guest's own mappings of the RAM belong to the shadow MMU (mmu.c).
 */
#define _GNU_SOURCE
#include "mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../arch/layout.h"

#define FOUR_GIB (1ull << 32)

int mem_init(struct guest_mem *mem, uint64_t size)
{
	*mem = (struct guest_mem){ .size = size, .fd = -1 };
	void *p = mmap((void *)(uintptr_t)GUEST_LOW, FOUR_GIB - GUEST_LOW, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* The window: vCPU block, stubs, lookup table and code cache. Reachable only
	 * through the monitor's selectors, never through a guest segment shadow. Shared:
	 * every process of the VM runs the same code cache (monitor/aspaces.c). */
	p = mmap((void *)(uintptr_t)WIN_BASE, WIN_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		goto err_reserve;
	mem->wp = calloc(size >> 12, 1);
	if (!mem->wp) {
		errno = ENOMEM;
		goto err_reserve;
	}
	mem->fd = memfd_create("trapeze-ram", MFD_CLOEXEC);
	if (mem->fd < 0)
		goto err_code;
	if (ftruncate(mem->fd, (off_t)size) < 0)
		goto err_fd;
	mem->ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mem->fd, 0);
	if (mem->ram == MAP_FAILED)
		goto err_fd;
	/* Paging off: guest linear = guest physical = host. Guest pages are never
	 * executable; the lowest 64 KiB cannot be mapped (emulated instead). */
	p = mmap((void *)(uintptr_t)GUEST_LOW, size - GUEST_LOW, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_NORESERVE, mem->fd, GUEST_LOW);
	if (p == MAP_FAILED)
		goto err_physmap;
	return 0;

err_physmap:
	munmap(mem->ram, size);
err_fd:
	close(mem->fd);
err_code:
	free(mem->wp);
err_reserve:;
	int e = errno;
	munmap((void *)(uintptr_t)GUEST_LOW, FOUR_GIB - GUEST_LOW);
	*mem = (struct guest_mem){ .size = size, .fd = -1 };
	return -e;
}

void mem_exit(struct guest_mem *mem)
{
	if (!mem->ram)
		return;
	munmap(mem->ram, mem->size);
	close(mem->fd);
	free(mem->wp);
	munmap((void *)(uintptr_t)GUEST_LOW, FOUR_GIB - GUEST_LOW);
	mem->ram = NULL;
	mem->wp = NULL;
	mem->fd = -1;
}

void *mem_phys(const struct guest_mem *mem, uint64_t pa, uint64_t len)
{
	if (pa > mem->size || len > mem->size - pa)
		return NULL;
	return mem->ram + pa;
}

bool mem_write_phys(struct guest_mem *mem, uint64_t pa, const void *src, uint64_t len)
{
	uint8_t *dst = mem_phys(mem, pa, len);
	if (!dst)
		return false;
	mem_report_write(mem, pa, len);
	memcpy(dst, src, len);
	return true;
}

void mem_report_write(struct guest_mem *mem, uint64_t pa, uint64_t len)
{
	for (uint64_t p = pa >> 12; len && p <= (pa + len - 1) >> 12; p++)
		if (mem->wp[p])
			mem->written(mem->opaque, (uint32_t)p, mem->wp[p], false);
}

void mem_write_ad(struct guest_mem *mem, uint64_t pa, uint32_t v)
{
	uint32_t ppn = (uint32_t)(pa >> 12);
	if (!mem_phys(mem, pa, 4))
		return;
	if (mem->wp[ppn] & MEM_WP_CODE)
		mem->written(mem->opaque, ppn, MEM_WP_CODE, false);
	memcpy(mem->ram + pa, &v, 4);
}

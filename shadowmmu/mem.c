/*
 * mem.c - guest RAM on a memfd, the low-4-GiB reservation and the monitor window.
 */
#define _GNU_SOURCE
#include "mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mmu.h"
#include "../codecache/codecache.h"
#include "../monitor/vm.h"

#define FOUR_GIB (1ull << 32)

int mem_init(struct vm *vm)
{
	void *p = mmap((void *)(uintptr_t)GUEST_LOW, FOUR_GIB - GUEST_LOW, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* The window: vCPU block, stubs, lookup table and code cache. Reachable only
	 * through the monitor's selectors, never through a guest segment shadow. */
	p = mmap((void *)(uintptr_t)WIN_BASE, WIN_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		goto err_reserve;
	vm->ram_fd = memfd_create("trapeze-ram", MFD_CLOEXEC);
	if (vm->ram_fd < 0)
		goto err_reserve;
	if (ftruncate(vm->ram_fd, (off_t)vm->ram_size) < 0)
		goto err_fd;
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		       vm->ram_fd, 0);
	if (vm->ram == MAP_FAILED)
		goto err_fd;
	/* Paging off: guest linear = guest physical = host. Guest pages are never
	 * executable; the lowest 64 KiB cannot be mapped (emulated instead). */
	p = mmap((void *)(uintptr_t)GUEST_LOW, vm->ram_size - GUEST_LOW, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_NORESERVE, vm->ram_fd, GUEST_LOW);
	if (p == MAP_FAILED)
		goto err_physmap;
	return 0;

err_physmap:
	munmap(vm->ram, vm->ram_size);
err_fd:
	close(vm->ram_fd);
err_reserve:;
	int e = errno;
	munmap((void *)(uintptr_t)GUEST_LOW, FOUR_GIB - GUEST_LOW);
	vm->ram = NULL;
	return -e;
}

void mem_exit(struct vm *vm)
{
	if (!vm->ram)
		return;
	munmap(vm->ram, vm->ram_size);
	close(vm->ram_fd);
	munmap((void *)(uintptr_t)GUEST_LOW, FOUR_GIB - GUEST_LOW);
	vm->ram = NULL;
}

void *mem_phys(struct vm *vm, uint64_t pa, uint64_t len)
{
	if (pa > vm->ram_size || len > vm->ram_size - pa)
		return NULL;
	return vm->ram + pa;
}

void mem_protect_code(struct vm *vm, uint32_t ppn, bool readonly)
{
	if (vm->mmu && mmu_paging(vm)) {
		mmu_protect_code(vm, ppn, readonly);
		return;
	}
	if (ppn < GUEST_LOW >> 12)
		return;                 /* never mapped: writes there are emulated */
	void *host = (void *)(uintptr_t)((uint64_t)ppn << 12);
	int r = mprotect(host, 4096, readonly ? PROT_READ : PROT_READ | PROT_WRITE);
	assert(r == 0);
	(void)vm;
	(void)r;
}

bool mem_write_phys(struct vm *vm, uint64_t pa, const void *src, uint64_t len)
{
	uint8_t *dst = mem_phys(vm, pa, len);
	if (!dst)
		return false;
	if (vm->cc && len) {
		for (uint64_t p = pa >> 12; p <= (pa + len - 1) >> 12; p++)
			if (cc_page_has_code(vm->cc, (uint32_t)p)) {
				vm->stats.smc_invalidations++;
				cc_invalidate_page(vm->cc, (uint32_t)p);
			}
	}
	memcpy(dst, src, len);
	return true;
}

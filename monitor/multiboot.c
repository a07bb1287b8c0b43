/*
 * multiboot.c - the Multiboot v1 loader (Multiboot Specification 0.6.96, sections 3.1
 * to 3.3). The information structure, command line and memory map go at 0x8000 when
 * the kernel leaves that free, else on the page after the kernel.
 */
#include "multiboot.h"

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "vm.h"
#include "../shadowmmu/mem.h"

#define MB_MAGIC        0x1badb002u
#define MB_BOOT_MAGIC   0x2badb002u
#define MB_SEARCH       8192
#define MB_F_ADDRESS    (1u << 16)
#define MB_F_SUPPORTED  0x00000007u     /* page-aligned modules, memory info, video */

#define MBI_MEM         (1u << 0)
#define MBI_CMDLINE     (1u << 2)
#define MBI_MMAP        (1u << 6)
#define MBI_LOADER      (1u << 9)

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t rest[9];
};

struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

/* Copy [src, src + filesz) to guest physical pa and zero up to memsz. */
static int place(struct vm *vm, uint64_t pa, const uint8_t *src, uint64_t filesz, uint64_t memsz,
		 char *err, size_t n)
{
	uint8_t *dst = mem_phys(&vm->mem, pa, memsz);
	if (!dst || pa < 0x1000)
		return load_fail(err, n, "kernel segment at %#llx..%#llx lies outside guest memory (%llu MiB)",
			    (unsigned long long)pa, (unsigned long long)(pa + memsz),
			    (unsigned long long)(vm->mem.size >> 20));
	memcpy(dst, src, filesz);
	memset(dst + filesz, 0, memsz - filesz);
	return 0;
}

static int load_elf(struct vm *vm, const uint8_t *f, size_t size, uint32_t *entry, uint64_t *end,
		    char *err, size_t n)
{
	const Elf32_Ehdr *eh = (const void *)f;
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return load_fail(err, n, "not an ELF file and the multiboot header has no load addresses");
	if (eh->e_ident[EI_CLASS] != ELFCLASS32 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_386 || eh->e_type != ET_EXEC)
		return load_fail(err, n, "not a 32-bit x86 executable ELF (class %d, machine %d, type %d)",
			    eh->e_ident[EI_CLASS], eh->e_machine, eh->e_type);
	if (eh->e_phentsize != sizeof(Elf32_Phdr) || eh->e_phoff > size ||
	    (uint64_t)eh->e_phnum * sizeof(Elf32_Phdr) > size - eh->e_phoff)
		return load_fail(err, n, "malformed ELF program headers");
	const Elf32_Phdr *ph = (const void *)(f + eh->e_phoff);
	int loads = 0;
	*entry = eh->e_entry;
	*end = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset > size ||
		    ph[i].p_filesz > size - ph[i].p_offset)
			return load_fail(err, n, "malformed ELF segment %d", i);
		if (place(vm, ph[i].p_paddr, f + ph[i].p_offset, ph[i].p_filesz, ph[i].p_memsz, err, n) < 0)
			return -1;
		if (eh->e_entry >= ph[i].p_vaddr && eh->e_entry - ph[i].p_vaddr < ph[i].p_memsz)
			*entry = ph[i].p_paddr + (eh->e_entry - ph[i].p_vaddr);
		if ((uint64_t)ph[i].p_paddr + ph[i].p_memsz > *end)
			*end = (uint64_t)ph[i].p_paddr + ph[i].p_memsz;
		loads++;
	}
	if (!loads)
		return load_fail(err, n, "ELF file has nothing to load");
	return 0;
}

/* The a.out kludge: the header's own address fields say what goes where. */
static int load_kludge(struct vm *vm, const uint8_t *f, size_t size, const struct mb_header *h,
		       size_t hoff, uint32_t *entry, uint64_t *end, char *err, size_t n)
{
	if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > hoff)
		return load_fail(err, n, "multiboot header address fields are inconsistent");
	size_t off = hoff - (h->header_addr - h->load_addr);
	uint64_t len = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : size - off;
	if (h->load_end_addr && h->load_end_addr < h->load_addr)
		return load_fail(err, n, "multiboot load_end_addr below load_addr");
	if (len > size - off)
		return load_fail(err, n, "multiboot load range runs past the end of the file");
	uint64_t memsz = h->bss_end_addr > h->load_addr + len ? h->bss_end_addr - h->load_addr : len;
	if (place(vm, h->load_addr, f + off, len, memsz, err, n) < 0)
		return -1;
	*entry = h->entry_addr;
	*end = h->load_addr + memsz;
	return 0;
}

int mb_load(struct vm *vm, const char *path, const uint8_t *f, size_t size, const char *append,
	    char *err, size_t n)
{
	const struct mb_header *h = NULL;
	size_t hoff = 0;
	for (size_t o = 0; o + 12 <= size && o < MB_SEARCH; o += 4) {
		const struct mb_header *c = (const void *)(f + o);
		if (c->magic == MB_MAGIC && c->magic + c->flags + c->checksum == 0) {
			h = c;
			hoff = o;
			break;
		}
	}
	int r;
	uint32_t entry = 0;
	uint64_t end = 0;
	if (!h)
		return load_fail(err, n, "%s is not a multiboot kernel (no header in its first 8 KiB)",
				 path);
	if (h->flags & 0xffff & ~MB_F_SUPPORTED)
		return load_fail(err, n, "kernel requires multiboot features trapeze lacks (flags %#x)",
				 h->flags);
	if ((h->flags & MB_F_ADDRESS) && hoff + sizeof(*h) <= size)
		r = load_kludge(vm, f, size, h, hoff, &entry, &end, err, n);
	else
		r = load_elf(vm, f, size, &entry, &end, err, n);
	if (r < 0)
		return r;
	vm->image_end = end;

	/* Information structure, memory map, command line, loader name. */
	uint32_t at = end <= 0x8000 || (end >= 0x100000) ? 0x8000 : (uint32_t)((end + 0xfff) & ~0xfffull);
	char cmdline[4096];
	snprintf(cmdline, sizeof(cmdline), "%s%s%s", path, append && *append ? " " : "",
		 append ? append : "");
	static const char loader[] = "trapeze";
	struct mb_mmap map[4] = {
		{ 20, 0, 0x9fc00, 1 },
		{ 20, 0x9fc00, 0x400, 2 },
		{ 20, 0xf0000, 0x10000, 2 },
		{ 20, 0x100000, vm->mem.size - 0x100000, 1 },
	};
	struct mb_info mbi = { 0 };
	uint32_t map_at = at + sizeof(mbi), cmd_at = map_at + sizeof(map);
	uint32_t name_at = cmd_at + (uint32_t)strlen(cmdline) + 1;
	mbi.flags = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER;
	mbi.mem_lower = 639;
	mbi.mem_upper = (uint32_t)((vm->mem.size - 0x100000) >> 10);
	mbi.cmdline = cmd_at;
	mbi.mmap_length = sizeof(map);
	mbi.mmap_addr = map_at;
	mbi.rest[0] = name_at;          /* boot_loader_name */
	if (name_at + sizeof(loader) > vm->mem.size ||
	    !mem_write_phys(&vm->mem, at, &mbi, sizeof(mbi)) || !mem_write_phys(&vm->mem, map_at, map, sizeof(map)) ||
	    !mem_write_phys(&vm->mem, cmd_at, cmdline, strlen(cmdline) + 1) ||
	    !mem_write_phys(&vm->mem, name_at, loader, sizeof(loader)))
		return load_fail(err, n, "no room for the multiboot information");

	/* Machine state (spec 3.2): flat 32-bit code and data, IF = 0, paging off. */
	struct cpu *c = &vm->cpu;
	load_flat_segments(vm, 0x10, 0x18);
	c->sh->regs[R_EAX] = MB_BOOT_MAGIC;
	c->sh->regs[R_EBX] = at;
	c->sh->regs[R_ESP] = 0x7c00;
	c->sh->eip = entry;
	return 0;
}

/*
 * testvm.c - see testvm.h.
 */
#include "testvm.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../../monitor/cpu.h"
#include "../../monitor/segments.h"
#include "../../shadowmmu/mem.h"

void tvm_create_cache(struct vm *vm, uint32_t cache_size)
{
	struct config cfg = {
		.serial = "/dev/null", .mem_size = TVM_MEM, .append = "", .cache_size = cache_size,
	};
	int r = vm_create(vm, &cfg);
	ck_assert_msg(r == 0, "vm_create failed: %d (%s)", r, strerror(-r));
	/* The loader's machine state (multiboot.c), with our selectors. */
	seg_set(vm, SR_CS, TVM_SEL_CODE, 0, 0xffffffff, TVM_ATTR_CODE);
	for (int sr = 0; sr < SR_COUNT; sr++)
		if (sr != SR_CS)
			seg_set(vm, sr, TVM_SEL_DATA, 0, 0xffffffff, TVM_ATTR_DATA);
	vm->cpu.sh->regs[R_ESP] = TVM_STACK;
	vm->cpu.sh->eip = TVM_CODE;
}

void tvm_load(struct vm *vm, uint32_t pa, const void *bytes, size_t len)
{
	ck_assert_msg(mem_write_phys(&vm->mem, pa, bytes, len), "cannot load %zu bytes at %#x", len, pa);
}

uint32_t tvm_rd32(struct vm *vm, uint32_t pa)
{
	uint32_t v;
	const void *p = mem_phys(&vm->mem, pa, 4);
	ck_assert_msg(p != NULL, "read outside RAM at %#x", pa);
	memcpy(&v, p, 4);
	return v;
}

void tvm_wr32(struct vm *vm, uint32_t pa, uint32_t v)
{
	tvm_load(vm, pa, &v, 4);
}

void tvm_wr64(struct vm *vm, uint32_t pa, uint64_t v)
{
	tvm_load(vm, pa, &v, 8);
}

int tvm_run(struct vm *vm, uint32_t eip)
{
	vm->stop = STOP_NONE;
	vm->exit_status = 0;
	vm->stop_msg[0] = 0;
	vm->cpu.sh->eip = eip;
	cpu_run(vm);
	return vm->stop == STOP_DEBUG_EXIT ? vm->exit_status : -1;
}

int tvm_run_code(struct vm *vm, const void *code, size_t len)
{
	tvm_load(vm, TVM_CODE, code, len);
	return tvm_run(vm, TVM_CODE);
}

uint64_t tvm_exits(const struct vm *vm)
{
	uint64_t n = 0;
	for (int i = 0; i < EXIT_REASONS; i++)
		n += vm->stats.exits[i];
	return n;
}

static uint64_t seg_desc(uint32_t base, uint32_t limit_pages, uint16_t attr)
{
	return (uint64_t)(limit_pages & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(attr & 0xf0ff) << 40 | (uint64_t)((limit_pages >> 16) & 0xf) << 48 |
	       (uint64_t)(base >> 24) << 56;
}

void tvm_setup_tables(struct vm *vm, uint32_t gdt_pa, uint32_t idt_pa)
{
	tvm_wr64(vm, gdt_pa, 0);
	tvm_wr64(vm, gdt_pa + TVM_SEL_CODE, seg_desc(0, 0xfffff, TVM_ATTR_CODE));
	tvm_wr64(vm, gdt_pa + TVM_SEL_DATA, seg_desc(0, 0xfffff, TVM_ATTR_DATA));
	vm->cpu.gdtr.base = gdt_pa;
	vm->cpu.gdtr.limit = 3 * 8 - 1;
	for (int v = 0; v < 32; v++)
		tvm_wr64(vm, idt_pa + 8 * (uint32_t)v, 0);
	vm->cpu.idtr.base = idt_pa;
	vm->cpu.idtr.limit = 32 * 8 - 1;
}

void tvm_set_gate(struct vm *vm, uint32_t idt_pa, int vector, uint32_t handler)
{
	uint64_t gate = (uint64_t)(handler & 0xffff) | (uint64_t)TVM_SEL_CODE << 16 |
			(uint64_t)0x8e00 << 32 | (uint64_t)(handler >> 16) << 48;
	tvm_wr64(vm, idt_pa + 8 * (uint32_t)vector, gate);
}

int tvm_guest_page_writable(uint32_t ppn)
{
	uint64_t a = (uint64_t)ppn << 12;
	FILE *f = fopen("/proc/self/maps", "r");
	ck_assert_msg(f != NULL, "cannot open /proc/self/maps");
	char line[512];
	int r = -1;
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi;
		char perms[8];
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s", &lo, &hi, perms) != 3)
			continue;
		if (a >= lo && a < hi) {
			r = perms[1] == 'w';
			break;
		}
	}
	fclose(f);
	return r;
}

/*
 * test_mmio.c - device memory: guest code touching a guest-physical range with no RAM
 * behind it reaches the device claiming it on the MMIO bus (through a host fault and
 * the instruction emulator), with the access's size; unclaimed ranges read all ones.
 */
#include <check.h>
#include <stdlib.h>

#include "../common/testvm.h"
#include "../../devices/mmio.h"
#include "../../monitor/vm.h"

#define DEV 0xd0000000u

static struct vm vm;
static uint64_t last_off, last_val;
static int last_size, reads, writes;

static uint64_t dev_read(void *opaque, uint64_t off, int size)
{
	(void)opaque;
	reads++;
	last_off = off;
	last_size = size;
	return 0x1122334455667788ull >> (8 * (8 - size) % 64);
}

static void dev_write(void *opaque, uint64_t off, int size, uint64_t val)
{
	(void)opaque;
	writes++;
	last_off = off;
	last_size = size;
	last_val = val;
}

static void setup(void)
{
	tvm_create(&vm);
	reads = writes = 0;
	ck_assert_int_eq(mmio_register(vm.mmio, DEV, 0x1000, dev_read, dev_write, NULL), 0);
}

static void teardown(void) { vm_destroy(&vm); }

static const uint8_t code[] = {
	0xa1, 0x10, 0x00, 0x00, 0xd0,                   /* mov eax, [0xd0000010] */
	0xbb, 0xef, 0xbe, 0xad, 0xde,                   /* mov ebx, 0xdeadbeef */
	0x89, 0x1d, 0x20, 0x00, 0x00, 0xd0,             /* mov [0xd0000020], ebx */
	0x66, 0x8b, 0x0d, 0x30, 0x00, 0x00, 0xd0,       /* mov cx, [0xd0000030] */
	0x8b, 0x15, 0x00, 0x00, 0x00, 0xe0,             /* mov edx, [0xe0000000]: nothing */
	0xb0, 0x00,                                     /* mov al, 0 */
	0xe6, 0xf4,                                     /* out 0xf4, al */
};

START_TEST(guest_code_reaches_device)
{
	tvm_run_code(&vm, code, sizeof(code));
	tvm_assert_exit(&vm, 0);
	ck_assert_uint_eq(vm.cpu.sh->regs[R_EAX] & 0xffffff00u, 0x11223300u);
	ck_assert_int_eq(reads, 2);
	ck_assert_int_eq(writes, 1);
	ck_assert_uint_eq(last_off, 0x30);
	ck_assert_int_eq(last_size, 2);
	ck_assert_uint_eq(last_val, 0xdeadbeef);
	ck_assert_uint_eq(vm.cpu.sh->regs[R_ECX] & 0xffff, 0x1122);
	ck_assert_uint_eq(vm.cpu.sh->regs[R_EDX], 0xffffffffu);
}
END_TEST

START_TEST(overlapping_claims_refused)
{
	ck_assert_int_lt(mmio_register(vm.mmio, DEV + 0x800, 0x1000, dev_read, dev_write, NULL), 0);
	ck_assert_int_eq(mmio_register(vm.mmio, DEV + 0x1000, 0x1000, dev_read, dev_write, NULL), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mmio");
	TCase *tc = tcase_create("mmio");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, guest_code_reaches_device);
	tcase_add_test(tc, overlapping_claims_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

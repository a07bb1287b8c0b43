/*
 * stubs.h - the shared stubs of monitor/enter.S and where they live in the window.
 *
 * The stub template is copied once to STUB_ADDR; stub_addr() turns a template symbol
 * into its address in the window, the address translated code jumps to.
 */
#ifndef TRAPEZE_STUBS_H
#define TRAPEZE_STUBS_H

#include <stdint.h>

#include "../arch/layout.h"

extern char tz_stubs_start[], tz_stubs_end[];
extern char tz_stub_far_exit[], tz_stub_lookup_miss[], tz_stub_empty_hit[], tz_stub_exit64[];
extern char tz_enter_iret[], tz_fault_return[];

/* Enter translated code at host_eip; frame_rsp: 0, or where to build the IRETQ frame
 * (a 16-bit guest stack: see enter.S). Returns the exit word. */
uint32_t tz_enter(uint32_t host_eip, uint64_t frame_rsp);
void tz_sigtramp(int sig, void *info, void *uc);

static inline uint32_t stub_addr(const char *sym)
{
	return STUB_ADDR + (uint32_t)(sym - tz_stubs_start);
}

#endif

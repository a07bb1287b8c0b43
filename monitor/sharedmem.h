/*
 * sharedmem.h - the monitor's memory, shared by the processes of one VM.
 *
 * The trapeze executable defines malloc and its family (sharedmem.c): every
 * allocation, the monitor's and its libraries', comes from one MAP_SHARED region, so
 * that processes forked later (aspaces.c) see one heap.
 *
 * shared_memory_init(): at the start of main(), before anything else: turns the
 * private writable mappings of the executable and its libraries (data, bss) into
 * shared ones with the same contents. Returns 0 or -errno.
 */
#ifndef TRAPEZE_SHAREDMEM_H
#define TRAPEZE_SHAREDMEM_H

int shared_memory_init(void);

#endif

/*
 * sharedmem.c - the monitor's memory, shared by the processes of one VM (see
 * sharedmem.h and aspaces.c).
 *
 * Each process that may run the vCPU (one per recent guest address space) must find
 * the monitor's state at the same addresses with the same contents. Two things make
 * it so, both before the processes are forked:
 *  - the allocator below (malloc and its family, interposing glibc's for the monitor,
 *    Capstone, libslirp and glibc itself) hands out memory from one MAP_SHARED region;
 *  - shared_memory_init() replaces the private writable mappings that exist by then
 *    (the executable's and the libraries' data and bss) by shared ones with the same
 *    contents.
 * What stays private to each process: its stack, its thread-local storage (glibc's
 * thread descriptor and errno live there), its signal stack, and the guest's part of
 * the low 4 GiB, which is the point of having several processes.
 *
 * The allocator: size classes of 16 << c bytes up to 32 KiB, each a free list; larger
 * blocks are whole pages, on a first-fit list when freed (their pages given back to
 * the host). Single-threaded, as the monitor is. Its state lives at the start of the
 * region itself, so that it is shared from the first allocation on, which glibc makes
 * before main().
 */
#define _GNU_SOURCE
#include "sharedmem.h"

#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HEAP_SIZE  (64ull << 30)        /* address space only (MAP_NORESERVE) */
#define PAGE       4096u
#define NCLASS     12                   /* 16 B .. 32 KiB */
#define CLS_LARGE  0xfeu
#define CLS_ALIGN  0xfdu
#define MAGIC      0x7a7a4d48u

/* In front of every block: 16 bytes, so that blocks stay 16-aligned. */
struct hdr {
	uint32_t cls;           /* size class, CLS_LARGE, or CLS_ALIGN */
	uint32_t magic;
	uint64_t size;          /* usable bytes; for CLS_ALIGN the distance to the block */
};

struct large_free {
	struct large_free *next;
	uint64_t pages;         /* of the whole block, header included */
};

struct heap {
	char *top, *end;                /* not handed out yet */
	void *free[NCLASS];
	struct large_free *large;
};

static struct heap *heap;               /* first page of the region */
static char *heap_lo, *heap_hi;

static void heap_die(const char *why)
{
	static const char pre[] = "trapeze: internal error: allocator: ";
	ssize_t r = write(2, pre, sizeof(pre) - 1);
	r = write(2, why, strlen(why));
	r = write(2, "\n", 1);
	(void)r;
	_exit(6);
}

static bool heap_init(void)
{
	if (heap)
		return true;
	/* Address space only; a host with strict overcommit (vm.overcommit_memory=2)
	 * ignores MAP_NORESERVE and charges it all: smaller sizes then. */
	uint64_t size = HEAP_SIZE;
	void *p = MAP_FAILED;
	for (; size >= (1ull << 30) && p == MAP_FAILED; size >>= 2)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	size <<= 2;
	heap = p;
	heap_lo = p;
	heap_hi = heap_lo + size;
	heap->top = heap_lo + PAGE;
	heap->end = heap_hi;
	return true;
}

static bool in_heap(const void *p)
{
	return heap && (const char *)p >= heap_lo && (const char *)p < heap_hi;
}

static void *bump(uint64_t n, uint64_t align)
{
	char *p = (char *)(((uintptr_t)heap->top + align - 1) & ~(uintptr_t)(align - 1));
	if (p + n > heap->end || p + n < p)
		return NULL;
	heap->top = p + n;
	return p;
}

static int class_of(size_t n)
{
	int c = 0;
	while ((16ul << c) < n)
		c++;
	return c;
}

static void *large_alloc(size_t n)
{
	if (n > HEAP_SIZE)
		return NULL;
	uint64_t pages = (n + sizeof(struct hdr) + PAGE - 1) / PAGE;
	struct large_free **pp = &heap->large, *f;
	struct hdr *h = NULL;
	for (; (f = *pp); pp = &f->next)
		if (f->pages >= pages) {
			*pp = f->next;
			if (f->pages > pages) {         /* the rest stays free */
				struct large_free *rest = (void *)((char *)f + pages * PAGE);
				rest->pages = f->pages - pages;
				rest->next = heap->large;
				heap->large = rest;
			}
			h = (struct hdr *)f;
			memset(h, 0, PAGE);     /* the rest of it was given back: zero */
			break;
		}
	if (!h)
		h = bump(pages * PAGE, PAGE);
	if (!h)
		return NULL;
	*h = (struct hdr){ .cls = CLS_LARGE, .magic = MAGIC, .size = pages * PAGE - sizeof(*h) };
	return h + 1;
}

static void large_free(struct hdr *h)
{
	uint64_t pages = (h->size + sizeof(*h)) / PAGE;
	if (pages > 1)
		madvise((char *)h + PAGE, (pages - 1) * PAGE, MADV_REMOVE);
	struct large_free *f = (void *)h;
	f->pages = pages;
	f->next = heap->large;
	heap->large = f;
}

static void *small_alloc(size_t n)
{
	int c = class_of(n);
	void *p = heap->free[c];
	if (p) {
		heap->free[c] = *(void **)p;
		return p;
	}
	struct hdr *h = bump(sizeof(*h) + (16ul << c), 16);
	if (!h)
		return NULL;
	*h = (struct hdr){ .cls = (uint32_t)c, .magic = MAGIC, .size = 16ul << c };
	return h + 1;
}

void *malloc(size_t n)
{
	void *p = NULL;
	if (heap_init())
		p = n > (16ul << (NCLASS - 1)) ? large_alloc(n) : small_alloc(n);
	if (!p)
		errno = ENOMEM;
	return p;
}

static struct hdr *hdr_of(void *p)
{
	struct hdr *h = (struct hdr *)p - 1;
	if (h->magic != MAGIC)
		heap_die("free or realloc of a block it did not hand out");
	return h;
}

void free(void *p)
{
	if (!p || !in_heap(p))
		return;         /* ld.so's own allocations from before relocation: kept */
	struct hdr *h = hdr_of(p);
	if (h->cls == CLS_ALIGN) {
		free((char *)p - h->size);
		return;
	}
	if (h->cls == CLS_LARGE) {
		large_free(h);
		return;
	}
	*(void **)p = heap->free[h->cls];
	heap->free[h->cls] = p;
}

size_t malloc_usable_size(void *p)
{
	if (!p || !in_heap(p))
		return 0;
	struct hdr *h = hdr_of(p);
	if (h->cls == CLS_ALIGN)
		return malloc_usable_size((char *)p - h->size) - h->size;
	return h->size;
}

void *calloc(size_t n, size_t m)
{
	if (m && n > SIZE_MAX / m) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = malloc(n * m);
	/* A large block comes zero: fresh from the host, or given back and its first
	 * page cleared (large_alloc). */
	if (p && n * m <= (16ul << (NCLASS - 1)))
		memset(p, 0, n * m);
	return p;
}

void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (!in_heap(p))
		heap_die("realloc of a block from before it started");
	size_t have = malloc_usable_size(p);
	if (n <= have)
		return p;
	void *q = malloc(n);
	if (q) {
		memcpy(q, p, have);
		free(p);
	}
	return q;
}

void *reallocarray(void *p, size_t n, size_t m)
{
	if (m && n > SIZE_MAX / m)
		return NULL;
	return realloc(p, n * m);
}

void *memalign(size_t align, size_t n)
{
	if (align <= 16)
		return malloc(n);
	if ((align & (align - 1)) || n > HEAP_SIZE || align > HEAP_SIZE) {
		errno = (align & (align - 1)) ? EINVAL : ENOMEM;
		return NULL;
	}
	char *p = malloc(n + align + sizeof(struct hdr));
	if (!p)
		return NULL;
	char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a == p)
		return p;
	*((struct hdr *)a - 1) = (struct hdr){ .cls = CLS_ALIGN, .magic = MAGIC,
					       .size = (uint64_t)(a - p) };
	return a;
}

int posix_memalign(void **out, size_t align, size_t n)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }
void *valloc(size_t n) { return memalign(PAGE, n); }
void *pvalloc(size_t n) { return memalign(PAGE, (n + PAGE - 1) & ~(size_t)(PAGE - 1)); }

/* ---- the private writable mappings made shared ---- */

#define MAX_RANGES 128

struct range {
	uint64_t lo, hi;
};

static uint64_t hex(const char **s)
{
	uint64_t v = 0;
	for (;; (*s)++) {
		char c = **s;
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return v;
	}
}

/* The rw-p mappings to share: all but the stack, the vDSO's and the thread's own
 * (the TLS block glibc's FS base points into, and what lies just below it). */
static int private_ranges(struct range *r, int max)
{
	static char buf[65536];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	for (ssize_t k; (k = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0;)
		len += (size_t)k;
	close(fd);
	buf[len] = 0;
	uint64_t fs = 0;
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	int n = 0;
	for (const char *s = buf; *s;) {
		const char *line = s;
		uint64_t lo = hex(&s);
		s++;
		uint64_t hi = hex(&s);
		s++;
		bool rwp = !strncmp(s, "rw-p", 4);
		const char *eol = strchr(s, '\n');
		if (!eol)
			eol = s + strlen(s);
		bool special = memchr(line, '[', (size_t)(eol - line)) != NULL;
		bool tls = fs && fs + 4096 > lo && fs < hi + 65536;
		if (rwp && !special && !tls) {
			if (n == max)
				return -E2BIG;
			r[n++] = (struct range){ lo, hi };
		}
		s = *eol ? eol + 1 : eol;
	}
	return n;
}

int shared_memory_init(void)
{
	if (!heap_init())
		return -ENOMEM;
	struct range r[MAX_RANGES];
	int n = private_ranges(r, MAX_RANGES);
	if (n < 0)
		return n;
	for (int k = 0; k < n; k++) {
		size_t len = r[k].hi - r[k].lo;
		void *lo = (void *)(uintptr_t)r[k].lo;
		void *t = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (t == MAP_FAILED)
			return -errno;
		memcpy(t, lo, len);
		/* One call replaces the private pages by the shared copy: nothing is ever
		 * missing there (a lazy PLT binding written between the copy and the move
		 * is lost, and is made again). */
		if (mremap(t, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, lo) == MAP_FAILED)
			return -errno;
	}
	return 0;
}

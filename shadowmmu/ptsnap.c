/*
 * ptsnap.c - copies of the page-table entries a slot's mappings were made from (see
 * ptsnap.h).
 */
#include "ptsnap.h"

#include <stdlib.h>
#include <string.h>

/* One page-table page: the copy of the 64-byte lines holding entries some mapping
 * read (a bit each in lines), and per 4-byte word there the number of mappings whose
 * walk read the entry starting at it. Of the other lines nothing is kept. (A range
 * from the lowest such entry to the highest had spanned most of a directory: a
 * process's text, heap and stack lie gigabytes apart.) */
#define LINE 64
struct snappage {
	uint32_t ppn;
	uint64_t lines;
	uint16_t users[1024];
	uint8_t copy[4096];
};

struct ptsnap {
	bool valid;
	struct ptsnap_key key;
	int n, last;            /* pages in use; the one found last */
	struct snappage page[PTSNAP_PAGES];
};

struct ptsnap *ptsnap_new(void)
{
	return calloc(1, sizeof(struct ptsnap));
}

void ptsnap_free(struct ptsnap *s)
{
	free(s);
}

void ptsnap_rebuild_begin(struct ptsnap *s, const struct ptsnap_key *key)
{
	s->valid = true;
	s->key = *key;
	s->n = s->last = 0;
}

void ptsnap_invalidate(struct ptsnap *s)
{
	s->valid = false;
}

bool ptsnap_valid(const struct ptsnap *s)
{
	return s->valid;
}

/* Whether n bytes (a multiple of 4) at a and b are equal: by 8-byte words, the
 * differences gathered without a branch per word (the monitor's memcmp goes by byte). */
static bool same(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	uint64_t diff = 0, x, y;
	uint32_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		diff |= x ^ y;
	}
	if (i < n) {
		uint32_t u, v;
		memcpy(&u, a + i, 4);
		memcpy(&v, b + i, 4);
		diff |= u ^ v;
	}
	return diff == 0;
}

static struct snappage *find(struct ptsnap *s, uint32_t ppn)
{
	if (s->n && s->page[s->last].ppn == ppn)
		return &s->page[s->last];
	for (int k = 0; k < s->n; k++)
		if (s->page[k].ppn == ppn) {
			s->last = k;
			return &s->page[k];
		}
	return NULL;
}

/* The line at byte off of p is kept from now on: copied from ram, nobody's yet. */
static void cover(struct snappage *p, const uint8_t *ram, uint32_t off)
{
	uint32_t from = off & ~(LINE - 1u);
	if (p->lines & (1ull << (off / LINE)))
		return;
	p->lines |= 1ull << (off / LINE);
	memcpy(p->copy + from, ram + ((uint64_t)p->ppn << 12) + from, LINE);
	memset(&p->users[from >> 2], 0, LINE / 4 * sizeof(p->users[0]));
}

void ptsnap_ref(struct ptsnap *s, const uint8_t *ram, uint32_t pa, uint64_t val, unsigned size)
{
	if (!s->valid)
		return;
	uint32_t ppn = pa >> 12, off = pa & 0xfff;
	struct snappage *p = find(s, ppn);
	if (!p) {
		if (s->n == PTSNAP_PAGES) {
			s->valid = false;
			return;
		}
		s->last = s->n;
		p = &s->page[s->n++];
		p->ppn = ppn;           /* (users and copy are written line by line) */
		p->lines = 0;
	}
	cover(p, ram, off);     /* (entries are aligned: one lies in one line) */
	uint16_t *users = &p->users[off >> 2];
	if (*users == 0) {
		memcpy(p->copy + off, &val, size);
	} else if (!same(p->copy + off, (const uint8_t *)&val, size) || *users == UINT16_MAX) {
		/* Mappings made from another value of the entry: no copy serves both. */
		s->valid = false;
		return;
	}
	++*users;
}

void ptsnap_unref(struct ptsnap *s, uint32_t pa)
{
	if (!s->valid)
		return;
	struct snappage *p = find(s, pa >> 12);
	uint32_t off = pa & 0xfff;
	if (!p || !(p->lines & (1ull << (off / LINE))) || !p->users[off >> 2]) {
		s->valid = false;       /* not what ref noted: trust nothing */
		return;
	}
	p->users[off >> 2]--;
}

bool ptsnap_holds(const struct ptsnap *s, const uint8_t *ram, const struct ptsnap_key *key)
{
	if (!s->valid || s->key.pae != key->pae || !same((const uint8_t *)s->key.v,
							   (const uint8_t *)key->v, sizeof(key->v)))
		return false;
	for (int k = 0; k < s->n; k++) {
		const struct snappage *p = &s->page[k];
		const uint8_t *page = ram + ((uint64_t)p->ppn << 12);
		for (uint64_t l = p->lines; l; l &= l - 1) {
			uint32_t off = (uint32_t)__builtin_ctzll(l) * LINE;
			if (!same(page + off, p->copy + off, LINE))
				return false;
		}
	}
	return true;
}

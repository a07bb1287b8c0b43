/*
 * ptsnap.h - copies of the guest's page-table entries that a slot's mappings were made
 * from, so that a TLB flush can tell that none changed by comparing a few lines of
 * memory instead of walking each mapped page (mmu.c, "Address spaces in processes"
 * in docs/architecture.md).
 *
 * A snapshot belongs to one set of host mappings (a slot). Each mapping's walk read a
 * directory entry and a table entry (struct maprec in mmu.c); the snapshot holds a
 * copy of every such entry, by physical address, in up to PTSNAP_PAGES page-table
 * pages, as the 64-byte lines that hold those entries. The invariant: while the
 * snapshot is valid, the copy of every entry some mapping depends on equals what that
 * mapping's walk read. So when guest memory equals the copy over every line, and the
 * key (CR3's directory, or the four PDPTEs under PAE) is the one the entries were
 * found under, a walk of each mapped page would read what its mapping was made from:
 * a TLB flush keeps them all without looking at one.
 *
 * Interface: ptsnap_ref() when a mapping is made (its two entries), ptsnap_unref() when
 * it goes; ptsnap_invalidate() when that bookkeeping cannot follow (a mapping without
 * entries, a drop of everything); ptsnap_rebuild_begin() and ptsnap_ref() of every
 * mapping after a flush that checked them one by one; ptsnap_holds() at a flush.
 * An entry whose copy would have to change while other mappings depend on it (a
 * directory entry changed under pages mapped before) makes the snapshot invalid:
 * the next flush checks page by page and builds it again.
 */
#ifndef TRAPEZE_PTSNAP_H
#define TRAPEZE_PTSNAP_H

#include <stdbool.h>
#include <stdint.h>

#define PTSNAP_PAGES 16         /* page-table pages a snapshot covers */

/* What the entries were found under: the directory's address (CR3), or under PAE the
 * four PDPTEs. */
struct ptsnap_key {
	uint64_t v[4];
	bool pae;
};

struct ptsnap;

struct ptsnap *ptsnap_new(void);
void ptsnap_free(struct ptsnap *s);

/* Start over, empty and valid, for entries found under key. */
void ptsnap_rebuild_begin(struct ptsnap *s, const struct ptsnap_key *key);
void ptsnap_invalidate(struct ptsnap *s);
bool ptsnap_valid(const struct ptsnap *s);

/* A mapping depends on the entry of size bytes (4 or 8) at physical address pa in
 * ram, whose value its walk read as val; / no longer does. */
void ptsnap_ref(struct ptsnap *s, const uint8_t *ram, uint32_t pa, uint64_t val, unsigned size);
void ptsnap_unref(struct ptsnap *s, uint32_t pa);

/* Valid, found under key, and ram equal to the copy over every line. */
bool ptsnap_holds(const struct ptsnap *s, const uint8_t *ram, const struct ptsnap_key *key);

#endif

/*
 * pipe.c - pipes: a 512-byte ring between a writer and a reader, with blocking and
 * wakeups (xv6's pipe.c). Each end is counted, so that a reader sees EOF when the
 * last writer closes and a writer gets -1 when the last reader has gone.
 *
 * Interface: pipe_alloc() gives both ends to the caller's descriptors (syscall.c);
 * spawn dups them (pipe_dup), close and exit drop them (pipe_close).
 */
#include "defs.h"

#define PIPESIZE 512
#define NPIPE 16

struct pipe {
	uint8_t buf[PIPESIZE];
	uint32_t nread, nwrite;         /* free-running counts */
	int readers, writers;           /* open ends; both 0: free */
};
static struct pipe pipes[NPIPE];

int pipe_alloc(struct pipe **out)
{
	for (int i = 0; i < NPIPE; i++)
		if (!pipes[i].readers && !pipes[i].writers) {
			struct pipe *p = &pipes[i];
			p->nread = p->nwrite = 0;
			p->readers = p->writers = 1;
			*out = p;
			return 0;
		}
	return -1;
}

void pipe_dup(struct pipe *p, int writer)
{
	if (writer)
		p->writers++;
	else
		p->readers++;
}

void pipe_close(struct pipe *p, int writer)
{
	if (writer) {
		p->writers--;
		wakeup(&p->nread);
	} else {
		p->readers--;
		wakeup(&p->nwrite);
	}
}

/* Writes all n bytes, sleeping while the ring is full; -1 if no reader is left. */
int pipe_write(struct pipe *p, const uint8_t *buf, int n)
{
	for (int i = 0; i < n; i++) {
		while (p->nwrite == p->nread + PIPESIZE) {
			if (!p->readers)
				return -1;
			wakeup(&p->nread);
			sleep(&p->nwrite);
		}
		p->buf[p->nwrite++ % PIPESIZE] = buf[i];
	}
	wakeup(&p->nread);
	return n;
}

/* Reads what is there, up to n bytes, sleeping while the ring is empty and a writer
 * is left; 0 at EOF. */
int pipe_read(struct pipe *p, uint8_t *buf, int n)
{
	while (p->nread == p->nwrite && p->writers)
		sleep(&p->nread);
	int i;
	for (i = 0; i < n && p->nread != p->nwrite; i++)
		buf[i] = p->buf[p->nread++ % PIPESIZE];
	wakeup(&p->nwrite);
	return i;
}

/*
 * debug.h - the sources of #DB (SDM Vol. 3, chapter 18): single-stepping (EFLAGS.TF),
 * the debug registers' instruction, data and I/O breakpoints with DR6's status bits,
 * EFLAGS.RF and general detect, and the task-switch T flag (task.c).
 *
 * Breakpoints are points (struct dbg_point): a linear address (a port for I/O), a
 * length and a kind, and an owner. The guest's DR0-DR3/DR7 make up to four, owned by
 * their register (a hit sets DR6.Bn and raises #DB in the guest); a debugger's
 * requests (a gdb stub, later) live apart in dbg.host and are owned by it (a hit stops
 * for the debugger and the guest sees nothing). dbg_rearm() makes the union the
 * machinery serves:
 * - instruction breakpoints: the translator ends a block before a breakpointed
 *   address, and a block at one is only an exit to the dispatcher (rw_set_breaks),
 *   which checks it before the instruction runs (a fault, suppressed by RF);
 * - data breakpoints: the shadow MMU keeps the pages holding them unmapped
 *   (mmu_watch), so an access there faults in the host; the monitor checks the access
 *   against the exact range, runs the instruction alone with the page open, and
 *   raises the trap after it;
 * - I/O breakpoints (CR4.DE): the port I/O emulation checks each access.
 * Nothing armed: the dispatcher tests one flag per turn (dbg.armed), the host fault
 * path one count, the port path one flag.
 */
#ifndef TRAPEZE_DEBUG_H
#define TRAPEZE_DEBUG_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* The kinds of DR7's R/W fields (SDM Vol. 3, 18.2.4), and a debugger's read
 * watchpoint, which DR7 cannot express. */
enum dbg_kind { DBG_EXEC = 0, DBG_WRITE = 1, DBG_IO = 2, DBG_ACCESS = 3, DBG_READ = 4 };

#define DBG_HOST_OWNER  4       /* owner of a debugger's first point; 0-3 are the guest's
				   DRn, a debugger's point k is owner DBG_HOST_OWNER + k */
#define DBG_HOST_MAX    24      /* a debugger's points: owners stay within 32 bits */
#define DBG_HOST_LEN    4096    /* the longest range a debugger may watch */
#define DBG_POINTS      (4 + DBG_HOST_MAX)
#define DBG_OPEN_MAX    4       /* watched pages one instruction may open at once */

struct dbg_point {
	uint32_t addr;          /* linear address, or port; aligned down to len */
	uint32_t len;           /* 1, 2, 4 or 8 bytes */
	enum dbg_kind kind;
	int owner;
};

struct dbg {
	bool armed;                     /* some breakpoint is armed: look at each turn */
	struct dbg_point host[DBG_HOST_MAX];    /* a debugger's requests, apart from the
						   guest's */
	int nhost;
	struct dbg_point pt[DBG_POINTS];        /* what is armed: the guest's and the host's */
	int npt;
	bool io;                        /* an I/O breakpoint is armed */
	int nwatch;                     /* data breakpoints armed (their pages are watched) */
	uint32_t hits;                  /* owners (bit n) of data/I/O points the current
					   instruction met: a trap after it */
	uint32_t open[DBG_OPEN_MAX];    /* watched pages opened for the instruction stepped */
	int nopen;
	uint32_t open_eip, open_cs;     /* the instruction they were opened for */
	bool ss_shadow;                 /* MOV SS / POP SS: no trap after this instruction */
	bool ss_block;                  /* ... and no instruction breakpoint on the next one */
	uint32_t host_hit;              /* a debugger's points met (bit k: host[k]) */
	bool host_pass;                 /* the debugger resumes at host_pass_lin: its own
					   instruction breakpoint there is passed over */
	uint32_t host_pass_lin;
	bool host_step;                 /* the debugger single-steps: one instruction a run */
	bool rep_iter;                  /* an emulated REP instruction stopped after an
					   iteration (dbg_rep_iteration) */
};

/* DR0-DR3, DR7 or CR4.DE changed, or a debugger's requests did: arm the union. */
void dbg_rearm(struct vm *vm);
/* A debugger's points (owner ignored; a data point 1..DBG_HOST_LEN bytes, not
 * aligned): armed beside the guest's, which neither see nor lose anything; their hits
 * gather in dbg.host_hit. -1, nothing changed, if there are too many points or
 * watched pages. */
int dbg_set_host(struct vm *vm, const struct dbg_point *pts, int n);
/* The debugger resumes the guest: an instruction breakpoint of its own at CS:EIP is
 * passed over until the instruction there is done. */
void dbg_host_resume(struct vm *vm);

/* Before an instruction at CS:EIP, with dbg.armed: a debugger's instruction breakpoint
 * there sets dbg.host_hit (the caller stops for the debugger before the instruction);
 * the guest's raises #DB (a fault) unless RF is set; RF runs it alone. False if #DB
 * was raised. */
bool dbg_before_insn(struct vm *vm);
/* The translator stopped at a breakpointed address (EXIT_BREAK): the instruction is
 * to be checked and then run alone. */
void dbg_at_break(struct vm *vm);

/* MOV to or from a debug register with DR7.GD set: #DB (a fault) with DR6.BD, GD
 * cleared (SDM Vol. 3, 18.2.4). True if it was raised. */
bool dbg_general_detect(struct vm *vm);

/* An access of size bytes at port: note the I/O breakpoints it meets. */
void dbg_io(struct vm *vm, uint16_t port, int size);
/* A REP string instruction stops after an iteration that is not its last (EIP stays at
 * it): the trap after it comes now, with RF set in its frame. */
void dbg_rep_iteration(struct vm *vm);

/* The monitor made a data access of len bytes at lin for the guest's instruction (an
 * emulated one: seg_read/seg_write): note the data breakpoints it meets. */
void dbg_access(struct vm *vm, uint32_t lin, uint32_t len, bool write);

/* A host page fault at lin (write access or not) with data breakpoints armed: if lin
 * lies on a watched page, note the breakpoints the access meets, open the page and
 * run the instruction alone. True if it was one. */
bool dbg_watch_fault(struct vm *vm, uint32_t lin, bool write);

/* Single-stepping and the breakpoint traps around one run of the engine. */
struct dbg_step {
	bool on;                        /* TF at the start */
	uint32_t eip, cs, deliveries;
	uint32_t rep_count, rep_mask;   /* a REP string instruction run for one iteration */
	uint8_t rep, rep_op;
	uint32_t rep_next;
};
/* Called around a run only while TF is set or dbg.armed (the dispatcher's one test).
 * Before the run: note what the trap after it depends on; a REP string instruction
 * single-stepped or watched runs one iteration. False if the instruction's fetch
 * raised an exception (nothing is to run this turn). */
bool dbg_step_begin(struct vm *vm, struct dbg_step *s);
/* After it: the single-step trap (DR6.BS) and the traps of data and I/O breakpoints
 * met, as one #DB after the instruction. */
void dbg_step_end(struct vm *vm, struct dbg_step *s);

#endif

/*
 * layout.h - the host address space of one VM and the vCPU block.
 *
 * Guest linear address L lives at host address L: a segment shadow keeps the guest's
 * base, so a flat guest segment is a flat (base 0) host one. That matters: REP MOVS
 * and REP STOS take the CPU's fast path only with a zero segment base (measured here:
 * a 16-byte REP STOSB 5 cycles with base 0, 141 with any other base; 1 KiB 27 and
 * 840). The monitor window is the top WIN_SIZE bytes of the low 4 GiB: the vCPU
 * block that translated code reads and writes through GS, the shared stubs, the
 * indirect-branch lookup tables and the code cache. Guest shadows stop below it
 * (GUEST_TOP), so a guest access to its own top WIN_SIZE bytes faults and is
 * emulated; the host cannot map its lowest 64 KiB (vm.mmap_min_addr), so guest
 * linear [0, GUEST_LOW) is emulated too. The window is reachable only through the
 * monitor's own selectors (SEL_MCODE, SEL_MDATA).
 *
 * Why 8 MiB: Linux (32-bit) keeps its fixmap in the top few MiB and its cpu_entry_area
 * (entry stacks, TSS, GDT) just below, about 12 MiB under 4 GiB: with a 32 MiB window
 * every system call and exception ran ~20 instructions as emulated callouts (fork+exec
 * 10-25% slower). 6 MiB of code cache holds Linux's boot (one flush) and its steady
 * state.
 *
 * The VC_* offsets are shared by C (struct vcpu_shared, checked with static_assert)
 * and by the assembly in monitor/enter.S and the translator's emitted code.
 */
#ifndef TRAPEZE_LAYOUT_H
#define TRAPEZE_LAYOUT_H

#define WIN_SIZE        0x00800000u     /* 8 MiB: the window, and the guest's emulated top */
#define WIN_BASE        0xff800000u     /* 4 GiB - WIN_SIZE */
#define GUEST_TOP       WIN_BASE        /* guest linear addresses the host reaches: below */
#define GUEST_LOW       0x00010000u     /* ... and from here (vm.mmap_min_addr) */
#define VCPU_ADDR       (WIN_BASE + 0x00000000u)  /* struct vcpu_shared, 8 KiB */
#define STUB_ADDR       (WIN_BASE + 0x00002000u)  /* shared stubs (compat and 64-bit code) */
#define STUB_SIZE       0x00001000u
/* The memory-operand executor (monitor/memop_native.c): its code, its data (the
 * registers in and out, an x87/SSE image), the page its operand is copied to, and an
 * inaccessible page a first run probes the instruction's access with. */
#define MX_CODE_ADDR    (WIN_BASE + 0x00003000u)
#define MX_DATA_ADDR    (WIN_BASE + 0x00004000u)
#define MX_RW_ADDR      (WIN_BASE + 0x00005000u)
#define MX_PROBE_ADDR   (WIN_BASE + 0x00006000u)
#define MX_REGS         0       /* u32[8], EAX..EDI */
#define MX_EFLAGS       32      /* u32: status flags in and out */
#define MX_ERR          36      /* u32: the error code of a fault in the run (signals.c) */
#define MX_HOST_RSP     40      /* u64 */
#define MX_FX           512     /* fxsave image out, 512 bytes */
#define LOOKUP_ADDR     (WIN_BASE + 0x00010000u)  /* indirect-branch tables, LOOKUP_ENTRIES x 8 bytes */
#define LOOKUP_BITS     16
#define LOOKUP_ENTRIES  (1u << LOOKUP_BITS)
/* One table per privilege class, and at CPL 1-3 one for each way of translating
 * gs: (MODE_GS_LIN, rewriter/): a table serves one mode at a time, and switching it
 * to another empties it (512 KiB). A Linux process starts with GS null and loads its
 * TLS segment soon after, while its parent runs with it loaded. */
#define MODE_GS_LIN     0x800u
#define LOOKUP_TABLES   3
#define LOOKUP_INDEX(mode) (((mode) & 3) ? (((mode) & MODE_GS_LIN) ? 2u : 1u) : 0u)
#define LOOKUP_TABLE_AT(i) (LOOKUP_ADDR + (uint32_t)(i) * LOOKUP_ENTRIES * 8)
#define LOOKUP_TABLE(mode) LOOKUP_TABLE_AT(LOOKUP_INDEX(mode))
#define IC_COUNT_ADDR   (WIN_BASE + 0x00190000u)  /* inline caches' miss counters, u32 each */
#define IC_COUNT_MAX    ((CACHE_ADDR - IC_COUNT_ADDR) / 4)
#define CACHE_ADDR      (WIN_BASE + 0x00200000u)  /* code cache: CACHE_ADDR .. CACHE_END */
#define CACHE_END       0xfffff000u     /* (the last page stays unused: no address wraps) */

/* Host LDT selectors (TI=1, RPL=3). Indices from LDT_POOL_FIRST shadow guest segments. */
#define SEL_MCODE       0x0f            /* LDT 1: 32-bit code, base 0, 4 GiB (the window's code) */
#define SEL_MDATA       0x17            /* LDT 2: data, base 0, 4 GiB (GS: the window's data) */
#define LDT_POOL_FIRST  3
#define LDT_ENTRIES     8192

/* Host GDT selectors of x86-64 Linux user space. */
#define HOST_CS64       0x33
#define HOST_DS         0x2b

/* vCPU block offsets. Registers in x86 encoding order (EAX=0 .. EDI=7). */
#define VC_REGS         0
#define VC_ESP          16
#define VC_EFLAGS       32      /* host EFLAGS image: guest arithmetic flags on exit/entry */
#define VC_EIP          36      /* guest EIP an exit refers to */
#define VC_EXIT         40      /* exit word: reason << 28 | info */
#define VC_SAVE_EAX     44      /* scratch saves of emitted sequences */
#define VC_SAVE_ECX     48
#define VC_TMP          52      /* host target of an indirect jump */
#define VC_FARPTR       56      /* m16:32 far pointer to the 64-bit exit stub */
#define VC_HOST_RSP     64
#define VC_HOST_FSBASE  72
#define VC_HSEL         80      /* u16[6] host selectors ES CS SS DS FS GS to load on entry;
                                   CS's slot holds guest CS as data (for cs: prefixes) */
#define VC_HSEL_GGS     92      /* u16 host selector of guest GS (for gs: prefixes) */
#define VC_HSEL_GGS_WRAP 94     /* u16 ... its view of the offsets that wrap below its base */
#define VC_GSEL         96      /* u16[6] guest-visible selectors ES CS SS DS FS GS */
#define VC_LOOKUP       112     /* u32 base of the lookup table in use */
#define VC_HAVE_FSGS    116     /* u32: wrfsbase usable */
#define VC_RUN          120     /* u32: 0 asks translated code to leave at its next branch */
#define VC_VIF          124     /* u32: the guest's EFLAGS.IF (0 or 0x200) */
#define VC_IRQ          128     /* u32: nonzero while the 8259 asserts INTR (an STI must exit) */
#define VC_VFLAGS       132     /* u32: the guest's other virtual EFLAGS bits (IOPL, TF, NT, AC, ID) */
#define VC_BR_EIP       136     /* u32: the indirect branch that left for the dispatcher ... */
#define VC_BR_DELTA     140     /* s32: ... and what it did to ESP (limited code segments) */
#define VC_STI_EIP      144     /* u32: EIP after the last inline STI that set IF (its shadow) */
#define VC_HSEL_NFS     148     /* u16: the host selector tz_enter loads into FS */
#define VC_GSEL32       152     /* u32[6] the guest selectors zero-extended (PUSH sreg) */
#define VC_FPU_SAVED    176     /* u32: the guest's x87/SSE state is in VC_FX, not live (fpu.c) */
#define VC_GGS_BASE     180     /* u32: the guest's GS base (mangle_state.c, emit_gs_linear) */
#define VC_LDESC        184     /* u64[6]: the descriptor each segment came from, or 0 */
/* The FS value before the current one (segments.c, mangle_state.c emit_fs_load): its
 * selector and descriptor negated (flag-free compares), where its descriptor lies
 * (a GDT entry, or one of the two constants below), its host shadow selector made
 * for CPL 0; and how often translated code swapped it with the current one. */
#define VC_FSALT_NSEL   232
#define VC_FSALT_DLIN   236
#define VC_FSALT_NDESC  240     /* u32[2] */
#define VC_FSALT_HSEL   248
#define VC_FS_SWAPS     252
#define VC_FS_DLIN      256     /* ... and where the current FS's descriptor lies */
#define VC_ZERO8        264     /* u64 0: the "descriptor" of a null selector */
#define VC_ONES8        272     /* u64 ~0: matches no descriptor a translation holds */
/* System calls in translated code (monitor/kentry.c, rewriter/mangle_kentry.c): whether
 * each kind may run in line now (SYSEXIT's and IRET's by the lookup table their
 * target's mode uses: u32[3], index LOOKUP_INDEX), the CPL and kind of the last one
 * and how many ran (the monitor catches up after each exit), SYSENTER's ESP and EIP,
 * the check that FS is the value the sets were made for (its CPL-0 host selector,
 * negated), and the vCPU fields each target installs (KSET_*): SYSENTER's, SYSEXIT's,
 * INT n's, IRET's. What INT and IRET compare at run time is negated (flag-free LEA +
 * JECXZ) with the linear address it is read from. */
#define VC_K_ENTER_OK   280     /* u32 */
#define VC_K_EXIT_OK    284     /* u32[3] (index 0 unused) */
#define VC_K_CPL        296     /* u32 */
#define VC_K_COUNT      300     /* u32 */
#define VC_K_ESP0       304     /* u32 SYSENTER_ESP */
#define VC_K_EIP0       308     /* u32 SYSENTER_EIP */
#define VC_K_NFS0       312     /* u32 */
#define VC_K_KIND       316     /* u32: KIND_* of the last one */
#define VC_K_SET0       320     /* struct kentry_set[4]: SYSENTER's (CPL 0) ... */
#define VC_K_SET3       352     /* ... SYSEXIT's (CPL 3) ... */
#define VC_K_SET_INT    384     /* ... INT n's (CPL 0) ... */
#define VC_K_SET_IRET   416     /* ... IRET's (CPL 3) */
#define KSET_HSEL       0       /* u16[8]: VC_HSEL's six, then VC_HSEL_GGS, VC_HSEL_GGS_WRAP */
#define KSET_GSEL_CSSS  16      /* u16[2]: guest CS and SS selectors (VC_GSEL + 2) */
#define KSET_GSEL32     20      /* u32[2]: the same zero-extended (VC_GSEL32 + 4) */
#define KSET_NFS        28      /* u16: the host selector FS holds at that CPL */
#define KSET_SIZE       32
#define KIND_SYSENTER   0
#define KIND_SYSEXIT    1
#define KIND_INT        2
#define KIND_IRET       3
#define VC_TSC_AUX      448     /* u32: IA32_TSC_AUX, what RDTSCP returns in ECX */
#define VC_CR2          452     /* u32: CR2 (MOV from CR2 at CPL 0 reads it in line) */
/* INT n from CPL 3 through a gate to CPL 0: the vector; where the gate, its CS's
 * descriptor, the TSS's SS0 and SS0's descriptor lie and what they held; the gate's
 * offset; what IF becomes (VC_VIF AND this: 0 for an interrupt gate). */
#define VC_K_INT_OK     456     /* u32 */
#define VC_K_INT_NVEC   460
#define VC_K_INT_GATE   464     /* u32 linear, then u32[2] negated */
#define VC_K_INT_CSD    476
#define VC_K_INT_TSS    488     /* u32 linear of TSS + 4 (ESP0), then u32: -[TSS + 8] */
#define VC_K_INT_SSD    496     /* u32 linear, then u32[2] negated */
#define VC_K_INT_EIP    508
#define VC_K_INT_IFMASK 512
/* IRET from CPL 0 to CPL 3: the frame's CS and SS selectors (negated), their
 * descriptors, the EFLAGS image's bits outside FL_ARITH | FL_IF, FS's and GS's
 * selectors and GS's CPL-0 host selector (negated). */
#define VC_K_IRET_OK    516     /* u32[3] (index 0 unused) */
#define VC_K_IRET_NCS   528
#define VC_K_IRET_NSS   532
#define VC_K_IRET_CSD   536     /* u32 linear, then u32[2] negated */
#define VC_K_IRET_SSD   548     /* u32 linear, then u32[2] negated */
#define VC_K_IRET_VFL   560
#define VC_K_IRET_NFSS  564
#define VC_K_IRET_NGSS  568
#define VC_K_IRET_NGGS0 572
#define VC_K_TMP        576     /* u32 scratch: the new ESP */
#define VC_K_FLSLOT     580     /* u32: INT's host EFLAGS (PUSHFD with ESP = VC_K_FLSLOT + 4) */
/* The GS loads of context switches (monitor/gsload.c, rewriter/mangle_state.c,
 * emit_gs_load): recently loaded GS values, each with what its in-line load installs. */
#define VC_GGS_FLAT     584     /* u32: 1 if GS is a 4 GiB writable data segment (MODE_GS_LIN) */
#define VC_GS_LOADS     588     /* u32: in-line GS loads, for the monitor's catch-up */
#define VC_GS_LAST      592     /* u32: the entry (its offset from VC_GSC) the last one loaded */
#define VC_GSC          1536    /* struct gs_entry[GSC_ENTRIES] */
#define GSC_ENTRIES     4
#define GSC_NSEL        0       /* u32: -selector; 1 when empty (matches no selector) */
#define GSC_DLIN        4       /* u32: where its descriptor lies (VC_ZERO8 if null) */
#define GSC_NDESC       8       /* u32[2]: the descriptor, negated */
#define GSC_SEL         16      /* u32: the selector, zero-extended */
#define GSC_BASE        20      /* u32: its base (VC_GGS_BASE) */
#define GSC_HSEL0       24      /* u16[2]: its shadows at CPL 0 (VC_HSEL_GGS, _WRAP) */
#define GSC_HSEL3       28      /* u16[2]: ... and at CPL 3 */
#define GSC_NFLAT       32      /* u32: -(VC_GGS_FLAT it gives) */
#define GSC_SIZE        36
#define VC_FX           1024    /* guest fxsave image, 512 bytes (VC_GSC after it) */

/* Exit reasons (top 4 bits of the exit word). */
#define EXIT_CHAIN      1u      /* direct branch not yet chained: info = block << 3 | slot */
#define EXIT_LOOKUP     2u      /* indirect branch missed the table: target in VC_EIP */
#define EXIT_CALLOUT    3u      /* instruction at VC_EIP needs the monitor; info: */
#define CALLOUT_CUT     1u      /* ... it runs into a page that was absent (a cut block) */
#define CALLOUT_CR3     2u      /* ... it is MOV CR3, r32 (0F 22 D8+r, no prefix), r in */
#define CALLOUT_REG_SHIFT 2     /*     bits 2-4: the monitor needs not decode it */
#define EXIT_FAULT      4u      /* a host signal in translated code (set by the handler) */
#define EXIT_IC_FILL    5u      /* an indirect branch site's first run: info as EXIT_CHAIN */
#define EXIT_IC_REFILL  6u      /* its misses counted down: info = block << 3 | first slot */
#define EXIT_BREAK      7u      /* an instruction breakpoint at VC_EIP (monitor/debug.h) */
#define EXIT_GUARD      8u      /* a jump into a detached block's entry: info = block << 3 |
				   entry (codecache.c, "guards") */
#define EXIT_REASONS    16
#define GUARD_LEN       5       /* an entry's guard: a 5-byte NOP, or jmp rel32 */
#define EXIT_SHIFT      28
#define EXIT_INFO_MASK  ((1u << EXIT_SHIFT) - 1)

#endif

// traceloop-sidecar kernel side: per-container overwriting syscall windows
// whose memory comes from one node-wide pool.
//
// Every recorded cgroup owns a container slot (a "slab": its meta in `slabs`)
// and a list of chunks from the shared `chunks` array (CHUNK bytes each,
// mmap-able). A chunk holds fixed 128-byte call records, stacked down from its
// end, and the bytes those calls captured (paths, buffers, addresses),
// stacked up from its start: one atomic add on the chunk's `fill` word
// reserves both, so a call that captures nothing costs 128 bytes and one that
// captures a path costs the path's length more. When a container's current
// chunk is full it takes another from the pool (`chunkq`), or recycles its
// own oldest chunk once it holds its window (WINDOW calls) or may not grow:
// an idle container holds one chunk, a busy one grows up to its window.
// sys_enter writes a record and sys_exit finds it again through the thread's
// pairing state, checked by the record's sequence number. Userspace reads a
// container only when it dumps, through mmap. Crash triggers freeze the
// container in the kernel and are reported through the `events` ring buffer.
// Signal deliveries are records of their own in the same chunks (nr SIG_NR),
// in order with the calls.
//
// Memory is a node budget: every container slot is guaranteed FLOOR chunks
// (its last 256 calls or so), and growth beyond that takes from SPARE chunks
// shared by all (`pool.taken` counts them), so however busy the others are,
// no container is pushed below its floor and a new one always finds its
// first chunk. A slot userspace releases (`releaseq`) gives its chunks back
// the next time a container is adopted or needs to grow.
//
// Only helpers, tracepoint fields and UAPI structs are used, and, with
// TASK_WALK, loads from the current task at offsets the loader read from the
// running kernel's BTF (sidecar/kernel/btf.py), never from the headers'
// layouts: the program compiles against whatever headers the node has.
//
// Compile-time settings (-D...): NSLABS (container slots), NCHUNKS, CHUNK
// (bytes, a power of two), RING (chunks a container may hold, a power of
// two), FLOOR, SPARE (chunks), WINDOW (calls), CAP (bytes of the largest
// capture), PATH_CAP, BUF_CAP, SA_CAP (<= CAP), ROOT_ID, ROOT_LEVEL,
// ADOPT_ROOT, MAX_NR, USE_RAW_TP, TRIG_ENABLED, TRIG_MAIN_ONLY,
// FREEZE_ON_TRIGGER, EVENT_PAGES, MAX_CGROUPS, CGCACHE, XTHREADS (powers of
// two), COMM_EVERY, TASK_WALK with OFF_TASK_CGROUPS, OFF_CSS_SET_DFL_CGRP,
// OFF_CGROUP_KN, OFF_KERNFS_NODE_ID, OFF_TASK_PID, OFF_TASK_TGID,
// OFF_TASK_COMM, OFF_TASK_EXIT_CODE, CG_NAMES with OFF_KERNFS_NODE_NAME and
// OFF_KERNFS_NODE_PARENT, UNRECORDED, DECISION_CACHE with one of MIGRATE_HOOK_FENTRY,
// MIGRATE_HOOK_KPROBE, MIGRATE_HOOK_EMULATED (raw tracepoints only),
// OFF_KSA_HANDLER.

#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf.h>

#ifndef NSLABS
#define NSLABS 64
#endif
#ifndef NCHUNKS
#define NCHUNKS 1024
#endif
#ifndef CHUNK
#define CHUNK 8192
#endif
#ifndef RING
#define RING 512
#endif
#ifndef FLOOR
#define FLOOR 7
#endif
#ifndef SPARE
#define SPARE 0
#endif
#ifndef WINDOW
#define WINDOW 4096
#endif
#ifndef CAP
#define CAP 256
#endif
#ifndef PATH_CAP
#define PATH_CAP CAP
#endif
#ifndef BUF_CAP
#define BUF_CAP 128
#endif
#ifndef SA_CAP
#define SA_CAP 128
#endif
#ifndef MAX_NR
#define MAX_NR 1024
#endif
#ifndef ROOT_LEVEL
#define ROOT_LEVEL 0
#endif
#ifndef EVENT_PAGES
#define EVENT_PAGES 64
#endif
#ifndef MAX_CGROUPS
#define MAX_CGROUPS 16384
#endif
#ifndef CGCACHE
#define CGCACHE 4096
#endif
#ifndef TRIG_ENABLED
#define TRIG_ENABLED 0
#endif
#ifndef TRIG_MAIN_ONLY
#define TRIG_MAIN_ONLY 0
#endif
#ifndef NR_EXIT
#define NR_EXIT -1
#endif
#ifndef NR_EXIT_GROUP
#define NR_EXIT_GROUP -1
#endif
#ifndef NR_EXECVE
#define NR_EXECVE -1
#endif
#ifndef NR_EXECVEAT
#define NR_EXECVEAT -1
#endif
#ifndef NR_PRCTL
#define NR_PRCTL -1
#endif
#define EXEC_MARK 0x7fff0000
#define SIGNALED 0x10000
// With SIGNALED in EV_GROUP_EXIT's code: whether the process dumped core
// (CORE_KNOWN: its wait status was read; CORE_DUMPED: WCOREDUMP).
#define CORE_DUMPED 0x20000
#define CORE_KNOWN 0x40000

#ifndef FREEZE_ON_TRIGGER
#define FREEZE_ON_TRIGGER 1
#endif

#define IGNORED 0xffffffffu
// Not recorded for now: no container slot was free. Unlike IGNORED, not a
// decision a thread may keep (a slot freed later takes the container in).
#define FULL 0xfffffffeu
#define REC 128                 // bytes of a call record
#define RPC (CHUNK / REC)       // records a chunk can hold
#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif
// Hides what the compiler knows of a variable, so that the bound checked
// next is the one the verifier sees (clang otherwise reuses an unchecked copy).
#define opaque(v) asm volatile("" : "+r"(v))

// Capture kinds (sidecar/argkinds.py).
#define K_STR 1
#define K_BUF_IN 2
#define K_BUF_OUT 3
#define K_SA_IN 4
#define K_SA_OUT 5
#define K_OBJ_IN 6   // fixed-size object; len_arg holds its size in bytes
#define K_OBJ_OUT 7
#define K_ARGV 8     // execve's argv: the first ARGV_N strings, CAP / ARGV_N bytes each
#define K_ARRAY 9    // array read at exit: len_arg = element size << 3 | count (an
                     // argument's index, or 7: the return value)
#define K_IOV_IN 10  // iovec array and the data it names (writev)
#define K_IOV_OUT 11 // the same, up to the return value (readv)
#define K_MSG_IN 12  // struct msghdr with its name and iovecs (sendmsg)
#define K_MSG_OUT 13 // the same, up to the return value (recvmsg)
#define K_DIRENTS 14 // getdents64's entries, counted; kinds 9-14 are read at exit
                     // (bpf/captures_more.h)
#define K_SIGFRAME 15 // rt_sigreturn's signal mask, from the frame at the stack
                      // pointer, read at enter as an 8-byte K_OBJ_IN
#define K_TIMEOUT 16  // futex's timeout, read at enter for the waiting operations only
#define K_SIGWAIT 17  // rt_sigtimedwait's set and timeout (len_arg: its argument), at enter
#define K_PIDFD 18    // clone3's new pidfd, read at exit through the first capture's struct
#ifndef ARGV_N
#define ARGV_N 8
#endif
#define ARGV_EACH (CAP / ARGV_N)
#define NO_LEN 0xff
// In a record's `captured` (and a pairing state's `kinds`): capture i's read
// failed, UNREADABLE << i (an input read again at exit: RETRY).
#define UNREADABLE 4
#define RETRY (3 * UNREADABLE)

// Trigger reasons and event types (sidecar/events.py).
#define EV_NEW_SLAB 1
#define EV_TRIGGER 2
#define EV_GROUP_EXIT 3
#define EV_TABLE_FULL 4     // a container under the root found no free slot (once per cgroup)
#define EV_UNREC_EXIT 5     // a process of such a cgroup ended (code as for EV_GROUP_EXIT)
#define T_NONZERO_EXIT 1
#define T_FATAL_SIGNAL 2
#define T_OOM_KILL 4
#define T_CONTAINER_EXIT 8

// Global counters (per CPU), indexes in sidecar/events.py.
#define ST_TABLE_FULL 0    // syscalls of a new cgroup that found no free container slot
#define ST_ADOPTED 1       // slabs handed out
#define ST_RING_DROPS 2    // events lost because the ring buffer was full
#define ST_CAPTURE_FAIL 3  // captures the kernel could not read
#define ST_NO_CHUNK 4      // calls not recorded: their container could get no chunk
#define ST_GROWN 5         // chunks taken from the pool beyond a floor
#define ST_RECYCLED 6      // chunks a container reused (its oldest calls overwritten)
#define ST_NSTATS 7

// One system call. The enter sets `seq` to 0 first and to the call's
// sequence number last: a reader that sees the same nonzero `seq` before and
// after copying the record saw no writer in it (sidecar/kernel/slab.py).
struct rec {
    u64 seq;            // sequence number (from 1); 0 while the enter writes
    u64 ts;             // CLOCK_BOOTTIME ns at enter
    u64 dur;            // ns from enter to exit
    u64 args[6];
    s64 ret;
    u32 pid;            // thread group id
    u32 tid;
    u16 nr;
    u16 cpu;
    u8 done;            // 1 once sys_exit filled ret
    u8 captured;        // bit i: capture i holds what the call named, even if empty;
                        // bit 2 + i: its memory could not be read (UNREADABLE)
    u16 gen;            // the chunk's incarnation it was written in (low bits)
    u16 cap_off[2];     // where capture i lies in the chunk
    u16 cap_len[2];     // bytes stored
    u32 cap_full[2];    // bytes the call named (buffers), or stored + 1 if a string was cut
    char comm[16];
};
_Static_assert(sizeof(struct rec) == REC, "record size");

struct chunk {
    u8 b[CHUNK];
};

// A chunk's reservation state, apart from its bytes (one cache line for the
// atomic add, not the data's).
struct chunkhdr {
    u64 fill;           // captured bytes << 32 | records reserved (both count up)
    u64 base;           // sequence number of the call before its first record
    u32 gen;            // incarnation: bumped each time the chunk is (re)started
    u32 calls;          // records it held when it was closed
};

struct slabmeta {
    u64 head;           // calls in the chunks closed so far (the current one's
                        // count is in its fill word: sidecar/kernel/slab.py)
    u64 base;           // 0: sequence numbers start at 1 for each owner
    u64 cgroup;         // owner cgroup id (0: free)
    u64 frozen_at;      // CLOCK_BOOTTIME ns of the freeze, 0 while recording
    u64 after_freeze;   // syscalls not recorded because the slot was frozen
    u64 gen;            // incremented at each adoption
    u32 main_tgid;      // the first process seen in the cgroup
    u32 triggers;       // T_* bits seen since adoption
    u64 cur;            // the chunk being filled: its gen << 32 | its index
    u64 calls;          // records in the closed chunks held (for the window)
    u64 lock;           // 1 while a CPU changes the chunk list (64 bits: bcc's
                        // instruction set has no 32-bit compare-and-swap)
    u32 held;           // chunks held
    u32 tail;           // ring position of the oldest chunk (counts up, mod RING)
    u32 top;            // ring position of the current chunk
    u32 pad;
    u32 ring[RING];     // chunk indexes, oldest at tail
};

struct pool {
    s64 taken;          // chunks held beyond the floors, out of SPARE
    u64 pad;
};

struct scinfo {
    u8 on;              // record this syscall at all
    u8 arg[2];
    u8 kind[2];
    u8 len_arg[2];
    u8 nargs;           // arguments the call takes (0: its registers are not read)
};

struct inflight {
    u64 seq;            // sequence number of the open call; 0 when none
    u32 idx;            // its record: chunk * RPC + position
    u8 kinds;           // areas to read at exit (bit i); inputs to read again (RETRY)
    u8 pad;
    u16 gen;            // its chunk's incarnation (sequence numbers restart per owner)
};

struct event {
    u32 type;
    u32 slab;
    u64 cgroup;
    u64 ts;
    u32 pid;
    u32 tid;
    u32 reason;         // T_* for EV_TRIGGER
    s32 code;           // exit code, or signal number
    u64 gen;
    char comm[16];
    s32 si_code;        // EV_TRIGGER of a signal: its siginfo's si_code...
    u32 pad;
    u64 addr;           // ...and the union's first word (a fault's address)
};

BPF_F_TABLE("array", u32, struct chunk, chunks, NCHUNKS, BPF_F_MMAPABLE);
BPF_F_TABLE("array", u32, struct chunkhdr, chunkhdrs, NCHUNKS, BPF_F_MMAPABLE);
BPF_F_TABLE("array", u32, struct slabmeta, slabs, NSLABS, BPF_F_MMAPABLE);
BPF_QUEUE(chunkq, u32, NCHUNKS);    // chunks no container holds
BPF_QUEUE(releaseq, u32, NSLABS);   // slots userspace let go, chunks not yet returned
BPF_ARRAY(pool, struct pool, 1);
BPF_HASH(cgslab, u64, u32, MAX_CGROUPS);
// A direct-mapped cache in front of `cgslab`, indexed by the low bits of the
// cgroup id. Array lookups are inlined by the verifier, while the hash lookup
// is the costliest step of every syscall (bench/README.md, "anatomy"). Entries
// are hints, checked before use: a slab counts only while its meta still
// names this cgroup as owner, so a slab released or re-adopted meanwhile
// sends us back to `cgslab`. Only facts that never change are cached as
// negative: a cgroup outside ROOT_ID stays outside (cgroups do not move and
// ids are not reused), and a cgroup userspace ignores stays ignored
// (Kernel.ignore writes the entry); it is stored as cg | CG_FIXED in one
// word, which cannot be torn.
#define CG_FIXED (1ull << 63)
struct cgcache {
    u64 cg;
    u32 slab;
    u32 pad;
};
BPF_ARRAY(cgcache, struct cgcache, CGCACHE);
BPF_QUEUE(freeq, u32, NSLABS);
BPF_ARRAY(scinfo, struct scinfo, MAX_NR);
BPF_PERCPU_ARRAY(stats, u64, ST_NSTATS);
BPF_TASK_STORAGE(inflight, struct inflight);
#ifdef USE_RAW_TP
// Per-thread fast path. Most sys_exits are of threads with no recorded call
// in flight, and for recorded calls the task-storage lookups (enter and exit)
// and bpf_get_current_comm are the costliest helper calls (bench/README.md,
// "anatomy"). Both raw tracepoints get the thread's pt_regs pointer, fixed
// for the thread's life and distinct among live threads, so a table indexed
// by a hash of it can hold each recording thread's pairing state and comm:
//   - a bucket is claimed by compare-and-swap of `regs` from 0, and only its
//     owner writes the rest; the owner gives it back (regs = 0) in exit and
//     exit_group, which have no sys_exit;
//   - a thread that finds its bucket owned by another pointer pairs through
//     task storage and sets `any`, so every exit hashed here looks there;
//   - `any` is never cleared (a thread may be in flight through task storage),
//     and a bucket whose owner died without exit stays taken until a new
//     thread gets the same kernel stack: both only cost the slower path.
// sys_exit of a thread that neither owns its bucket nor finds `any` set has
// nothing in flight and returns after one inlined array lookup.
#ifndef XTHREADS
#define XTHREADS 16384
#endif
// comm is read again after this many calls, at the first call of a thread,
// and after execve and prctl (PR_SET_NAME); a name written to
// /proc/PID/task/TID/comm by another thread shows up at most COMM_EVERY
// calls late.
#ifndef COMM_EVERY
#define COMM_EVERY 32
#endif
struct xthread {
    u64 regs;           // owner's pt_regs pointer; 0: free
    u64 any;            // a thread pairing through task storage hashed here
    u64 seq;            // the owner's open call: its sequence number, 0 when none
    u32 idx;            // its record: chunk * RPC + position
    u32 tid;            // whose comm is cached (the owner's, once read)
    u8 kinds;           // areas to read at exit (bit i); inputs to read again (RETRY)
    u8 comm_left;       // calls left before comm is read again
    u16 gen;            // its chunk's incarnation (sequence numbers restart per owner)
    u8 pad[4];
    char comm[16];
#ifdef DECISION_CACHE
    u64 dec_mark;       // migration epoch + 1 when dec_slab was decided; 0: none
    u64 dec_gen;        // the slot's generation then
    u32 dec_slab;       // the owner's container slot, or IGNORED
    u32 pad2;
#endif
};
BPF_ARRAY(xthreads, struct xthread, XTHREADS);

#ifdef DECISION_CACHE
// The per-thread cache of the recording decision. Which container a thread's
// calls go to changes only when the thread moves to another cgroup, so its
// bucket can keep the decision (slot or "not recorded") and skip the task
// walk and the cgroup lookups on later calls. It is exact only because
// every migration is seen before it happens: a hook on cgroup_migrate_execute
// (fentry, or a kprobe; MIGRATE_HOOK_*) bumps `epoch` and counts the
// migrations running in `active` at its start, and again at its end. A
// decision is kept only when taken while no migration ran, and used only
// while the epoch is still the one it was taken in (epoch first, then
// active, on both sides). The tracepoint cgroup:cgroup_attach_task fires
// after the move, too late: without such a hook (kprobes and fentry missing)
// the loader leaves all this out. MIGRATE_HOOK_EMULATED (tests only): no
// hook, userspace bumps the epoch around the migrations it makes.
struct migr {
    u64 epoch;
    s64 active;
};
BPF_ARRAY(migr, struct migr, 1);

static __always_inline void migr_edge(s64 delta) {
    u32 zero = 0;
    struct migr *g = migr.lookup(&zero);
    if (!g)
        return;
    __sync_fetch_and_add(&g->epoch, 1);
    __sync_fetch_and_add(&g->active, delta);
}
#if defined(MIGRATE_HOOK_FENTRY)
KFUNC_PROBE(cgroup_migrate_execute) {
    migr_edge(1);
    return 0;
}
KRETFUNC_PROBE(cgroup_migrate_execute) {
    migr_edge(-1);
    return 0;
}
#elif defined(MIGRATE_HOOK_KPROBE)
int kprobe__cgroup_migrate_execute(struct pt_regs *ctx) {
    migr_edge(1);
    return 0;
}
int kretprobe__cgroup_migrate_execute(struct pt_regs *ctx) {
    migr_edge(-1);
    return 0;
}
#elif !defined(MIGRATE_HOOK_EMULATED)
#error "DECISION_CACHE needs a migration hook"
#endif

// epoch + 1 if no migration runs now (a decision may be cached or used), else 0.
static __always_inline u64 migr_mark(void) {
    u32 zero = 0;
    struct migr *g = migr.lookup(&zero);
    if (!g)
        return 0;
    u64 epoch = *(volatile u64 *)&g->epoch;
    barrier();
    if (*(volatile s64 *)&g->active != 0)
        return 0;
    return epoch + 1;
}
#endif

static __always_inline struct xthread *xthread_of(u64 regs) {
    u32 b = (u32)((regs * 0x9E3779B97F4A7C15ull) >> 32) & (XTHREADS - 1);
    return xthreads.lookup(&b);
}

// The thread ends in this call (exit, exit_group: no sys_exit follows): give
// its bucket back for the next thread, even when the call is not recorded.
static __always_inline void xthread_release(u64 regs, u32 nr) {
    if (nr != NR_EXIT && nr != NR_EXIT_GROUP)
        return;
    struct xthread *x = xthread_of(regs);
    if (x && x->regs == regs) {
        x->seq = 0;
        x->regs = 0;
    }
}
#endif
BPF_RINGBUF_OUTPUT(events, EVENT_PAGES);
// Per-process exit state: the code of exit/exit_group, and whether the
// process is an OOM victim, so group exits are not mistaken for signals.
BPF_HASH(exiting, u32, s32, 65536);
BPF_HASH(oom_victims, u32, u32, 4096);
// Containers refused a slot (see table_full). Declared here, with the other maps:
// declared after emit(), a map made bcc crash (SIGSEGV) instead of reporting
// missing kernel headers (tests/test_deploy.py).
#ifndef UNRECORDED
#define UNRECORDED 4096
#endif
BPF_TABLE("lru_hash", u64, u32, unrec, UNRECORDED);
#if defined(CG_NAMES) && defined(TASK_WALK) && defined(ROOT_ID)
// A slot's cgroup path as the kernel read it at adoption (see name_slot).
#define NAME_DEPTH 8
#define NAME_SEG 128
struct cgname {
    u64 cgroup;         // whose names these are
    u64 gen;            // the slot's generation they were read for
    u32 levels;         // names read
    u32 whole;          // 1: the walk reached the root, the path is complete
    char name[NAME_DEPTH * NAME_SEG];  // name i at i * NAME_SEG (flat: bcc's Python
                                       // types lose a second dimension)
};
BPF_ARRAY(cgnames, struct cgname, NSLABS);
#endif

// The current task's cgroup id, ids and name. With TASK_WALK they are direct
// loads through the task pointer bpf_get_current_task_btf() returns (the
// verifier checks each load against the kernel's BTF, and a load through a
// NULL pointer reads 0 instead of faulting): task->cgroups->dfl_cgrp->kn->id
// is what bpf_get_current_cgroup_id() returns, without the helper call (a
// helper call cost 20-80 ns on a host with return-thunk mitigations;
// bench/README.md, "anatomy"). Without TASK_WALK, the helpers.
#ifdef TASK_WALK
typedef const void *task_t;
static __always_inline u64 ld64(const void *p, u32 off) {
    return *(volatile const u64 *)((const char *)p + off);
}
static __always_inline u32 ld32(const void *p, u32 off) {
    return *(volatile const u32 *)((const char *)p + off);
}
static __always_inline task_t current_task(void) {
    return (task_t)bpf_get_current_task_btf();
}
static __always_inline u64 task_cgroup_id(task_t t) {
    const void *cset = (const void *)ld64(t, OFF_TASK_CGROUPS);
    const void *cgrp = (const void *)ld64(cset, OFF_CSS_SET_DFL_CGRP);
    const void *kn = (const void *)ld64(cgrp, OFF_CGROUP_KN);
    return ld64(kn, OFF_KERNFS_NODE_ID);
}
static __always_inline u64 task_pid_tgid(task_t t) {
    return ((u64)ld32(t, OFF_TASK_TGID) << 32) | ld32(t, OFF_TASK_PID);
}
static __always_inline void task_comm(task_t t, char *dst) {
    *(u64 *)&dst[0] = ld64(t, OFF_TASK_COMM);
    *(u64 *)&dst[8] = ld64(t, OFF_TASK_COMM + 8);
}
#else
typedef int task_t;
static __always_inline task_t current_task(void) {
    return 0;
}
static __always_inline u64 task_cgroup_id(task_t t) {
    return bpf_get_current_cgroup_id();
}
static __always_inline u64 task_pid_tgid(task_t t) {
    return bpf_get_current_pid_tgid();
}
#endif

static __always_inline void stat_add(u32 i) {
    u64 *v = stats.lookup(&i);
    if (v)
        *v += 1;
}

static __always_inline void emit_info(u32 type, u32 slab, u64 cg, u32 reason, s32 code, u64 gen,
                                      s32 si_code, u64 addr) {
    struct event *e = events.ringbuf_reserve(sizeof(struct event));
    if (!e) {
        stat_add(ST_RING_DROPS);
        return;
    }
    u64 id = bpf_get_current_pid_tgid();
    e->type = type;
    e->slab = slab;
    e->cgroup = cg;
    e->ts = bpf_ktime_get_boot_ns();
    e->pid = id >> 32;
    e->tid = (u32)id;
    e->reason = reason;
    e->code = code;
    e->gen = gen;
    e->si_code = si_code;
    e->pad = 0;
    e->addr = addr;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    events.ringbuf_submit(e, 0);
}

static __always_inline void emit(u32 type, u32 slab, u64 cg, u32 reason, s32 code, u64 gen) {
    emit_info(type, slab, cg, reason, code, gen, 0, 0);
}

// -- containers left out, and names (issue 11) --------------------------------

// Cgroups under the root that asked for a container slot when none was free
// (and those userspace refused one at start): each is reported once
// (EV_TABLE_FULL), and the ends of its processes too (EV_UNREC_EXIT), so a
// crash of a container that is not recorded is still seen. Off the hot path:
// only calls that find no slot, and process ends, look here.
static __always_inline void table_full(u64 cg) {
    if (unrec.lookup(&cg))
        return;
    u32 one = 1;
    if (unrec.insert(&cg, &one) == 0)
        emit(EV_TABLE_FULL, IGNORED, cg, 0, 0, 0);
}

// How the current process ended, as EV_GROUP_EXIT says it (an exit code, or
// SIGNALED | signal), from the task's wait status; -1 without the offset.
static __always_inline s32 exit_status(void) {
#if defined(TASK_WALK) && defined(OFF_TASK_EXIT_CODE)
    u32 st = ld32(current_task(), OFF_TASK_EXIT_CODE);
    return (st & 0x7f) ? (s32)(SIGNALED | (st & 0x7f)) : (s32)((st >> 8) & 0xff);
#else
    return -1;
#endif
}

// A process killed by a signal: whether it dumped core, from its wait status
// (the kernel sets 0x80, WCOREDUMP, only once the core file was written), as
// CORE_KNOWN | CORE_DUMPED bits; 0 (unknown) without the offset.
static __always_inline s32 core_bits(void) {
#if defined(TASK_WALK) && defined(OFF_TASK_EXIT_CODE)
    u32 st = ld32(current_task(), OFF_TASK_EXIT_CODE);
    return CORE_KNOWN | ((st & 0x80) ? CORE_DUMPED : 0);
#else
    return 0;
#endif
}

#if defined(CG_NAMES) && defined(TASK_WALK) && defined(ROOT_ID)
// The names of a cgroup's directories, leaf first, up to the watched root
// (exclusive), read at adoption: a container whose directory the runtime
// removed before userspace looked is still named by its real path.
static __always_inline void name_slot(u32 slab, u64 cg, u64 gen) {
    struct cgname *n = cgnames.lookup(&slab);
    if (!n)
        return;
    n->cgroup = cg;
    n->gen = gen;
    n->levels = 0;
    n->whole = 0;
    const void *cset = (const void *)ld64(current_task(), OFF_TASK_CGROUPS);
    const void *cgrp = (const void *)ld64(cset, OFF_CSS_SET_DFL_CGRP);
    u64 kn = ld64(cgrp, OFF_CGROUP_KN);
#pragma unroll
    for (int i = 0; i < NAME_DEPTH; i++) {
        u64 id = 0, name = 0;
        if (!kn || bpf_probe_read_kernel(&id, sizeof(id), (void *)(kn + OFF_KERNFS_NODE_ID)))
            return;
        if (id == ROOT_ID) {
            n->whole = 1;
            return;
        }
        if (i == 0 && id != cg)
            return;  // the task moved meanwhile: not this cgroup's names
        if (bpf_probe_read_kernel(&name, sizeof(name), (void *)(kn + OFF_KERNFS_NODE_NAME)))
            return;
        // A name that fills its segment may be cut: the path is then not whole.
        long got = bpf_probe_read_kernel_str(&n->name[i * NAME_SEG], NAME_SEG, (void *)name);
        if (got <= 1 || got >= NAME_SEG)
            return;
        n->levels = i + 1;
        if (bpf_probe_read_kernel(&kn, sizeof(kn), (void *)(kn + OFF_KERNFS_NODE_PARENT)))
            return;
    }
    // Deeper than NAME_DEPTH below the root: the id at the top tells.
    u64 id = 0;
    if (kn && bpf_probe_read_kernel(&id, sizeof(id), (void *)(kn + OFF_KERNFS_NODE_ID)) == 0 &&
        id == ROOT_ID)
        n->whole = 1;
}
#else
static __always_inline void name_slot(u32 slab, u64 cg, u64 gen) {}
#endif

// -- chunks -----------------------------------------------------------------

static __always_inline struct chunkhdr *hdr_of(u32 c) {
    return chunkhdrs.lookup(&c);
}

// Record r of a chunk: records stack down from the chunk's end. The mask is
// applied last so that the verifier sees the bound on the offset itself.
static __always_inline struct rec *rec_at(u8 *base, u32 r) {
    u64 off = (RPC - 1 - r) * REC;
    opaque(off);
    off &= (CHUNK - 1) & ~(u64)(REC - 1);
    return (struct rec *)(base + off);
}

// Start chunk `c` afresh (its records and bytes are free to overwrite), its
// first record being call base + 1, and return the `cur` word naming this
// incarnation.
static __always_inline u64 chunk_start(u32 c, u64 base) {
    struct chunkhdr *h = hdr_of(c);
    if (!h)
        return 0;
    h->gen += 1;
    h->calls = 0;
    h->base = base;
    h->fill = 0;
    return ((u64)h->gen << 32) | c;
}

// A slot userspace released: its chunks go back to the pool and the slot to
// the free queue. Done here, in the kernel, so that only the kernel counts
// `pool.taken` (userspace has no atomic add on shared memory); called where
// memory is wanted (at adoption, and when a container may not grow), DRAIN
// chunks at a time (a bounded loop the verifier takes quickly); a slot with
// more goes back to the queue for the next call.
#define DRAIN 8
static __always_inline void drain_release(void) {
    u32 slab;
    if (releaseq.pop(&slab) != 0)
        return;
    struct slabmeta *m = slabs.lookup(&slab);
    if (!m)
        return;
    s64 beyond = 0;
#pragma unroll
    for (int i = 0; i < DRAIN; i++) {
        if (m->held == 0)
            break;
        u32 c = m->ring[m->tail & (RING - 1)];
        chunkq.push(&c, 0);
        if (m->held > FLOOR)
            beyond += 1;
        m->held -= 1;
        m->tail += 1;
    }
    if (beyond) {
        u32 zero = 0;
        struct pool *p = pool.lookup(&zero);
        if (p)
            __sync_fetch_and_add(&p->taken, -beyond);
    }
    if (m->held == 0) {
        m->cgroup = 0;
        freeq.push(&slab, 0);
    } else {
        releaseq.push(&slab, 0);
    }
}

// One more chunk for a container that may grow: up to FLOOR chunks always
// (the pool keeps them for every slot), beyond that only while SPARE chunks
// remain, and never past RING.
static __always_inline int chunk_grow(struct slabmeta *m, u32 *c) {
    if (m->held >= RING)
        return 0;
    if (m->held < FLOOR)
        return chunkq.pop(c) == 0;
    u32 zero = 0;
    struct pool *p = pool.lookup(&zero);
    if (!p)
        return 0;
    if (__sync_fetch_and_add(&p->taken, 1) < SPARE && chunkq.pop(c) == 0) {
        stat_add(ST_GROWN);
        return 1;
    }
    __sync_fetch_and_add(&p->taken, -1);
    return 0;
}

#define SW_OK 0
#define SW_BUSY 1   // another CPU is changing this container's chunks
#define SW_FAIL 2   // no chunk to be had

// The current chunk `seen` is full: move the container on to a fresh chunk,
// grown from the pool or recycled from its own oldest. One CPU at a time per
// container (`lock`); a CPU that finds the switch already done returns OK.
static __always_inline int chunk_next(struct slabmeta *m, u64 seen, u32 nfail) {
    if (__sync_val_compare_and_swap(&m->lock, 0, 1) != 0)
        return SW_BUSY;
    if (m->cur != seen) {
        m->lock = 0;
        return SW_OK;
    }
    u32 cur = (u32)seen;
    struct chunkhdr *ch = hdr_of(cur);
    u64 next_base = 0;
    if (ch) {
        // The first reservation that did not fit stops all later ones
        // (records and bytes only grow), so its position is the number of
        // records: ours, unless another CPU failed first (then a few more).
        u32 n = (u32)ch->fill;
        if (nfail < n)
            n = nfail;
        ch->calls = n > RPC ? RPC : n;
        m->calls += ch->calls;
        // The next chunk's calls are numbered on from this one's.
        next_base = ch->base + ch->calls;
    }
    u32 oldest = m->ring[m->tail & (RING - 1)];
    struct chunkhdr *oh = hdr_of(oldest);
    u32 ocalls = oh ? oh->calls : 0;
    u32 c = 0;
    // Recycle the oldest chunk when the rest still hold the window, or when
    // no chunk can be had; grow otherwise.
    int recycle = m->held >= 2 && m->calls - ocalls >= WINDOW;
    if (!recycle && !chunk_grow(m, &c)) {
        drain_release();
        if (!chunk_grow(m, &c))
            recycle = 1;
    }
    if (recycle) {
        if (m->held < 2) {
            m->lock = 0;
            return SW_FAIL;
        }
        // Calls lighter than when the container grew (fewer captures) fill
        // the window with fewer chunks: give the oldest back to the pool and
        // reuse the next, one chunk per switch.
        if (m->held > 2) {
            u32 next = m->ring[(m->tail + 1) & (RING - 1)];
            struct chunkhdr *nh = hdr_of(next);
            u32 ncalls = nh ? nh->calls : 0;
            if (m->calls - ocalls - ncalls >= WINDOW) {
                chunkq.push(&oldest, 0);
                if (m->held > FLOOR) {
                    u32 zero = 0;
                    struct pool *p = pool.lookup(&zero);
                    if (p)
                        __sync_fetch_and_add(&p->taken, -1);
                }
                m->held -= 1;
                m->tail += 1;
                m->calls -= ocalls;
                oldest = next;
                ocalls = ncalls;
            }
        }
        c = oldest;
        m->tail += 1;
        m->calls -= ocalls;
        stat_add(ST_RECYCLED);
    } else {
        m->held += 1;
    }
    u64 next = chunk_start(c, next_base);
    m->head = next_base;
    m->top += 1;
    m->ring[m->top & (RING - 1)] = c;
    barrier();
    m->cur = next;
    barrier();
    m->lock = 0;
    return SW_OK;
}

// Where one call goes: a record and `need` bytes of captures in the
// container's current chunk, moving it on when the chunk is full.
struct spot {
    u8 *base;           // the chunk's bytes
    struct chunkhdr *h;
    struct rec *r;
    u32 idx;            // chunk * RPC + position (pairing)
    u32 off;            // where the captures start
    u64 fill;           // the chunk's fill word after our reservation
    u64 seq;            // the call's sequence number: its chunk's base + position + 1
    u16 gen;
};

static __always_inline int reserve_in(struct slabmeta *m, u32 need, struct spot *sp, u64 *cur,
                                      u32 *nfail) {
    *cur = *(volatile u64 *)&m->cur;
    u32 c = (u32)*cur;
    struct chunkhdr *h = hdr_of(c);
    if (!h)
        return 0;
    u64 add = ((u64)need << 32) | 1;
    u64 old = __sync_fetch_and_add(&h->fill, add);
    u32 r = (u32)old, used = old >> 32;
    if (r >= RPC || (u64)(r + 1) * REC + used + need > CHUNK) {
        *nfail = r;
        return 0;
    }
    u8 *base = (u8 *)chunks.lookup(&c);
    if (!base)
        return 0;
    sp->base = base;
    sp->h = h;
    sp->r = rec_at(base, r);
    sp->idx = c * RPC + r;
    sp->off = used;
    sp->fill = old + add;
    sp->seq = h->base + r + 1;
    sp->gen = (u16)(*cur >> 32);
    return 1;
}

// Another CPU is switching this container's chunk: it takes a few hundred
// ns (bounded: a switcher that was preempted is not waited for).
static __always_inline void await_switch(struct slabmeta *m, u64 cur) {
    // A clock read per turn: few turns (the verifier walks each) for ~2 us.
    for (int i = 0; i < 64; i++) {
        if (*(volatile u64 *)&m->cur != cur)
            break;
        bpf_ktime_get_ns();
    }
}

static __always_inline int reserve(struct slabmeta *m, u32 need, struct spot *sp) {
    u64 cur;
    u32 nfail = RPC;
    if (reserve_in(m, need, sp, &cur, &nfail))
        return 1;
    // One switch per call at most (chunk_next is inlined once: the verifier's
    // paths multiply with every copy); then twice more into whatever chunk
    // is current, waiting for a switch another CPU is making.
    int sw = chunk_next(m, cur, nfail);
    if (sw == SW_FAIL)
        return 0;
#pragma unroll
    for (int attempt = 0; attempt < 2; attempt++) {
        if (sw == SW_BUSY || attempt)
            await_switch(m, cur);
        if (reserve_in(m, need, sp, &cur, &nfail))
            return 1;
    }
    return 0;
}

// A cgroup's first syscall: hand it a container slot from the free queue and
// its first chunk from the pool, so recording starts with that very call,
// without waiting for userspace.
static __always_inline u32 adopt(u64 cg, struct cgcache *c) {
#ifdef ROOT_ID
    if (bpf_get_current_ancestor_cgroup_id(ROOT_LEVEL) != ROOT_ID) {
        c->cg = cg | CG_FIXED;
        return IGNORED;
    }
#ifndef ADOPT_ROOT
    if (cg == ROOT_ID) {
        c->cg = cg | CG_FIXED;
        return IGNORED;
    }
#endif
#endif
    drain_release();
    u32 slab;
    if (freeq.pop(&slab) != 0) {
        stat_add(ST_TABLE_FULL);
        table_full(cg);
        return FULL;
    }
    struct slabmeta *m = slabs.lookup(&slab);
    if (!m)
        return IGNORED;
    u32 first;
    if (chunkq.pop(&first) != 0) {
        // Cannot happen while the floors are kept; counted if it does.
        freeq.push(&slab, 0);
        stat_add(ST_TABLE_FULL);
        table_full(cg);
        return FULL;
    }
    // Set the owner before publishing the mapping, so no other CPU records
    // into the slot with a stale base or chunk.
    m->lock = 0;
    m->held = 1;
    m->tail = 0;
    m->top = 0;
    m->ring[0] = first;
    m->calls = 0;
    m->cur = chunk_start(first, 0);
    m->head = 0;
    m->base = 0;
    m->cgroup = cg;
    m->frozen_at = 0;
    m->after_freeze = 0;
    m->triggers = 0;
    m->main_tgid = bpf_get_current_pid_tgid() >> 32;
    m->gen += 1;
    name_slot(slab, cg, m->gen);
    // Another CPU may be adopting the same cgroup at this moment (a runtime
    // moves a multi-threaded process in, and its threads' first calls race):
    // only one insertion can succeed (BPF_NOEXIST), and the loser's slot goes
    // back. With a plain update both could see their own slot in a lookup
    // right after their own write and both record, into two slots, the
    // first of which userspace would dump alone.
    if (cgslab.insert(&cg, &slab) != 0) {
        m->cgroup = 0;
        m->held = 0;
        chunkq.push(&first, 0);
        freeq.push(&slab, 0);
        u32 *won = cgslab.lookup(&cg);
        return won ? *won : IGNORED;
    }
    stat_add(ST_ADOPTED);
    emit(EV_NEW_SLAB, slab, cg, 0, 0, m->gen);
    return slab;
}

static __always_inline u32 slab_of_current(u64 cg) {
    u32 ci = (u32)cg & (CGCACHE - 1);
    struct cgcache *c = cgcache.lookup(&ci);
    if (!c)
        return IGNORED;
    u64 hint = c->cg;
    if (hint == (cg | CG_FIXED))
        return IGNORED;
    if (hint == cg) {
        u32 slab = c->slab;
        struct slabmeta *m = slabs.lookup(&slab);
        if (m && m->cgroup == cg)
            return slab;
    }
    u32 *p = cgslab.lookup(&cg);
    u32 slab = p ? *p : adopt(cg, c);
    if (slab < NSLABS) {
        c->slab = slab;
        c->cg = cg;
    }
    return slab;
}

// A trigger fired in a recorded cgroup. Triggers limited to the container's
// main process (TRIG_MAIN_ONLY) are only reported: "main" means the process
// whose end ends the container, which userspace confirms when the cgroup
// empties (under runc, the first task in the cgroup is runc's bootstrap, not
// the container's init). The others freeze the window at once.
static __always_inline void freeze(struct slabmeta *m, u32 slab, u32 reason, s32 code, u32 tgid,
                                   s32 si_code, u64 addr) {
    if ((TRIG_ENABLED & reason) == 0)
        return;
    m->triggers |= reason;
#if FREEZE_ON_TRIGGER
    if (!(TRIG_MAIN_ONLY & reason) && m->frozen_at == 0)
        m->frozen_at = bpf_ktime_get_boot_ns();
#endif
    emit_info(EV_TRIGGER, slab, m->cgroup, reason, code, m->gen, si_code, addr);
}

// An exec kills the process's other threads with SIGKILL: mark the process
// so those deliveries are not taken for a fatal signal. A recorded exec's
// mark goes at its sys_exit; one --syscall-filters left out keeps it until
// the process exits or ends (only a later SIGKILL then goes uncounted).
static __always_inline void exec_mark(u32 tgid) {
    s32 mark = EXEC_MARK;
    exiting.update(&tgid, &mark);
}

#define K_SOCKOPT 19  // getsockopt's value at exit, as long as the length written beside it
#define K_FDSETS_IN 20   // select's fd sets, timeout (and pselect6's sigmask) at enter
#define K_FDSETS_OUT 21  // the same sets and the timeout left, at exit
#define K_TS_SIGSET 22   // ppoll's timeout and sigmask (two arguments, either NULL), at enter
#define K_CMSG 23        // the control messages a msghdr points at, at exit (second capture)
#define CMSG_CAP 64      // control message bytes kept: SCM_RIGHTS with 10 fds, or credentials

static __always_inline int read_at_exit(u8 kind) {
    return kind == K_BUF_OUT || kind == K_SA_OUT || kind == K_OBJ_OUT ||
           (kind >= K_ARRAY && kind <= K_DIRENTS) || kind == K_SOCKOPT || kind == K_FDSETS_OUT ||
           kind == K_CMSG || kind == K_PIDFD;
}

static __always_inline u32 round8(u32 n) {
    return (n + 7) & ~7u;
}

// Arrays, iovecs and message headers (poll, epoll_wait, readv/writev,
// sendmsg...): bpf/captures_more.h. Their scratch area is declared here, as
// bcc rewrites map accesses in this file only.
#ifndef IOV_N
#define IOV_N 8               // iovecs whose lengths and data are kept
#endif
#define IOV_HDR (IOV_N * 8)   // their lengths, before the data
#define MSGHDR 56             // struct msghdr on 64-bit architectures
#define MSG_NAME 112          // sockaddr bytes kept (a sockaddr_un's 110, rounded)
#define SCRATCH (MSGHDR + MSG_NAME + IOV_HDR + 2 * CAP + 512)  // (+ envp's pointers)
struct capscratch {
    u8 b[SCRATCH];
};
BPF_PERCPU_ARRAY(capscratch, struct capscratch, 1);
static __always_inline struct capscratch *scratch_get(void) {
    u32 zero = 0;
    return capscratch.lookup(&zero);
}
#include "captures_more.h"

// rt_sigtimedwait's set (8 bytes) and, when not NULL, its timeout (a
// timespec, 16 more), both read at enter into one capture: the record has
// two, and the siginfo the call fills in takes the other. A failure is
// counted; the capture is then absent (the pointers are shown).
#define SIGWAIT_BYTES 24
static __always_inline void capture_sigwait(u8 *dst, u32 room, struct rec *s, int i,
                                            const void *set, u64 timeout) {
    if (room < SIGWAIT_BYTES || bpf_probe_read_user(dst, 8, set) != 0) {
        stat_add(ST_CAPTURE_FAIL);
        return;
    }
    u32 n = 8;
    if (timeout) {
        if (bpf_probe_read_user(dst + 8, 16, (const void *)timeout) == 0)
            n = SIGWAIT_BYTES;
        else
            stat_add(ST_CAPTURE_FAIL);
    }
    s->cap_len[i] = n;
    s->cap_full[i] = n;
    s->captured |= 1 << i;
}

// Bytes capture i of a call reserves in its chunk: what the kinds read at
// most (buffers and addresses passed in: their length, when it is smaller).
static __always_inline u32 cap_need(struct scinfo *si, int i, const u64 *a) {
    u8 kind = si->kind[i];
    u8 la = si->len_arg[i];
    u64 len = 0;
    if (la < 6)
        len = a[la];
    u32 n = 0;
    if (kind == K_STR) {
        n = PATH_CAP;
    } else if (kind == K_BUF_IN) {
        n = len > BUF_CAP ? BUF_CAP : (u32)len;
    } else if (kind == K_BUF_OUT) {
        n = BUF_CAP;
    } else if (kind == K_SA_IN) {
        n = len > SA_CAP ? SA_CAP : (u32)len;
    } else if (kind == K_SA_OUT) {
        n = SA_CAP;
    } else if (kind == K_OBJ_IN || kind == K_OBJ_OUT || kind == K_SIGFRAME) {
        n = (u32)la > CAP ? CAP : la;
    } else if (kind == K_ARGV) {
        n = CAP;
    } else if (kind == K_SIGWAIT && i == 0) {
        n = SIGWAIT_BYTES;
    } else if (kind == K_PIDFD && i == 1) {
        n = 4;
    } else {
        n = more_need(kind, la, a);
    }
    return round8(n);
}

// Where a capture at `off` goes, if it fits in the chunk (the bound is the
// verifier's as much as ours).
static __always_inline u8 *cap_dst(u8 *base, u64 off) {
    opaque(off);
    if (off > CHUNK - CAP)
        return 0;
    return base + off;
}

// An argv array: string j in bytes [j * ARGV_EACH, (j + 1) * ARGV_EACH) of
// the capture (fixed offsets keep the verifier simple), cap_len = the strings
// read times ARGV_EACH, cap_full = their number, or ARGV_N + 1 when more
// follow or one could not be read (the viewer then ends with `...`).
static __always_inline void capture_argv(u8 *dst, struct rec *s, int i, const u64 *vec) {
    u32 got = 0, more = 0;
#pragma unroll
    for (int j = 0; j < ARGV_N; j++) {
        u64 p = 0;
        if (bpf_probe_read_user(&p, sizeof(p), &vec[j]) != 0) {
            more = 1;
            break;
        }
        if (!p)
            break;
        if (bpf_probe_read_user_str(dst + j * ARGV_EACH, ARGV_EACH, (void *)p) < 0) {
            more = 1;
            break;
        }
        got = j + 1;
    }
    if (more) {
        s->captured |= UNREADABLE << i;  // kept as read so far; read again at exit
    } else if (got == ARGV_N) {
        u64 p = 0;
        more = bpf_probe_read_user(&p, sizeof(p), &vec[ARGV_N]) != 0 || p != 0;
    }
    s->captured |= 1 << i;
    s->cap_len[i] = got * ARGV_EACH;
    s->cap_full[i] = more ? ARGV_N + 1 : got;
}

// Capture i, read at enter into the `room` bytes reserved at `off`; returns
// the bytes it used (a string gives back what it did not need). `retry` (a
// constant: the verifier drops what it leaves out): read again at exit, where
// only what can fail for want of a page is read, and the environment counted
// at entry is kept (sys_exit must stay within the verifier's complexity).
static __always_inline u32 capture_read(u8 *base, u32 off, u32 room, struct rec *s,
                                        struct scinfo *si, int i, const u64 *a, int retry) {
    u8 kind = si->kind[i];
    u8 ai = si->arg[i] & 7;
    if (ai > 5)
        return room;
#ifdef USE_RAW_TP
    // Several arguments, any of them NULL (captures_more.h). Not with classic
    // tracepoints: their sys_enter then exceeds the verifier's complexity limit.
    // A second capture only (as K_SIGWAIT is a first one): i is a constant in
    // each inlined copy, and each branch left out of one keeps sys_enter
    // within the limit.
    if (i == 1 && (kind == K_FDSETS_IN || kind == K_TS_SIGSET)) {
        u8 *d = cap_dst(base, off);
        if (d && !retry && kind == K_FDSETS_IN)
            capture_fdsets(d, room, s, i, a, 1, si->len_arg[i] == 5);
        else if (d && !retry)
            capture_ts_sigset(d, room, s, i, a, ai);
        return room;
    }
#endif
    const void *src = (const void *)a[ai];
    if (!src)
        return room;  // NULL: nothing to read, and not a failure (shown as NULL)
    u8 *dst = cap_dst(base, off);
    if (!dst)
        return room;
    u64 len = 0;
    u8 la = si->len_arg[i];
    if (kind == K_OBJ_IN || kind == K_SIGFRAME)
        len = la;
    else if (la < 6)
        len = a[la];
    if (kind == K_STR) {
        long n = bpf_probe_read_user_str(dst, PATH_CAP, src);
        if (n > 0) {
            s->captured |= 1 << i;  // "" (AT_EMPTY_PATH) included
            s->cap_len[i] = n - 1;
            // A string that filled the area may have been cut.
            s->cap_full[i] = n == PATH_CAP ? n : n - 1;
            return round8(n);
        }
        s->captured |= UNREADABLE << i;
    } else if (kind == K_BUF_IN || kind == K_SA_IN || kind == K_OBJ_IN || kind == K_SIGFRAME) {
        s->cap_full[i] = len > 0xffffffffull ? 0xffffffffu : (u32)len;
        u64 n = len > room ? room : len;  // 64 bits: no zero-extended copies to lose the bound
        opaque(n);
        if (n > CAP)
            n = CAP;
        if (n == 0) {
            if (kind == K_BUF_IN)
                s->captured |= 1 << i;  // write(fd, "", 0); a sockaddr of length 0 is NULL
        } else if (bpf_probe_read_user(dst, n, src) == 0) {
            s->captured |= 1 << i;
            s->cap_len[i] = n;
        } else {
            s->captured |= UNREADABLE << i;
        }
    } else if (kind == K_TIMEOUT && !retry) {
        capture_timeout(dst, room, s, i, src, la < 6 ? a[la] : 0);
    } else if (kind == K_SIGWAIT && !retry && i == 0) {
        // (A first capture only: i is a constant in each inlined copy, and
        // the verifier's paths through sys_enter multiply with each branch.)
        capture_sigwait(dst, room, s, i, src, la < 6 ? a[la] : 0);
    } else if (kind == K_ARGV) {
        u32 envp = s->cap_full[i] & 0xffff0000u;
        capture_argv(dst, s, i, src);
        if (retry)
            s->cap_full[i] |= envp;  // counted at entry
        else if (ai < 5)
            s->cap_full[i] |= count_envp((const u64 *)a[ai + 1]) << 16;  // envp follows argv
    }
    return room;
}

static __always_inline u32 capture_enter(u8 *base, u32 off, u32 room, struct rec *s,
                                         struct scinfo *si, int i, const u64 *a) {
    return capture_read(base, off, room, s, si, i, a, 0);
}

// clone3 with CLONE_PIDFD: the descriptor the kernel wrote to
// clone_args.pidfd, whose address is in the struct captured at enter (the
// first capture, 8 bytes in), read as capture i once the call succeeded.
#define CLONE_PIDFD 0x1000
static __always_inline void capture_pidfd(u8 *base, struct rec *s, int i, s64 ret) {
    if (ret <= 0 || !(s->captured & 1) || s->cap_len[0] < 16)
        return;
    u8 *args = cap_dst(base, s->cap_off[0]);
    u8 *dst = cap_dst(base, s->cap_off[i]);
    if (!args || !dst)
        return;
    u64 flags = *(u64 *)args, p = *(u64 *)(args + 8);
    if (!(flags & CLONE_PIDFD) || !p)
        return;
    if (bpf_probe_read_user(dst, 4, (const void *)p) == 0) {
        s->cap_len[i] = 4;
        s->cap_full[i] = 4;
        s->captured |= 1 << i;
    } else {
        stat_add(ST_CAPTURE_FAIL);
    }
}

// Capture i, read at exit into the bytes the enter reserved (their number
// is in cap_len until then).
// `more` (a constant): the kinds of captures_more.h are read too; sys_exit
// leaves them out after a read again at exit, as the two together exceed
// what the verifier will explore.
static __always_inline void capture_exit(u8 *base, struct rec *s, int i, s64 ret, int more) {
    u32 nr = s->nr;
    struct scinfo *si = scinfo.lookup(&nr);
    if (!si)
        return;
    u8 a = si->arg[i] & 7;
    u32 room = s->cap_len[i];
    s->cap_len[i] = 0;
    if (i == 1 && si->kind[i] == K_PIDFD) {  // a second capture only (i is a constant)
        capture_pidfd(base, s, i, ret);
        return;
    }
    if (i == 0 && si->kind[i] >= K_ARRAY) {
        if (more)
            more_exit(base, s, si, i, room, ret);  // the first capture only, as at enter
        else
            stat_add(ST_CAPTURE_FAIL);
        return;
    }
    if (a > 5 || ret < 0)
        return;
    const void *src = (const void *)s->args[a];
    u8 *dst = cap_dst(base, s->cap_off[i]);
    if (!dst)
        return;
    u64 n;  // 64 bits: no zero-extended copies to lose the bound
    if (si->kind[i] == K_BUF_OUT) {
        s->cap_full[i] = ret > 0xffffffffll ? 0xffffffffu : (u32)ret;
        n = ret > BUF_CAP ? BUF_CAP : (u64)ret;
    } else if (si->kind[i] == K_OBJ_OUT) {
        n = si->len_arg[i];
        s->cap_full[i] = n;
    } else if (si->kind[i] == K_CMSG) {
        // msg_control and msg_controllen, then as many of those bytes as fit
        u64 ctl[2] = {};
        if (!src || bpf_probe_read_user(ctl, sizeof(ctl), (const u8 *)src + 32) != 0 || !ctl[0])
            return;
        src = (const void *)ctl[0];
        n = ctl[1] > CMSG_CAP ? CMSG_CAP : ctl[1];
        s->cap_full[i] = ctl[1] > 0xffffffffull ? 0xffffffffu : (u32)ctl[1];
    } else {
        n = SA_CAP;
        s->cap_full[i] = SA_CAP;
    }
    if (n > room)
        n = room;
    opaque(n);
    if (n > CAP)
        n = CAP;
    if (n == 0 && src) {
        s->captured |= 1 << i;  // read() = 0: an empty buffer
    } else if (src && bpf_probe_read_user(dst, n, src) == 0) {
        s->cap_len[i] = n;
        barrier();
        s->captured |= 1 << i;
    } else if (src) {
        s->captured |= UNREADABLE << i;
        stat_add(ST_CAPTURE_FAIL);
    }
}

// The inputs whose read failed at entry (RETRY bits of `kinds`), read again
// at exit: a string literal in a page the program had not touched yet (a
// .rodata path, the classic missing config file) faults in while the kernel
// runs the call, and is readable now. Not after a successful exec, whose old
// memory is gone. What still fails keeps its UNREADABLE bit and is counted.
static __always_inline void capture_retry(u8 *base, struct rec *s, u8 kinds, s64 ret) {
    u32 nr = s->nr;
    struct scinfo *si = scinfo.lookup(&nr);
    if (!si)
        return;
    int gone = (nr == NR_EXECVE || nr == NR_EXECVEAT) && ret == 0;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (!(kinds & (UNREADABLE << i)))
            continue;
        u32 room = s->cap_len[i];  // what the enter reserved (sys_enter)
        s->cap_len[i] = 0;
        if (!gone) {
            s->captured &= ~(UNREADABLE << i);
            capture_read(base, s->cap_off[i], room, s, si, i, s->args, 1);
        }
        if (s->captured & (UNREADABLE << i))
            stat_add(ST_CAPTURE_FAIL);
    }
}

#ifdef USE_RAW_TP
RAW_TRACEPOINT_PROBE(sys_enter) {
    long nrl = ctx->args[1];
#else
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    long nrl = args->id;
#endif
    if (nrl < 0 || nrl >= MAX_NR)
        return 0;
    u32 nr = nrl;
    u32 slab = IGNORED;
#ifdef DECISION_CACHE
    u64 regc = ctx->args[0];
    struct xthread *xc = xthread_of(regc);
    u64 mark = migr_mark();
    int hit = xc && mark && xc->regs == regc && xc->dec_mark == mark;
    if (hit) {
        slab = xc->dec_slab;
        if (slab == IGNORED) {
            xthread_release(regc, nr);
            return 0;
        }
        struct slabmeta *mc = slabs.lookup(&slab);
        if (!mc || mc->gen != xc->dec_gen || !mc->cgroup)
            hit = 0;  // the slot was released or went to another cgroup
    }
#endif
    task_t task = current_task();
#ifdef DECISION_CACHE
    if (!hit) {
#endif
        u64 cg = task_cgroup_id(task);
        slab = slab_of_current(cg);
#ifdef DECISION_CACHE
        if (xc && mark && slab != FULL) {
            // Every thread keeps its decision, recorded or not: claim the
            // bucket if it is free (only its owner writes it).
            if (xc->regs == 0 && __sync_val_compare_and_swap(&xc->regs, 0, regc) == 0)
                xc->comm_left = 0;
            if (xc->regs == regc) {
                struct slabmeta *mc = slabs.lookup(&slab);
                xc->dec_slab = slab;
                xc->dec_gen = mc ? mc->gen : 0;
                xc->dec_mark = mark;
            }
        }
    }
    if (slab >= NSLABS) {  // IGNORED, or FULL
        xthread_release(regc, nr);
        return 0;
    }
#else
    if (slab >= NSLABS)  // IGNORED, or FULL
        return 0;
#endif
    struct scinfo *si = scinfo.lookup(&nr);
    struct slabmeta *m = slabs.lookup(&slab);
    int wanted = si && si->on;
    if (!wanted || !m || m->frozen_at) {
        if (wanted && m)  // recorded but for the freeze: counted
            __sync_fetch_and_add(&m->after_freeze, 1);
        // An exec left out by --syscall-filters still kills the process's
        // other threads: mark it, as a recorded one does below.
        if (m && (nr == NR_EXECVE || nr == NR_EXECVEAT))
            exec_mark(bpf_get_current_pid_tgid() >> 32);
#ifdef USE_RAW_TP
        xthread_release(ctx->args[0], nr);
#endif
        return 0;
    }
    u64 a[6] = {};
#ifdef USE_RAW_TP
    u64 regp = ctx->args[0];
    // A call without arguments (getppid, sched_yield...) skips the read of
    // its registers: one helper call less (scinfo.nargs, from tracefs).
    if (si->nargs) {
#if defined(__TARGET_ARCH_x86)
        // Only the six argument registers: r10, r9, r8, (ax, cx,) dx, si, di
        // lie together in x86's pt_regs, so one 64-byte read gets them all.
        _Static_assert(__builtin_offsetof(struct pt_regs, di) - __builtin_offsetof(struct pt_regs, r10) == 56,
                       "x86 pt_regs layout");
        u64 w[8] = {};
        bpf_probe_read_kernel(w, sizeof(w), (void *)(regp + __builtin_offsetof(struct pt_regs, r10)));
        a[0] = w[7];
        a[1] = w[6];
        a[2] = w[5];
        a[3] = w[0];
        a[4] = w[2];
        a[5] = w[1];
#elif defined(__TARGET_ARCH_arm64)
        struct pt_regs regs = {};
        bpf_probe_read_kernel(&regs, sizeof(regs), (void *)regp);
        a[0] = regs.orig_x0;
        a[1] = regs.regs[1];
        a[2] = regs.regs[2];
        a[3] = regs.regs[3];
        a[4] = regs.regs[4];
        a[5] = regs.regs[5];
#else
#error "USE_RAW_TP needs x86_64 or arm64; build without it"
#endif
    }
#else
    a[0] = args->args[0];
    a[1] = args->args[1];
    a[2] = args->args[2];
    a[3] = args->args[3];
    a[4] = args->args[4];
    a[5] = args->args[5];
#endif
    u32 need0 = 0;
    if (si->kind[0]) {
        if (si->kind[0] == K_SIGFRAME) {
#ifdef USE_RAW_TP
            a[0] = sigframe_mask(regp);  // where rt_sigreturn's mask lies: read as an object
#else
            a[0] = 0;  // no registers at hand: nothing read
#endif
        }
        need0 = cap_need(si, 0, a);
    }
    u32 need1 = si->kind[1] ? cap_need(si, 1, a) : 0;
    struct spot sp = {};
    if (!reserve(m, need0 + need1, &sp)) {
        // No chunk to be had (or its container's chunks are being switched
        // by two CPUs at once): the call is a gap in the window, counted.
        stat_add(ST_NO_CHUNK);
#ifdef USE_RAW_TP
        xthread_release(regp, nr);
#endif
        return 0;
    }
    u64 seq = sp.seq;
    struct rec *s = sp.r;
    s->seq = 0;
    barrier();
    u64 id = task_pid_tgid(task);
    s->ts = bpf_ktime_get_boot_ns();
    s->dur = 0;
    s->ret = 0;
    s->done = 0;
    s->pid = id >> 32;
    s->tid = (u32)id;
    s->nr = nr;
    s->cpu = bpf_get_smp_processor_id();
    s->gen = sp.gen;
    s->args[0] = a[0];
    s->args[1] = a[1];
    s->args[2] = a[2];
    s->args[3] = a[3];
    s->args[4] = a[4];
    s->args[5] = a[5];
#ifdef USE_RAW_TP
    // The thread's fast-path bucket, if it owns it or can claim it.
    struct xthread *x = xthread_of(regp);
    if (x && x->regs != regp) {
        if (x->regs == 0 && __sync_val_compare_and_swap(&x->regs, 0, regp) == 0) {
            x->comm_left = 0;  // claimed: the cached comm was someone else's
        } else {
            if (!x->any)
                x->any = 1;
            x = 0;
        }
    }
#endif
#ifdef TASK_WALK
    task_comm(task, s->comm);  // two loads: exact on every call, no cache needed
#elif defined(USE_RAW_TP)
    if (x && x->tid == (u32)id && x->comm_left) {
        x->comm_left -= 1;
        *(u64 *)&s->comm[0] = *(u64 *)&x->comm[0];
        *(u64 *)&s->comm[8] = *(u64 *)&x->comm[8];
    } else {
        bpf_get_current_comm(s->comm, sizeof(s->comm));
        if (x) {
            *(u64 *)&x->comm[0] = *(u64 *)&s->comm[0];
            *(u64 *)&x->comm[8] = *(u64 *)&s->comm[8];
            x->tid = (u32)id;
            x->comm_left = COMM_EVERY;
        }
    }
#else
    bpf_get_current_comm(s->comm, sizeof(s->comm));
#endif
    s->captured = 0;
    // A path rarely fills PATH_CAP: its region goes last in the call's
    // reservation, so what it does not use can be given back (stat, execve:
    // a path and another capture).
    int path_last = si->kind[0] == K_STR && si->kind[1] && si->kind[1] != K_STR;
    u32 off0 = path_last ? sp.off + need1 : sp.off;
    u32 off1 = path_last ? sp.off : sp.off + need0;
    s->cap_off[0] = off0;
    s->cap_off[1] = off1;
    // Until a capture is read, cap_len holds the bytes reserved for it.
    s->cap_len[0] = need0;
    s->cap_len[1] = need1;
    s->cap_full[0] = 0;
    s->cap_full[1] = 0;
    u8 pending = 0;
    u32 got0 = need0, got1 = need1;
    if (si->kind[0]) {
        if (read_at_exit(si->kind[0])) {
            pending |= 1;
        } else {
            s->cap_len[0] = 0;
            got0 = capture_enter(sp.base, off0, need0, s, si, 0, a);
            if (s->captured & (UNREADABLE << 0))
                s->cap_len[0] = need0;  // reserved for the read at exit
        }
    }
    if (si->kind[1]) {
        if (read_at_exit(si->kind[1])) {
            pending |= 2;
        } else {
            s->cap_len[1] = 0;
            got1 = capture_enter(sp.base, off1, need1, s, si, 1, a);
            if (s->captured & (UNREADABLE << 1))
                s->cap_len[1] = need1;  // reserved for the read at exit
        }
    }
    // An input that could not be read now is read again at exit (its region
    // stays reserved: a failed capture gives nothing back).
    pending |= s->captured & RETRY;
    // Give back what the last region did not use, if no other call reserved
    // in the chunk since (else it stays unused).
    u32 slack = path_last || !si->kind[1] ? need0 - got0 : need1 - got1;
    if (slack && sp.h)
        __sync_val_compare_and_swap(&sp.h->fill, sp.fill, sp.fill - ((u64)slack << 32));
    barrier();
    s->seq = seq;

    // Where sys_exit will find the record. exit and exit_group have no
    // sys_exit: nothing to pair, and the thread's bucket is given back.
    if (nr == NR_EXIT || nr == NR_EXIT_GROUP) {
#ifdef USE_RAW_TP
        xthread_release(regp, nr);
    } else if (x) {
        x->seq = seq;
        x->idx = sp.idx;
        x->kinds = pending;
        x->gen = sp.gen;
#endif
    } else {
#ifdef TASK_WALK
        struct task_struct *me = (struct task_struct *)task;
#else
        struct task_struct *me = (struct task_struct *)bpf_get_current_task_btf();
#endif
        struct inflight *in = inflight.task_storage_get(me, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
        if (in) {
            in->seq = seq;
            in->idx = sp.idx;
            in->kinds = pending;
            in->gen = sp.gen;
        }
    }

    if (nr == NR_EXECVE || nr == NR_EXECVEAT)
        exec_mark(id >> 32);
    // Kernel triggers seen at syscall entry.
    if (nr == NR_EXIT_GROUP || nr == NR_EXIT) {
        s32 code = a[0] & 0xff;
        u32 tgid = id >> 32;
        if (nr == NR_EXIT_GROUP) {
            exiting.update(&tgid, &code);
            if (code)
                freeze(m, slab, T_NONZERO_EXIT, code, tgid, 0, 0);
        } else if (tgid == (u32)id && code) {
            // exit() of the main thread: the process ends nonzero only if it
            // is the last thread, which sched_process_exit tells.
            exiting.update(&tgid, &code);
        }
    }
    return 0;
}

// The call this thread left in task storage (the slower path), taken out.
static __always_inline int inflight_take(u64 *seq, u32 *idx, u8 *kinds, u16 *gen) {
    struct inflight *in = inflight.task_storage_get(
        (struct task_struct *)bpf_get_current_task_btf(), 0, 0);
    if (!in || !in->seq)
        return 0;
    *seq = in->seq;
    *idx = in->idx;
    *kinds = in->kinds;
    *gen = in->gen;
    in->seq = 0;
    return 1;
}

// What sys_exit writes to `done`: 2 for a call cut by a kill, which never
// returns to the program (strace prints `= ?`: its syscall-exit stop is
// skipped): the result is a restart code and SIGKILL is pending for the
// thread (a group exit, a fatal signal the kernel turned into SIGKILL, a
// coredump or an exec in another thread). 1 otherwise. Under ptrace a fatal
// signal is not turned into SIGKILL, so a traced program keeps the restart
// code, as strace shows it.
static __always_inline u8 exit_done(s64 ret) {
#if defined(TASK_WALK) && defined(OFF_TASK_PENDING_SIGNAL)
    if (ret >= -516 && ret <= -512 && ret != -515 &&
        (ld64(current_task(), OFF_TASK_PENDING_SIGNAL) & (1ull << (9 - 1))))
        return 2;
#endif
    return 1;
}

#ifdef USE_RAW_TP
RAW_TRACEPOINT_PROBE(sys_exit) {
    u64 regp = ctx->args[0];
    s64 ret = ctx->args[1];
    struct xthread *x = xthread_of(regp);
    if (!x)
        return 0;
    u32 idx;
    u64 seq;
    u8 kinds;
    u16 gen;
    if (x->regs == regp) {
        seq = x->seq;
        if (!seq)
            return 0;
        idx = x->idx;
        kinds = x->kinds;
        gen = x->gen;
        x->seq = 0;
    } else if (!x->any || !inflight_take(&seq, &idx, &kinds, &gen)) {
        return 0;  // this thread has no recorded call in flight
    }
#else
TRACEPOINT_PROBE(raw_syscalls, sys_exit) {
    s64 ret = args->ret;
    u32 idx;
    u64 seq;
    u8 kinds;
    u16 gen;
    if (!inflight_take(&seq, &idx, &kinds, &gen))
        return 0;
#endif
    u32 c = idx / RPC;
    u32 r = idx & (RPC - 1);
    u8 *base = (u8 *)chunks.lookup(&c);
    if (!base)
        return 0;
    struct rec *s = rec_at(base, r);
    if (s->seq != seq || s->gen != gen)
        return 0;  // overwritten meanwhile: the record belongs to a newer call
    if (s->nr == NR_EXECVE || s->nr == NR_EXECVEAT) {
        u32 tgid = bpf_get_current_pid_tgid() >> 32;
        exiting.delete(&tgid);
    }
#ifdef USE_RAW_TP
    // The thread's name changes at exec and by prctl(PR_SET_NAME).
    if (x->regs == regp && (s->nr == NR_EXECVE || s->nr == NR_EXECVEAT || s->nr == NR_PRCTL))
        x->comm_left = 0;
#endif
    if (kinds & RETRY) {
        // A call whose input was read again here and whose first capture is
        // one of captures_more.h's (ppoll's pollfds after its timeout) loses
        // that one, counted as a failed capture.
        capture_retry(base, s, kinds, ret);
        if (kinds & 1)
            capture_exit(base, s, 0, ret, 0);
        if (kinds & 2)
            capture_exit(base, s, 1, ret, 0);
    } else {
        if (kinds & 1)
            capture_exit(base, s, 0, ret, 1);
        if (kinds & 2)
            capture_exit(base, s, 1, ret, 1);
    }
    s->ret = ret;
    s->dur = bpf_ktime_get_boot_ns() - s->ts;
    s->done = exit_done(ret);
    return 0;
}

// -- signals -----------------------------------------------------------------

#ifndef OFF_KSA_HANDLER
#define OFF_KSA_HANDLER 0   // k_sigaction.sa.sa_handler (the loader reads it from BTF)
#endif
#define SIG_NR 0xffff       // a record's nr for a signal delivery (no syscall is numbered so)
#define SIGKILL 9
#define SI_KERNEL 0x80
// Signals whose default action ends the process without a core dump. The
// kernel turns such a signal sent to a process that does not handle it into
// a group SIGKILL at once (complete_signal), so its delivery is traced as
// SIGKILL without siginfo; what was sent is kept from signal_generate.
#define KILL_NO_CORE ((1ull << 1) | (1ull << 2) | (1ull << 9) | (1ull << 10) | (1ull << 12) | \
                      (1ull << 13) | (1ull << 14) | (1ull << 15) | (1ull << 16) |            \
                      (1ull << 26) | (1ull << 27) | (1ull << 29) | (1ull << 30))

// The UAPI siginfo's first 48 bytes: si_signo, si_errno, si_code, then the
// union (fault address; sender pid and uid; child pid, uid, status, times).
struct sinfo {
    s32 signo;
    s32 err;
    s32 code;
    s32 pad;
    u64 w[4];
};

static __always_inline void signal_record(struct slabmeta *m, struct sinfo *si, u64 task);

#ifdef TASK_WALK
// What was last sent to a process with a signal of KILL_NO_CORE, by tgid.
BPF_TABLE("lru_hash", u32, struct sinfo, sent, 4096);

// -- signals the target ignores -----------------------------------------------
// A signal whose handler is SIG_IGN, or whose default action is to ignore it
// (SIGCHLD, SIGWINCH, SIGURG, SIGCONT), is dropped when it is sent unless the
// process is traced: signal_deliver never sees it, while strace (a tracer)
// shows it. signal_generate's result says so (TRACE_SIGNAL_IGNORED): it is
// recorded then, as a delivery to the target thread, with its siginfo.
#define TRACE_SIGNAL_IGNORED 1  // enum trace_signal_result

// A word of a task that is not current (the tracepoint's pointer is untyped:
// read with the helper, at the BTF offsets); 0 through a NULL pointer.
static __always_inline u64 peek64(u64 p, u32 off) {
    u64 v = 0;
    if (p)
        bpf_probe_read_kernel(&v, sizeof(v), (void *)(p + off));
    return v;
}

static __always_inline void signal_ignored(int sig, u64 info, u64 task) {
    if (sig <= 0 || sig >= 64 || !task)
        return;
    u64 cset = peek64(task, OFF_TASK_CGROUPS);
    u64 cg = peek64(peek64(peek64(cset, OFF_CSS_SET_DFL_CGRP), OFF_CGROUP_KN), OFF_KERNFS_NODE_ID);
    u32 *sp = cgslab.lookup(&cg);
    if (!sp || *sp == IGNORED)
        return;
    u32 slab = *sp;
    struct slabmeta *m = slabs.lookup(&slab);
    if (!m)
        return;
    struct sinfo si = {};
    if (info == 0) {
        // SEND_SIG_NOINFO: the kernel names the sender, the current process.
        u64 uid = (u32)bpf_get_current_uid_gid();
        si.w[0] = (bpf_get_current_pid_tgid() >> 32) | (uid << 32);
    } else if (info < 4096) {
        si.code = SI_KERNEL;  // SEND_SIG_PRIV
    } else {
        bpf_probe_read_kernel(&si, sizeof(si), (void *)info);
    }
    si.signo = sig;
    signal_record(m, &si, task);
}

RAW_TRACEPOINT_PROBE(signal_generate) {
    int sig = ctx->args[0];
    u64 info = ctx->args[1];
    if (ctx->args[4] == TRACE_SIGNAL_IGNORED) {
        signal_ignored(sig, info, ctx->args[2]);
        return 0;
    }
    if (sig <= 0 || sig >= 64 || !((KILL_NO_CORE >> sig) & 1) || info < 4096)
        return 0;
    u32 tgid = 0;
    bpf_probe_read_kernel(&tgid, sizeof(tgid), (void *)(ctx->args[2] + OFF_TASK_TGID));
    struct sinfo si = {};
    if (bpf_probe_read_kernel(&si, sizeof(si), (void *)info) != 0)
        return 0;
    sent.update(&tgid, &si);
    return 0;
}
#endif

// A delivery in order with the calls: a record of its own in the window
// (nr SIG_NR; args: signo, si_code, the union's four words; ret: si_errno).
static __always_inline void signal_record(struct slabmeta *m, struct sinfo *si, u64 task) {
    if (m->frozen_at) {
        __sync_fetch_and_add(&m->after_freeze, 1);
        return;
    }
    struct spot sp = {};
    if (!reserve(m, 0, &sp)) {
        stat_add(ST_NO_CHUNK);
        return;
    }
    struct rec *s = sp.r;
    s->seq = 0;
    barrier();
    u64 id = bpf_get_current_pid_tgid();
#ifdef TASK_WALK
    if (task)  // sent to another thread (an ignored signal): that thread's
        id = (peek64(task, OFF_TASK_TGID) << 32) | (u32)peek64(task, OFF_TASK_PID);
#endif
    s->ts = bpf_ktime_get_boot_ns();
    s->dur = 0;
    s->pid = id >> 32;
    s->tid = (u32)id;
    s->nr = SIG_NR;
    s->cpu = bpf_get_smp_processor_id();
    s->gen = sp.gen;
    s->args[0] = (u32)si->signo;
    s->args[1] = (u32)si->code;
    s->args[2] = si->w[0];
    s->args[3] = si->w[1];
    s->args[4] = si->w[2];
    s->args[5] = si->w[3];
    s->ret = si->err;
    s->captured = 0;
    s->cap_len[0] = 0;
    s->cap_len[1] = 0;
#ifdef TASK_WALK
    if (task)
        bpf_probe_read_kernel(s->comm, sizeof(s->comm), (void *)(task + OFF_TASK_COMM));
    else
#endif
        bpf_get_current_comm(s->comm, sizeof(s->comm));
    s->done = 1;
    barrier();
    s->seq = sp.seq;
}

// Every delivery to a recorded container's thread is recorded; a fatal one
// (the default action of a signal that kills) is a trigger too. SIGKILL
// delivered to the other threads of a process that is already exiting
// (exit_group, or a fatal signal on one thread) is not a new cause.
RAW_TRACEPOINT_PROBE(signal_deliver) {
    int sig = ctx->args[0];
    u64 info = ctx->args[1];
    u64 ka = ctx->args[2];
    if (sig <= 0 || sig >= 64)
        return 0;
    u64 cg = bpf_get_current_cgroup_id();
    u32 *sp = cgslab.lookup(&cg);
    if (!sp || *sp == IGNORED)
        return 0;
    u32 slab = *sp;
    struct slabmeta *m = slabs.lookup(&slab);
    if (!m)
        return 0;
    u64 handler = 0;
    if (ka)
        bpf_probe_read_kernel(&handler, sizeof(handler), (void *)(ka + OFF_KSA_HANDLER));
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    struct sinfo si = {};
    si.signo = sig;
    if (info == 0)
        si.code = 0;  // SEND_SIG_NOINFO: SI_USER
    else if (info < 4096)
        si.code = SI_KERNEL;  // SEND_SIG_PRIV
    else
        bpf_probe_read_kernel(&si, sizeof(si), (void *)info);
    si.signo = sig;
#ifdef TASK_WALK
    struct sinfo *was = sent.lookup(&tgid);
    if (was) {
        // A group SIGKILL the kernel made of what was sent (see KILL_NO_CORE),
        // unless the process is already ending (exit_group, exec): then it
        // is the kernel's own. A SIGKILL sent as such keeps its sender.
        if (sig == SIGKILL && info == 0 && !exiting.lookup(&tgid)) {
            si = *was;
            sig = si.signo;
        }
        // Taken: by this delivery, or by a handler (not a group kill).
        if (sig == SIGKILL || was->signo == sig)
            sent.delete(&tgid);
    }
#endif
    // strace shows no delivery of SIGKILL: the tracee dies without a stop.
    // (A sent SIGKILL's siginfo still names its sender in the trigger.)
    if (sig != SIGKILL)
        signal_record(m, &si, 0);
    if (handler != 0)
        return 0;
    // SIGQUIT ILL TRAP ABRT BUS FPE KILL SEGV PIPE ALRM TERM XCPU XFSZ SYS,
    // and SIGHUP/SIGINT/SIGUSR1/SIGUSR2/SIGSTKFLT/SIGVTALRM/SIGPROF/SIGIO/SIGPWR.
    const u64 fatal = (1ull << 1) | (1ull << 2) | (1ull << 3) | (1ull << 4) | (1ull << 5) |
                      (1ull << 6) | (1ull << 7) | (1ull << 8) | (1ull << 9) | (1ull << 10) |
                      (1ull << 11) | (1ull << 12) | (1ull << 13) | (1ull << 14) |
                      (1ull << 15) | (1ull << 16) | (1ull << 24) | (1ull << 25) |
                      (1ull << 26) | (1ull << 27) | (1ull << 29) | (1ull << 30) | (1ull << 31);
    if (!((fatal >> sig) & 1))
        return 0;
    u32 *victim = oom_victims.lookup(&tgid);
    if (!victim)
        victim = oom_victims.lookup(&tid);
    if (victim && sig == SIGKILL) {
        oom_victims.delete(&tgid);
        oom_victims.delete(&tid);
        freeze(m, slab, T_OOM_KILL, sig, tgid, 0, 0);
        return 0;
    }
    if (sig == SIGKILL && exiting.lookup(&tgid))
        return 0;
    s32 code = SIGNALED | sig;
    exiting.update(&tgid, &code);
    freeze(m, slab, T_FATAL_SIGNAL, sig, tgid, si.code, si.w[0]);
    return 0;
}

// The OOM killer runs in the context of whichever task ran out of memory;
// remember the victim so its own SIGKILL delivery names the right cgroup.
TRACEPOINT_PROBE(oom, mark_victim) {
    u32 pid = args->pid;
    u32 one = 1;
    oom_victims.update(&pid, &one);
    return 0;
}

// A process of a recorded cgroup ended: a main-thread exit() with a nonzero
// code counts as a nonzero exit, and userspace checks whether the cgroup
// became empty (container-exit).
TRACEPOINT_PROBE(sched, sched_process_exit) {
    if (!args->group_dead)
        return 0;
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    // How the process ended: an exit code, or SIGNALED | signal number.
    s32 *codep = exiting.lookup(&tgid);
    s32 code = codep && *codep != EXEC_MARK ? *codep : 0;
    int was_exit_call = codep != 0 && *codep != EXEC_MARK && !(*codep & SIGNALED);
    exiting.delete(&tgid);
#ifdef TASK_WALK
    sent.delete(&tgid);  // nothing sent to it is pending any more (pids are reused)
#endif
    u64 cg = bpf_get_current_cgroup_id();
    u32 *sp = cgslab.lookup(&cg);
    if (!sp) {
        // A container left out for want of a slot: its ends are still reported.
        if (unrec.lookup(&cg))
            emit(EV_UNREC_EXIT, IGNORED, cg, 0, exit_status(), 0);
        return 0;
    }
    if (*sp == IGNORED)
        return 0;
    u32 slab = *sp;
    struct slabmeta *m = slabs.lookup(&slab);
    if (!m)
        return 0;
    if (was_exit_call && code && !(m->triggers & (T_NONZERO_EXIT | T_FATAL_SIGNAL | T_OOM_KILL)))
        freeze(m, slab, T_NONZERO_EXIT, code, tgid, 0, 0);
    if (code & SIGNALED)
        code |= core_bits();  // told with the end: the core is written after the delivery
    // Every process end is reported: userspace checks whether it emptied the
    // cgroup (the container ended). This costs one event per process, never
    // one per syscall.
    emit(EV_GROUP_EXIT, slab, cg, 0, code, m->gen);
    return 0;
}

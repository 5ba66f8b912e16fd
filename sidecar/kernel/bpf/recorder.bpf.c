// traceloop-sidecar kernel side: per-container overwriting syscall rings.
//
// Every recorded cgroup owns a slab of NSLOTS slots in the mmap-able array
// `slots`. sys_enter reserves the next slot of its slab with one atomic add
// and fills it; sys_exit finds the same slot through task storage and fills in
// the return value, checked by the slot's sequence number. Userspace reads a
// slab only when it dumps, through mmap. Crash triggers freeze the slab in the
// kernel and are reported through the `events` ring buffer.
//
// Only helpers, tracepoint fields and UAPI structs are used, and, with
// TASK_WALK, loads from the current task at offsets the loader read from the
// running kernel's BTF (sidecar/kernel/btf.py), never from the headers'
// layouts: the program compiles against whatever headers the node has.
//
// Compile-time settings (-D...): NSLABS, NSLOTS (power of two), CAP (bytes per
// capture area), PATH_CAP, BUF_CAP, SA_CAP (<= CAP), ROOT_ID, ROOT_LEVEL,
// ADOPT_ROOT, MAX_NR, USE_RAW_TP, TRIG_ENABLED, TRIG_MAIN_ONLY, FREEZE_ON_TRIGGER,
// EVENT_PAGES, MAX_CGROUPS, CGCACHE, XTHREADS (powers of two), COMM_EVERY,
// TASK_WALK with OFF_TASK_CGROUPS, OFF_CSS_SET_DFL_CGRP, OFF_CGROUP_KN,
// OFF_KERNFS_NODE_ID, OFF_TASK_PID, OFF_TASK_TGID, OFF_TASK_COMM.

#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf.h>

#ifndef NSLABS
#define NSLABS 64
#endif
#ifndef NSLOTS
#define NSLOTS 4096
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

#ifndef FREEZE_ON_TRIGGER
#define FREEZE_ON_TRIGGER 1
#endif

#define SLOT_MASK (NSLOTS - 1)
#define IGNORED 0xffffffffu

// Capture kinds (sidecar/argkinds.py).
#define K_STR 1
#define K_BUF_IN 2
#define K_BUF_OUT 3
#define K_SA_IN 4
#define K_SA_OUT 5
#define K_OBJ_IN 6   // fixed-size object; len_arg holds its size in bytes
#define K_OBJ_OUT 7
#define K_ARGV 8     // execve's argv: the first ARGV_N strings, CAP / ARGV_N bytes each
#ifndef ARGV_N
#define ARGV_N 8
#endif
#define ARGV_EACH (CAP / ARGV_N)
#define NO_LEN 0xff

// Trigger reasons and event types (sidecar/events.py).
#define EV_NEW_SLAB 1
#define EV_TRIGGER 2
#define EV_GROUP_EXIT 3
#define T_NONZERO_EXIT 1
#define T_FATAL_SIGNAL 2
#define T_OOM_KILL 4
#define T_CONTAINER_EXIT 8

// Global counters (per CPU), indexes in sidecar/events.py.
#define ST_TABLE_FULL 0    // syscalls of a new cgroup that found no free slab
#define ST_ADOPTED 1       // slabs handed out
#define ST_RING_DROPS 2    // events lost because the ring buffer was full
#define ST_CAPTURE_FAIL 3  // captures the kernel could not read
#define ST_NSTATS 4

struct slot {
    u64 seq_begin;      // seq + 1 of the last enter that started writing here
    u64 ts;             // CLOCK_BOOTTIME ns at enter
    u64 dur;            // ns from enter to exit
    u64 args[6];
    s64 ret;
    u32 pid;            // thread group id
    u32 tid;
    u32 nr;
    u16 cpu;
    u8 done;            // 1 once sys_exit filled ret
    u8 captured;        // bit i: cap[i] holds what the call named, even if empty
    char comm[16];
    u32 cap_len[2];     // bytes stored in cap[i]
    u32 cap_full[2];    // bytes the call named (buffers), or stored + 1 if a string was cut
    u64 seq_end;        // = seq_begin once the enter finished writing
    char cap[2 * CAP];  // two capture areas (flat: bcc's ctypes mirror mis-sizes 2-D arrays)
};

struct slabmeta {
    u64 head;           // next sequence number; never reset
    u64 base;           // head when the current owner adopted the slab
    u64 cgroup;         // owner cgroup id (0: free)
    u64 frozen_at;      // CLOCK_BOOTTIME ns of the freeze, 0 while recording
    u64 after_freeze;   // syscalls not recorded because the slab was frozen
    u64 gen;            // incremented at each adoption
    u32 main_tgid;      // the first process seen in the cgroup
    u32 triggers;       // T_* bits seen since adoption
    u64 pad[1];
};

struct scinfo {
    u8 on;              // record this syscall at all
    u8 arg[2];
    u8 kind[2];
    u8 len_arg[2];
    u8 nargs;           // arguments the call takes (0: its registers are not read)
};

struct inflight {
    u64 seq;            // seq + 1 of the open slot; 0 when none
    u32 idx;            // slot index in `slots`
    u8 kinds;           // capture areas still to read at exit (bit i)
    u8 pad[3];
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
};

BPF_F_TABLE("array", u32, struct slot, slots, NSLABS * NSLOTS, BPF_F_MMAPABLE);
BPF_F_TABLE("array", u32, struct slabmeta, slabs, NSLABS, BPF_F_MMAPABLE);
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
    u64 seq;            // the owner's open slot: seq + 1, 0 when none
    u32 idx;            // its index in `slots`
    u32 tid;            // whose comm is cached (the owner's, once read)
    u8 kinds;           // capture areas still to read at exit (bit i)
    u8 comm_left;       // calls left before comm is read again
    u8 pad[6];
    char comm[16];
};
BPF_ARRAY(xthreads, struct xthread, XTHREADS);

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

static __always_inline void emit(u32 type, u32 slab, u64 cg, u32 reason, s32 code, u64 gen) {
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
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    events.ringbuf_submit(e, 0);
}

// A cgroup's first syscall: hand it a slab from the free queue, so recording
// starts with that very call, without waiting for userspace.
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
    u32 slab;
    if (freeq.pop(&slab) != 0) {
        stat_add(ST_TABLE_FULL);
        return IGNORED;
    }
    struct slabmeta *m = slabs.lookup(&slab);
    if (!m)
        return IGNORED;
    // Set the owner before publishing the mapping, so no other CPU records
    // into the slab with a stale base.
    m->base = m->head;
    m->cgroup = cg;
    m->frozen_at = 0;
    m->after_freeze = 0;
    m->triggers = 0;
    m->main_tgid = bpf_get_current_pid_tgid() >> 32;
    m->gen += 1;
    // Another CPU may be adopting the same cgroup at this moment (a runtime
    // moves a multi-threaded process in, and its threads' first calls race):
    // only one insertion can succeed (BPF_NOEXIST), and the loser's slab goes
    // back. With a plain update both could see their own slab in a lookup
    // right after their own write and both record, into two slabs, the
    // first of which userspace would dump alone.
    if (cgslab.insert(&cg, &slab) != 0) {
        m->cgroup = 0;
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
    if (slab != IGNORED) {
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
static __always_inline void freeze(struct slabmeta *m, u32 slab, u32 reason, s32 code, u32 tgid) {
    if ((TRIG_ENABLED & reason) == 0)
        return;
    m->triggers |= reason;
#if FREEZE_ON_TRIGGER
    if (!(TRIG_MAIN_ONLY & reason) && m->frozen_at == 0)
        m->frozen_at = bpf_ktime_get_boot_ns();
#endif
    emit(EV_TRIGGER, slab, m->cgroup, reason, code, m->gen);
}

static __always_inline int read_at_exit(u8 kind) {
    return kind == K_BUF_OUT || kind == K_SA_OUT || kind == K_OBJ_OUT;
}

// An argv array: string j in bytes [j * ARGV_EACH, (j + 1) * ARGV_EACH) of
// the capture area (fixed offsets keep the verifier simple), cap_len = the
// strings read times ARGV_EACH, cap_full = their number, or ARGV_N + 1 when
// more follow or one could not be read (the viewer then ends with `...`).
static __always_inline void capture_argv(struct slot *s, int i, const u64 *vec) {
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
        if (bpf_probe_read_user_str(&s->cap[i * CAP + j * ARGV_EACH], ARGV_EACH, (void *)p) < 0) {
            more = 1;
            break;
        }
        got = j + 1;
    }
    if (more) {
        stat_add(ST_CAPTURE_FAIL);
    } else if (got == ARGV_N) {
        u64 p = 0;
        more = bpf_probe_read_user(&p, sizeof(p), &vec[ARGV_N]) != 0 || p != 0;
    }
    s->captured |= 1 << i;
    s->cap_len[i] = got * ARGV_EACH;
    s->cap_full[i] = more ? ARGV_N + 1 : got;
}

static __always_inline void capture_enter(struct slot *s, struct scinfo *si, int i) {
    u8 kind = si->kind[i];
    u8 a = si->arg[i] & 7;
    if (a > 5)
        return;
    const void *src = (const void *)s->args[a];
    if (!src)
        return;  // NULL: nothing to read, and not a failure (shown as NULL)
    u64 len = 0;
    u8 la = si->len_arg[i];
    if (kind == K_OBJ_IN)
        len = la;
    else if (la < 6)
        len = s->args[la];
    if (kind == K_STR) {
        long n = bpf_probe_read_user_str(&s->cap[i * CAP], PATH_CAP, src);
        if (n > 0) {
            s->captured |= 1 << i;  // "" (AT_EMPTY_PATH) included
            s->cap_len[i] = n - 1;
            // A string that filled the area may have been cut.
            s->cap_full[i] = n == PATH_CAP ? n : n - 1;
        } else {
            stat_add(ST_CAPTURE_FAIL);
        }
    } else if (kind == K_BUF_IN || kind == K_SA_IN || kind == K_OBJ_IN) {
        u32 cap = kind == K_BUF_IN ? BUF_CAP : kind == K_SA_IN ? SA_CAP : CAP;
        s->cap_full[i] = len > 0xffffffffull ? 0xffffffffu : (u32)len;
        u32 n = len > cap ? cap : (u32)len;
        n &= (CAP - 1) | CAP;  // keeps the verifier's bound explicit
        if (n > CAP)
            n = CAP;
        if (n == 0) {
            if (kind == K_BUF_IN)
                s->captured |= 1 << i;  // write(fd, "", 0); a sockaddr of length 0 is NULL
        } else if (bpf_probe_read_user(&s->cap[i * CAP], n, src) == 0) {
            s->captured |= 1 << i;
            s->cap_len[i] = n;
        } else {
            stat_add(ST_CAPTURE_FAIL);
        }
    } else if (kind == K_ARGV) {
        capture_argv(s, i, src);
    }
}

static __always_inline void capture_exit(struct slot *s, int i, s64 ret) {
    u8 a = 0;
    struct scinfo *si;
    u32 nr = s->nr;
    si = scinfo.lookup(&nr);
    if (!si)
        return;
    a = si->arg[i] & 7;
    if (a > 5 || ret < 0)
        return;
    const void *src = (const void *)s->args[a];
    u32 n;
    if (si->kind[i] == K_BUF_OUT) {
        s->cap_full[i] = ret > 0xffffffffll ? 0xffffffffu : (u32)ret;
        n = ret > BUF_CAP ? BUF_CAP : (u32)ret;
    } else if (si->kind[i] == K_OBJ_OUT) {
        n = si->len_arg[i];
        s->cap_full[i] = n;
    } else {
        n = SA_CAP;
        s->cap_full[i] = SA_CAP;
    }
    if (n > CAP)
        n = CAP;
    if (n == 0 && src) {
        s->captured |= 1 << i;  // read() = 0: an empty buffer
    } else if (src && bpf_probe_read_user(&s->cap[i * CAP], n, src) == 0) {
        s->captured |= 1 << i;
        s->cap_len[i] = n;
    }
}

#ifdef USE_RAW_TP
RAW_TRACEPOINT_PROBE(sys_enter) {
    long nrl = ctx->args[1];
#else
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    long nrl = args->id;
#endif
    task_t task = current_task();
    u64 cg = task_cgroup_id(task);
    u32 slab = slab_of_current(cg);
    if (slab == IGNORED)
        return 0;
    if (nrl < 0 || nrl >= MAX_NR)
        return 0;
    u32 nr = nrl;
    struct scinfo *si = scinfo.lookup(&nr);
    struct slabmeta *m = slabs.lookup(&slab);
    int wanted = si && si->on;
    if (!wanted || !m || m->frozen_at) {
        if (wanted && m)  // recorded but for the freeze: counted
            __sync_fetch_and_add(&m->after_freeze, 1);
#ifdef USE_RAW_TP
        xthread_release(ctx->args[0], nr);
#endif
        return 0;
    }
    u64 seq = __sync_fetch_and_add(&m->head, 1) + 1;
    u32 idx = slab * NSLOTS + ((seq - 1) & SLOT_MASK);
    struct slot *s = slots.lookup(&idx);
    if (!s)
        return 0;
    u64 id = task_pid_tgid(task);
    s->seq_begin = seq;
    s->ts = bpf_ktime_get_boot_ns();
    s->dur = 0;
    s->ret = 0;
    s->done = 0;
    s->pid = id >> 32;
    s->tid = (u32)id;
    s->nr = nr;
    s->cpu = bpf_get_smp_processor_id();
#ifdef USE_RAW_TP
    u64 regp = ctx->args[0];
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
#ifdef TASK_WALK
    task_comm(task, s->comm);  // two loads: exact on every call, no cache needed
#else
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
#endif
    // A call without arguments (getppid, sched_yield...) skips the read of
    // its registers: one helper call less (scinfo.nargs, from tracefs).
    if (!si->nargs) {
        s->args[0] = 0;
        s->args[1] = 0;
        s->args[2] = 0;
        s->args[3] = 0;
        s->args[4] = 0;
        s->args[5] = 0;
    } else {
#if defined(__TARGET_ARCH_x86)
    // Only the six argument registers: r10, r9, r8, (ax, cx,) dx, si, di lie
    // together in x86's pt_regs, so one 64-byte read gets them all.
    _Static_assert(__builtin_offsetof(struct pt_regs, di) - __builtin_offsetof(struct pt_regs, r10) == 56,
                   "x86 pt_regs layout");
    u64 w[8] = {};
    bpf_probe_read_kernel(w, sizeof(w), (void *)(regp + __builtin_offsetof(struct pt_regs, r10)));
    s->args[0] = w[7];
    s->args[1] = w[6];
    s->args[2] = w[5];
    s->args[3] = w[0];
    s->args[4] = w[2];
    s->args[5] = w[1];
#elif defined(__TARGET_ARCH_arm64)
    struct pt_regs regs = {};
    bpf_probe_read_kernel(&regs, sizeof(regs), (void *)regp);
    s->args[0] = regs.orig_x0;
    s->args[1] = regs.regs[1];
    s->args[2] = regs.regs[2];
    s->args[3] = regs.regs[3];
    s->args[4] = regs.regs[4];
    s->args[5] = regs.regs[5];
#else
#error "USE_RAW_TP needs x86_64 or arm64; build without it"
#endif
    }
#else
#ifdef TASK_WALK
    task_comm(task, s->comm);
#else
    bpf_get_current_comm(s->comm, sizeof(s->comm));
#endif
    s->args[0] = args->args[0];
    s->args[1] = args->args[1];
    s->args[2] = args->args[2];
    s->args[3] = args->args[3];
    s->args[4] = args->args[4];
    s->args[5] = args->args[5];
#endif
    s->captured = 0;
    s->cap_len[0] = 0;
    s->cap_len[1] = 0;
    s->cap_full[0] = 0;
    s->cap_full[1] = 0;
    u8 pending = 0;
    if (si->kind[0]) {
        if (read_at_exit(si->kind[0]))
            pending |= 1;
        else
            capture_enter(s, si, 0);
    }
    if (si->kind[1]) {
        if (read_at_exit(si->kind[1]))
            pending |= 2;
        else
            capture_enter(s, si, 1);
    }
    s->seq_end = seq;

    // Where sys_exit will find the slot. exit and exit_group have no
    // sys_exit: nothing to pair, and the thread's bucket is given back.
    if (nr == NR_EXIT || nr == NR_EXIT_GROUP) {
#ifdef USE_RAW_TP
        xthread_release(regp, nr);
    } else if (x) {
        x->seq = seq;
        x->idx = idx;
        x->kinds = pending;
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
            in->idx = idx;
            in->kinds = pending;
        }
    }

    // An exec kills the process's other threads with SIGKILL: mark the
    // process so those deliveries are not taken for a fatal signal.
    if (nr == NR_EXECVE || nr == NR_EXECVEAT) {
        u32 tgid = id >> 32;
        s32 mark = EXEC_MARK;
        exiting.update(&tgid, &mark);
    }
    // Kernel triggers seen at syscall entry.
    if (nr == NR_EXIT_GROUP || nr == NR_EXIT) {
        s32 code = s->args[0] & 0xff;
        u32 tgid = id >> 32;
        if (nr == NR_EXIT_GROUP) {
            exiting.update(&tgid, &code);
            if (code)
                freeze(m, slab, T_NONZERO_EXIT, code, tgid);
        } else if (tgid == (u32)id && code) {
            // exit() of the main thread: the process ends nonzero only if it
            // is the last thread, which sched_process_exit tells.
            exiting.update(&tgid, &code);
        }
    }
    return 0;
}

// The call this thread left in task storage (the slower path), taken out.
static __always_inline int inflight_take(u64 *seq, u32 *idx, u8 *kinds) {
    struct inflight *in = inflight.task_storage_get(
        (struct task_struct *)bpf_get_current_task_btf(), 0, 0);
    if (!in || !in->seq)
        return 0;
    *seq = in->seq;
    *idx = in->idx;
    *kinds = in->kinds;
    in->seq = 0;
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
    if (x->regs == regp) {
        seq = x->seq;
        if (!seq)
            return 0;
        idx = x->idx;
        kinds = x->kinds;
        x->seq = 0;
    } else if (!x->any || !inflight_take(&seq, &idx, &kinds)) {
        return 0;  // this thread has no recorded call in flight
    }
#else
TRACEPOINT_PROBE(raw_syscalls, sys_exit) {
    s64 ret = args->ret;
    u32 idx;
    u64 seq;
    u8 kinds;
    if (!inflight_take(&seq, &idx, &kinds))
        return 0;
#endif
    struct slot *s = slots.lookup(&idx);
    if (!s || s->seq_begin != seq)
        return 0;  // overwritten meanwhile: the slot belongs to a newer call
    if (s->nr == NR_EXECVE || s->nr == NR_EXECVEAT) {
        u32 tgid = bpf_get_current_pid_tgid() >> 32;
        exiting.delete(&tgid);
    }
#ifdef USE_RAW_TP
    // The thread's name changes at exec and by prctl(PR_SET_NAME).
    if (x->regs == regp && (s->nr == NR_EXECVE || s->nr == NR_EXECVEAT || s->nr == NR_PRCTL))
        x->comm_left = 0;
#endif
    if (kinds & 1)
        capture_exit(s, 0, ret);
    if (kinds & 2)
        capture_exit(s, 1, ret);
    s->ret = ret;
    s->dur = bpf_ktime_get_boot_ns() - s->ts;
    s->done = 1;
    return 0;
}

// Fatal signals: delivery with the default action of a signal that kills.
// SIGKILL delivered to the other threads of a process that is already
// exiting (exit_group, or a fatal signal on one thread) is not a new cause.
TRACEPOINT_PROBE(signal, signal_deliver) {
    if (args->sa_handler != 0)
        return 0;
    int sig = args->sig;
    // SIGQUIT ILL TRAP ABRT BUS FPE KILL SEGV PIPE ALRM TERM XCPU XFSZ SYS,
    // and SIGHUP/SIGINT/SIGUSR1/SIGUSR2/SIGSTKFLT/SIGVTALRM/SIGPROF/SIGIO/SIGPWR.
    const u64 fatal = (1ull << 1) | (1ull << 2) | (1ull << 3) | (1ull << 4) | (1ull << 5) |
                      (1ull << 6) | (1ull << 7) | (1ull << 8) | (1ull << 9) | (1ull << 10) |
                      (1ull << 11) | (1ull << 12) | (1ull << 13) | (1ull << 14) |
                      (1ull << 15) | (1ull << 16) | (1ull << 24) | (1ull << 25) |
                      (1ull << 26) | (1ull << 27) | (1ull << 29) | (1ull << 30) | (1ull << 31);
    if (sig <= 0 || sig >= 64 || !((fatal >> sig) & 1))
        return 0;
    u64 cg = bpf_get_current_cgroup_id();
    u32 *sp = cgslab.lookup(&cg);
    if (!sp || *sp == IGNORED)
        return 0;
    u32 slab = *sp;
    struct slabmeta *m = slabs.lookup(&slab);
    if (!m)
        return 0;
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    u32 *victim = oom_victims.lookup(&tgid);
    if (!victim)
        victim = oom_victims.lookup(&tid);
    if (victim && sig == 9) {
        oom_victims.delete(&tgid);
        oom_victims.delete(&tid);
        freeze(m, slab, T_OOM_KILL, sig, tgid);
        return 0;
    }
    if (sig == 9 && exiting.lookup(&tgid))
        return 0;
    s32 code = SIGNALED | sig;
    exiting.update(&tgid, &code);
    freeze(m, slab, T_FATAL_SIGNAL, sig, tgid);
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
    u64 cg = bpf_get_current_cgroup_id();
    u32 *sp = cgslab.lookup(&cg);
    if (!sp || *sp == IGNORED)
        return 0;
    u32 slab = *sp;
    struct slabmeta *m = slabs.lookup(&slab);
    if (!m)
        return 0;
    if (was_exit_call && code && !(m->triggers & (T_NONZERO_EXIT | T_FATAL_SIGNAL | T_OOM_KILL)))
        freeze(m, slab, T_NONZERO_EXIT, code, tgid);
    // Every process end is reported: userspace checks whether it emptied the
    // cgroup (the container ended). This costs one event per process, never
    // one per syscall.
    emit(EV_GROUP_EXIT, slab, cg, 0, code, m->gen);
    return 0;
}

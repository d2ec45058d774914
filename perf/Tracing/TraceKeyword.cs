using System;

namespace LargeFolios.Folios.Tracing;

/// <summary>
/// <c>folios trace --keywords</c>: one bit per subsystem across the library's three providers, at
/// the values the single <c>LargeFolios-Allocator</c> provider once gave its keywords, so a mask
/// such as <c>0x11</c> written for that provider still asks for the same events.
/// <see cref="TraceKeywords"/> turns a set of them into each provider's own keywords.
/// </summary>
[Flags]
internal enum TraceKeyword
{
    /// <summary>Nothing: not a valid choice, the empty set.</summary>
    None = 0,

    /// <summary><c>buddy</c>: the allocator's <c>Buddy</c> keyword.</summary>
    Buddy = 0x1,

    /// <summary><c>percpu</c>: the allocator's <c>PerCpuCache</c> keyword.</summary>
    PerCpu = 0x2,

    /// <summary><c>split</c>: the <c>FolioSplit</c> keywords of the allocator (its splits) and of the fault path (refusals, the deferred-split queue).</summary>
    Split = 0x4,

    /// <summary><c>pagetables</c>: the page tables' <c>PageTables</c> keyword.</summary>
    PageTables = 0x8,

    /// <summary><c>faults</c>: the fault path's <c>Faults</c> keyword.</summary>
    Faults = 0x10,

    /// <summary><c>madvise</c> or <c>syscalls</c>: the fault path's <c>Syscalls</c> keyword (mmap, munmap, madvise).</summary>
    Syscalls = 0x20,

    /// <summary><c>all</c>: every keyword of every provider.</summary>
    All = Buddy | PerCpu | Split | PageTables | Faults | Syscalls,
}

using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The library's one event provider, <c>LargeFolios-Allocator</c>: an ETW provider on Windows, an
/// EventPipe provider (<c>.nettrace</c>) everywhere. The buddy allocator, the page tables and the
/// fault path all write through it, so one session sees a fault, the folio it allocated, the
/// buddy blocks that were split for it and the page table it needed, in order.
/// </summary>
/// <remarks>
/// <para>Collect with <c>dotnet-trace collect --providers LargeFolios-Allocator:0x3F:5 -- CMD</c>
/// (keywords, then level: 4 Informational, 5 Verbose), <c>folios trace</c>, or on Windows
/// <c>PerfView /OnlyProviders=*LargeFolios-Allocator collect</c>. The provider GUID is the one
/// EventSource derives from the name (<see cref="EventSource.GetGuid"/>), so ETW tools that take
/// the name with a <c>*</c> prefix find it without a registered manifest.</para>
/// <para>Hot events (every allocation, free, buddy split and merge, fault, page-table page) are
/// Verbose. Call sites test <see cref="IsOn"/> first, one load and a branch when nobody listens;
/// each event method then checks its own level and keyword and writes with
/// <see cref="EventSource.WriteEventCore"/> from stack-allocated <see cref="EventSource.EventData"/>,
/// so an enabled event allocates nothing either. A build with <c>-p:AllocatorEvents=false</c>
/// compiles every event out (<c>NO_ALLOCATOR_EVENTS</c>); <c>bench/TracingOverheadBenchmarks</c>
/// compares the two builds.</para>
/// <para>Payloads are fixed-size: booleans travel as 4-byte integers (the ETW manifest's
/// win:Boolean), enumerations as their integer values, documented on each event.</para>
/// </remarks>
[EventSource(Name = ProviderName)]
[SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "EventSource events are instance methods.")]
[UnconditionalSuppressMessage("ReleaseTrimming", "IL2026", Justification = "Every payload is a primitive: nothing for the trimmer to remove.")]
public sealed unsafe class LargeFoliosEventSource : EventSource
{
    /// <summary>The provider name: organisation, then component, as ETW providers are named.</summary>
    public const string ProviderName = "LargeFolios-Allocator";

    /// <summary>The one instance every event goes through.</summary>
    public static readonly LargeFoliosEventSource Log = new();

    private LargeFoliosEventSource()
        : base(EventSourceSettings.EtwManifestEventFormat)
    {
    }

    /// <summary>One keyword per subsystem, so a session can take the fault path without every free.</summary>
    public static class Keywords
    {
        /// <summary>The buddy core: folio allocation and free, allocation failure, block split and merge, free-area snapshots.</summary>
        public const EventKeywords Buddy = (EventKeywords)0x1;

        /// <summary>The per-CPU caches: refills and drains; with <see cref="Buddy"/>'s allocation and free events, whether the cache served them.</summary>
        public const EventKeywords PerCpuCache = (EventKeywords)0x2;

        /// <summary>Folio splits and refusals, and the deferred-split queue.</summary>
        public const EventKeywords FolioSplit = (EventKeywords)0x4;

        /// <summary>Page-table pages allocated and freed, PMD mappings split into PTEs.</summary>
        public const EventKeywords PageTables = (EventKeywords)0x8;

        /// <summary>Page faults: start and stop of each, and each mTHP order the allocation gave up.</summary>
        public const EventKeywords Faults = (EventKeywords)0x10;

        /// <summary>mmap, munmap and madvise.</summary>
        public const EventKeywords Madvise = (EventKeywords)0x20;
    }

    /// <summary>Every keyword (the manifest takes only single bits inside <see cref="Keywords"/>).</summary>
    public const EventKeywords AllKeywords = (EventKeywords)0x3F;

    /// <summary>Event tasks: the Start/Stop pair of a fault shares <see cref="Fault"/>.</summary>
    public static class Tasks
    {
        /// <summary>One page fault.</summary>
        public const EventTask Fault = (EventTask)1;
    }

    /// <summary>Event ids, stable across versions (a trace names events by id).</summary>
    public static class EventIds
    {
#pragma warning disable CS1591 // each is documented on its event method
        public const int FolioAllocated = 1;
        public const int FolioFreed = 2;
        public const int AllocationFailed = 3;
        public const int BuddyBlockSplit = 4;
        public const int BuddyBlockMerged = 5;
        public const int BuddyFreeArea = 6;
        public const int PerCpuRefill = 7;
        public const int PerCpuDrain = 8;
        public const int FolioSplit = 10;
        public const int FolioSplitRefused = 11;
        public const int DeferredSplitQueued = 12;
        public const int DeferredSplitScan = 13;
        public const int PageTableAllocated = 20;
        public const int PageTableFreed = 21;
        public const int PmdSplit = 22;
        public const int FaultStart = 30;
        public const int FaultStop = 31;
        public const int FaultFallback = 32;
        public const int Mmap = 40;
        public const int Munmap = 41;
        public const int Madvise = 42;
#pragma warning restore CS1591
    }

    /// <summary>
    /// The hot-path guard: true while any session listens to this provider. One static load and
    /// a field test; constant false in a build without events.
    /// </summary>
    internal static bool IsOn
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
#if NO_ALLOCATOR_EVENTS
        get => false;
#else
        get => s_isOn;
#endif
    }

    /// <summary>
    /// <see cref="EventSource.IsEnabled()"/>, copied at every command: one static load is less IL
    /// than the instance call, and the allocator's fast paths sit at the JIT's inlining budget (with
    /// the call, <c>Arena.Allocate</c> stopped inlining the compound-page thaw).
    /// </summary>
    private static volatile bool s_isOn;

    /// <summary>
    /// Keeps <see cref="IsOn"/> current; and a session that enables the provider starts with every
    /// live arena's free areas, so a trace's buddy state over time has its first point.
    /// </summary>
    protected override void OnEventCommand(EventCommandEventArgs command)
    {
        s_isOn = IsEnabled();
        if (command.Command != EventCommand.Enable)
            return;
        // A static lambda: a closure over this would compile to an instance method of this
        // class, which EventSource would take for an event.
        ArenaRegistry.ForEachLive(static (arena, log) => arena.TraceFreeAreas(log), this);
    }

    // ---------------------------------------------------------------- buddy

    /// <summary>A folio was handed out. <paramref name="fromPerCpuCache"/>: 1 when a per-CPU list served it without a refill, 0 when the buddy core did.</summary>
    [Event(EventIds.FolioAllocated, Level = EventLevel.Verbose, Keywords = Keywords.Buddy | Keywords.PerCpuCache,
        Message = "arena {0}: allocated PFN {1} order {2} on CPU {3} (per-CPU cache: {4})")]
    internal void FolioAllocated(int arenaId, uint pfn, int order, int cpu, bool fromPerCpuCache)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Buddy | Keywords.PerCpuCache))
            return;
        WriteFolio(EventIds.FolioAllocated, arenaId, pfn, order, cpu, fromPerCpuCache ? 1 : 0);
    }

    /// <summary>A folio was freed. <paramref name="toPerCpuCache"/>: 1 when it joined a per-CPU list, 0 when it went to the buddy core.</summary>
    [Event(EventIds.FolioFreed, Level = EventLevel.Verbose, Keywords = Keywords.Buddy | Keywords.PerCpuCache,
        Message = "arena {0}: freed PFN {1} order {2} on CPU {3} (per-CPU cache: {4})")]
    internal void FolioFreed(int arenaId, uint pfn, int order, int cpu, bool toPerCpuCache)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Buddy | Keywords.PerCpuCache))
            return;
        WriteFolio(EventIds.FolioFreed, arenaId, pfn, order, cpu, toPerCpuCache ? 1 : 0);
    }

    /// <summary>No block of <paramref name="order"/> was free, even after every per-CPU cache was drained.</summary>
    [Event(EventIds.AllocationFailed, Level = EventLevel.Warning, Keywords = Keywords.Buddy,
        Message = "arena {0}: no free block of order {1} ({2} pages free)")]
    internal void AllocationFailed(int arenaId, int order, long freePages)
    {
        if (!IsEnabled(EventLevel.Warning, Keywords.Buddy))
            return;
        EventData* data = stackalloc EventData[3];
        Set(data, &arenaId);
        Set(data + 1, &order);
        Set(data + 2, &freePages);
        WriteEventCore(EventIds.AllocationFailed, 3, data);
    }

    /// <summary>The buddy core split a free block of <paramref name="fromOrder"/> to hand out <paramref name="toOrder"/> at <paramref name="pfn"/> (Linux <c>expand</c>); the upper halves stay free.</summary>
    [Event(EventIds.BuddyBlockSplit, Level = EventLevel.Verbose, Keywords = Keywords.Buddy,
        Message = "arena {0}: split a free order-{2} block for order {3} at PFN {1}")]
    internal void BuddyBlockSplit(int arenaId, uint pfn, int fromOrder, int toOrder)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Buddy))
            return;
        WriteBlock(EventIds.BuddyBlockSplit, arenaId, pfn, fromOrder, toOrder);
    }

    /// <summary>A block freed at <paramref name="fromOrder"/> merged with its buddies into a free block of <paramref name="toOrder"/> at <paramref name="pfn"/>.</summary>
    [Event(EventIds.BuddyBlockMerged, Level = EventLevel.Verbose, Keywords = Keywords.Buddy,
        Message = "arena {0}: merged an order-{2} block up to order {3} at PFN {1}")]
    internal void BuddyBlockMerged(int arenaId, uint pfn, int fromOrder, int toOrder)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Buddy))
            return;
        WriteBlock(EventIds.BuddyBlockMerged, arenaId, pfn, fromOrder, toOrder);
    }

    /// <summary>
    /// One row of a free-area snapshot (/proc/buddyinfo): free blocks of <paramref name="order"/>.
    /// A snapshot is one event per order 0..max with the same <paramref name="snapshot"/> number;
    /// arenas write one when a session enables the provider and whenever
    /// <see cref="Arena.TraceFreeAreas()"/> is called.
    /// </summary>
    [Event(EventIds.BuddyFreeArea, Level = EventLevel.Informational, Keywords = Keywords.Buddy,
        Message = "arena {0} snapshot {1}: {3} free blocks of order {2}")]
    internal void BuddyFreeArea(int arenaId, long snapshot, int order, long freeBlocks)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.Buddy))
            return;
        EventData* data = stackalloc EventData[4];
        Set(data, &arenaId);
        Set(data + 1, &snapshot);
        Set(data + 2, &order);
        Set(data + 3, &freeBlocks);
        WriteEventCore(EventIds.BuddyFreeArea, 4, data);
    }

    // ---------------------------------------------------------------- per-CPU caches

    /// <summary>An empty per-CPU list of <paramref name="order"/> took <paramref name="blocks"/> blocks from the buddy core (Linux <c>rmqueue_bulk</c>).</summary>
    [Event(EventIds.PerCpuRefill, Level = EventLevel.Verbose, Keywords = Keywords.PerCpuCache,
        Message = "arena {0}: CPU {1} refilled order {2} with {3} blocks")]
    internal void PerCpuRefill(int arenaId, int cpu, int order, int blocks)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.PerCpuCache))
            return;
        WriteBlock(EventIds.PerCpuRefill, arenaId, (uint)cpu, order, blocks);
    }

    /// <summary>A per-CPU cache returned <paramref name="pages"/> pages to the buddy core (Linux <c>free_pcppages_bulk</c>).</summary>
    [Event(EventIds.PerCpuDrain, Level = EventLevel.Verbose, Keywords = Keywords.PerCpuCache,
        Message = "arena {0}: CPU {1} drained {2} pages")]
    internal void PerCpuDrain(int arenaId, int cpu, int pages)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.PerCpuCache))
            return;
        EventData* data = stackalloc EventData[3];
        Set(data, &arenaId);
        Set(data + 1, &cpu);
        Set(data + 2, &pages);
        WriteEventCore(EventIds.PerCpuDrain, 3, data);
    }

    // ---------------------------------------------------------------- folio split

    /// <summary>A folio of <paramref name="oldOrder"/> at <paramref name="pfn"/> became <paramref name="folios"/> folios; <paramref name="uniform"/>: 1 when all have <paramref name="newOrder"/>, 0 for a non-uniform split (<paramref name="newOrder"/> is then the smallest).</summary>
    [Event(EventIds.FolioSplit, Level = EventLevel.Informational, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: split PFN {1} from order {2} to {3} ({4} folios, uniform: {5})")]
    internal void FolioSplit(int arenaId, uint pfn, int oldOrder, int newOrder, int folios, bool uniform)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.FolioSplit))
            return;
        int isUniform = uniform ? 1 : 0;
        EventData* data = stackalloc EventData[6];
        Set(data, &arenaId);
        Set(data + 1, &pfn);
        Set(data + 2, &oldOrder);
        Set(data + 3, &newOrder);
        Set(data + 4, &folios);
        Set(data + 5, &isUniform);
        WriteEventCore(EventIds.FolioSplit, 6, data);
    }

    /// <summary>
    /// A split of the folio at <paramref name="pfn"/> to <paramref name="newOrder"/> was refused;
    /// <paramref name="reason"/> is a <see cref="FolioSplitRefusal"/> value (1 order 1, 2 extra references, 3 mapped nowhere, 4 no memory for a PTE table, 5 the freeze lost a race).
    /// </summary>
    [Event(EventIds.FolioSplitRefused, Level = EventLevel.Informational, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: refused to split PFN {1} from order {2} to {3} (reason {4})")]
    internal void FolioSplitRefused(int arenaId, uint pfn, int order, int newOrder, int reason)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.FolioSplit))
            return;
        WriteFolio(EventIds.FolioSplitRefused, arenaId, pfn, order, newOrder, reason);
    }

    /// <summary>A large folio joined the deferred-split queue (Linux <c>deferred_split_folio</c>); <paramref name="partiallyMapped"/>: 1 when queued because it is partially mapped.</summary>
    [Event(EventIds.DeferredSplitQueued, Level = EventLevel.Verbose, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: queued PFN {1} order {2} for deferred split (partially mapped: {3})")]
    internal void DeferredSplitQueued(int arenaId, uint pfn, int order, bool partiallyMapped)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.FolioSplit))
            return;
        WriteBlock(EventIds.DeferredSplitQueued, arenaId, pfn, order, partiallyMapped ? 1 : 0);
    }

    /// <summary>The deferred-split shrinker ran (Linux <c>deferred_split_scan</c>): folios taken off the queue, split, and put back; the queue's length after.</summary>
    [Event(EventIds.DeferredSplitScan, Level = EventLevel.Informational, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: deferred split scanned {1}, split {2}, requeued {3}; {4} queued")]
    internal void DeferredSplitScan(int arenaId, long scanned, long split, long requeued, long queueLength)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.FolioSplit))
            return;
        EventData* data = stackalloc EventData[5];
        Set(data, &arenaId);
        Set(data + 1, &scanned);
        Set(data + 2, &split);
        Set(data + 3, &requeued);
        Set(data + 4, &queueLength);
        WriteEventCore(EventIds.DeferredSplitScan, 5, data);
    }

    // ---------------------------------------------------------------- page tables

    /// <summary>A page-table page was allocated; <paramref name="tablePages"/> is its tree's count after.</summary>
    [Event(EventIds.PageTableAllocated, Level = EventLevel.Verbose, Keywords = Keywords.PageTables,
        Message = "arena {0}: page table at PFN {1} ({2} table pages)")]
    internal void PageTableAllocated(int arenaId, uint pfn, long tablePages)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.PageTables))
            return;
        WriteTable(EventIds.PageTableAllocated, arenaId, pfn, tablePages);
    }

    /// <summary>A page-table page was freed; <paramref name="tablePages"/> is its tree's count after.</summary>
    [Event(EventIds.PageTableFreed, Level = EventLevel.Verbose, Keywords = Keywords.PageTables,
        Message = "arena {0}: freed page table at PFN {1} ({2} table pages)")]
    internal void PageTableFreed(int arenaId, uint pfn, long tablePages)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.PageTables))
            return;
        WriteTable(EventIds.PageTableFreed, arenaId, pfn, tablePages);
    }

    /// <summary>A PMD mapping at <paramref name="address"/> became a PTE table (Linux <c>__split_huge_pmd</c>); <paramref name="kind"/>: 0 a THP, 1 the huge zero page.</summary>
    [Event(EventIds.PmdSplit, Level = EventLevel.Informational, Keywords = Keywords.PageTables,
        Message = "arena {0} space {1}: split the PMD mapping at {2} (kind {3})")]
    internal void PmdSplit(int arenaId, int spaceId, ulong address, int kind)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.PageTables))
            return;
        EventData* data = stackalloc EventData[4];
        Set(data, &arenaId);
        Set(data + 1, &spaceId);
        Set(data + 2, &address);
        Set(data + 3, &kind);
        WriteEventCore(EventIds.PmdSplit, 4, data);
    }

    // ---------------------------------------------------------------- faults

    /// <summary>A page fault began at <paramref name="address"/>; <paramref name="write"/>: 1 for a store.</summary>
    [Event(EventIds.FaultStart, Level = EventLevel.Verbose, Keywords = Keywords.Faults, Task = Tasks.Fault,
        Opcode = EventOpcode.Start, ActivityOptions = EventActivityOptions.Disable,
        Message = "arena {0} space {1}: fault at {2} (write: {3})")]
    internal void FaultStart(int arenaId, int spaceId, ulong address, bool write)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Faults))
            return;
        int isWrite = write ? 1 : 0;
        EventData* data = stackalloc EventData[4];
        Set(data, &arenaId);
        Set(data + 1, &spaceId);
        Set(data + 2, &address);
        Set(data + 3, &isWrite);
        WriteEventCore(EventIds.FaultStart, 4, data);
    }

    /// <summary>
    /// The fault at <paramref name="address"/> is over. <paramref name="kind"/> is the
    /// <c>FaultKind</c> (0 already mapped, 1 zero page, 2 huge zero page, 3 folio by PTEs,
    /// 4 PMD folio, 5 copy on write, 6 out of memory); <paramref name="order"/> the folio's;
    /// <paramref name="ordersTried"/> a bit per order the allocation attempted, highest first;
    /// <paramref name="fallbacks"/> how many of them failed before one succeeded.
    /// </summary>
    [Event(EventIds.FaultStop, Level = EventLevel.Verbose, Keywords = Keywords.Faults, Task = Tasks.Fault,
        Opcode = EventOpcode.Stop, ActivityOptions = EventActivityOptions.Disable,
        Message = "arena {0} space {1}: fault at {2} done (kind {3}, order {4}, tried {5}, fallbacks {6})")]
    internal void FaultStop(int arenaId, int spaceId, ulong address, int kind, int order, uint ordersTried, int fallbacks)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Faults))
            return;
        EventData* data = stackalloc EventData[7];
        Set(data, &arenaId);
        Set(data + 1, &spaceId);
        Set(data + 2, &address);
        Set(data + 3, &kind);
        Set(data + 4, &order);
        Set(data + 5, &ordersTried);
        Set(data + 6, &fallbacks);
        WriteEventCore(EventIds.FaultStop, 7, data);
    }

    /// <summary>A fault's folio allocation of <paramref name="order"/> failed and it falls back to a lower order (<c>anon_fault_fallback</c> / <c>thp_fault_fallback</c>).</summary>
    [Event(EventIds.FaultFallback, Level = EventLevel.Verbose, Keywords = Keywords.Faults,
        Message = "arena {0} space {1}: fault at {2} could not allocate order {3}")]
    internal void FaultFallback(int arenaId, int spaceId, ulong address, int order)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Faults))
            return;
        EventData* data = stackalloc EventData[4];
        Set(data, &arenaId);
        Set(data + 1, &spaceId);
        Set(data + 2, &address);
        Set(data + 3, &order);
        WriteEventCore(EventIds.FaultFallback, 4, data);
    }

    // ---------------------------------------------------------------- mmap, munmap, madvise

    /// <summary>mmap of [<paramref name="start"/>, +<paramref name="length"/>) with <paramref name="protection"/> (VmaFlags: 1 read, 2 write, 4 exec).</summary>
    [Event(EventIds.Mmap, Level = EventLevel.Informational, Keywords = Keywords.Madvise,
        Message = "arena {0} space {1}: mmap {2} +{3} (protection {4})")]
    internal void Mmap(int arenaId, int spaceId, ulong start, ulong length, int protection)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.Madvise))
            return;
        WriteRange(EventIds.Mmap, arenaId, spaceId, start, length, protection, 0);
    }

    /// <summary>munmap of [<paramref name="start"/>, +<paramref name="length"/>): <paramref name="pagesZapped"/> resident pages unmapped.</summary>
    [Event(EventIds.Munmap, Level = EventLevel.Informational, Keywords = Keywords.Madvise,
        Message = "arena {0} space {1}: munmap {2} +{3} ({4} pages zapped)")]
    internal void Munmap(int arenaId, int spaceId, ulong start, ulong length, long pagesZapped)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.Madvise))
            return;
        EventData* data = stackalloc EventData[5];
        Set(data, &arenaId);
        Set(data + 1, &spaceId);
        Set(data + 2, &start);
        Set(data + 3, &length);
        Set(data + 4, &pagesZapped);
        WriteEventCore(EventIds.Munmap, 5, data);
    }

    /// <summary>madvise of [<paramref name="start"/>, +<paramref name="length"/>) with <paramref name="advice"/> (MadviseAdvice's value); <paramref name="pagesZapped"/>: the address space's resident anonymous pages before minus after (dontneed's zapped pages; free's pages remapped to the zero page; 0 for populate, which runs beside other faults).</summary>
    [Event(EventIds.Madvise, Level = EventLevel.Informational, Keywords = Keywords.Madvise,
        Message = "arena {0} space {1}: madvise {2} +{3} advice {4} ({5} pages zapped)")]
    internal void Madvise(int arenaId, int spaceId, ulong start, ulong length, int advice, long pagesZapped)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.Madvise))
            return;
        WriteRange(EventIds.Madvise, arenaId, spaceId, start, length, advice, pagesZapped);
    }

    // ---------------------------------------------------------------- writing

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Set<T>(EventData* slot, T* value)
        where T : unmanaged
    {
        // The whole slot, reserved word included: this module skips locals' zeroing, and ETW reads
        // that word as the descriptor's type.
        *slot = default;
        slot->DataPointer = (nint)value;
        slot->Size = sizeof(T);
    }

    [NonEvent]
    private void WriteBlock(int eventId, int arenaId, uint pfn, int a, int b)
    {
        EventData* data = stackalloc EventData[4];
        Set(data, &arenaId);
        Set(data + 1, &pfn);
        Set(data + 2, &a);
        Set(data + 3, &b);
        WriteEventCore(eventId, 4, data);
    }

    /// <summary>An arena, a PFN and three 4-byte fields (a boolean travels as one).</summary>
    [NonEvent]
    private void WriteFolio(int eventId, int arenaId, uint pfn, int a, int b, int c)
    {
        EventData* data = stackalloc EventData[5];
        Set(data, &arenaId);
        Set(data + 1, &pfn);
        Set(data + 2, &a);
        Set(data + 3, &b);
        Set(data + 4, &c);
        WriteEventCore(eventId, 5, data);
    }

    [NonEvent]
    private void WriteTable(int eventId, int arenaId, uint pfn, long tablePages)
    {
        EventData* data = stackalloc EventData[3];
        Set(data, &arenaId);
        Set(data + 1, &pfn);
        Set(data + 2, &tablePages);
        WriteEventCore(eventId, 3, data);
    }

    [NonEvent]
    private void WriteRange(int eventId, int arenaId, int spaceId, ulong start, ulong length, int what, long pages)
    {
        EventData* data = stackalloc EventData[6];
        Set(data, &arenaId);
        Set(data + 1, &spaceId);
        Set(data + 2, &start);
        Set(data + 3, &length);
        Set(data + 4, &what);
        Set(data + 5, &pages);
        WriteEventCore(eventId, eventId == EventIds.Mmap ? 5 : 6, data);
    }
}

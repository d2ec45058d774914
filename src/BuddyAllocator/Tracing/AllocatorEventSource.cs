using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The buddy allocator's event provider, <c>LargeFolios-Allocator</c>: an ETW provider on Windows,
/// an EventPipe provider (<c>.nettrace</c>) everywhere. It says what the page allocator does: folios
/// handed out and freed, blocks split and merged, the per-CPU caches' refills and drains, folio
/// splits, and /proc/buddyinfo snapshots. The layers above have providers of their own
/// (<c>LargeFolios-PageTables</c>, <c>LargeFolios-FaultPath</c>); one session takes all three and
/// sees a fault, the folio it allocated, the buddy blocks split for it and the page table it
/// needed, in order.
/// </summary>
/// <remarks>
/// <para>Collect with <c>dotnet-trace collect --providers LargeFolios-Allocator:0x7:5 -- CMD</c>
/// (keywords, then level: 4 Informational, 5 Verbose), <c>folios trace</c>, or on Windows
/// <c>PerfView /OnlyProviders=*LargeFolios-Allocator collect</c>. The provider GUID is the one
/// EventSource derives from the name (<see cref="EventSource.GetGuid"/>), so ETW tools that take
/// the name with a <c>*</c> prefix find it without a registered manifest.</para>
/// <para>Hot events (every allocation, free, buddy split and merge) are Verbose. Call sites test
/// <see cref="IsOn"/> first, one load and a branch when nobody listens; each event method then
/// checks its own level and keyword and writes its fields with <see cref="LayerEventSource"/>'s
/// writers (<see cref="EventSource.WriteEventCore"/> from the stack), so an enabled event allocates
/// nothing either.
/// A build with <c>-p:AllocatorEvents=false</c> compiles every provider's events out
/// (<c>NO_ALLOCATOR_EVENTS</c>); <c>bench/TracingOverheadBenchmarks</c> compares the two builds.</para>
/// <para>Payload fields are named by <see cref="Fields"/>, the constants a reader compiles against
/// (a test holds every event's parameter names to them); booleans travel as 4-byte integers (the
/// ETW manifest's win:Boolean).</para>
/// </remarks>
[EventSource(Name = ProviderName)]
[SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "EventSource events are instance methods.")]
[UnconditionalSuppressMessage("ReleaseTrimming", "IL2026", Justification = "Every payload is a primitive: nothing for the trimmer to remove.")]
public sealed class AllocatorEventSource : LayerEventSource
{
    /// <summary>The provider name: organisation, then component, as ETW providers are named.</summary>
    public const string ProviderName = "LargeFolios-Allocator";

    /// <summary>The one instance every event goes through.</summary>
    public static readonly AllocatorEventSource Log = new();

    private AllocatorEventSource()
    {
    }

    /// <summary>One keyword per subsystem, so a session can take the buddy core without every per-CPU refill.</summary>
    public static class Keywords
    {
        /// <summary>The buddy core: folio allocation and free, allocation failure, block split and merge, free-area snapshots.</summary>
        public const EventKeywords Buddy = (EventKeywords)0x1;

        /// <summary>The per-CPU caches: refills and drains; with <see cref="Buddy"/>'s allocation and free events, whether the cache served them.</summary>
        public const EventKeywords PerCpuCache = (EventKeywords)0x2;

        /// <summary>Folio splits in the arena, and the order-1 refusal.</summary>
        public const EventKeywords FolioSplit = (EventKeywords)0x4;
    }

    /// <summary>Every keyword (the manifest takes only single bits inside <see cref="Keywords"/>).</summary>
    public const EventKeywords AllKeywords = (EventKeywords)0x7;

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
#pragma warning restore CS1591
    }

    /// <summary>The payload fields' names, as the events write them and readers look them up.</summary>
    public static class Fields
    {
#pragma warning disable CS1591 // each is documented on the events that carry it
        public const string ArenaId = "arenaId";
        public const string Pfn = "pfn";
        public const string Order = "order";
        public const string Cpu = "cpu";
        public const string FromPerCpuCache = "fromPerCpuCache";
        public const string ToPerCpuCache = "toPerCpuCache";
        public const string FreePages = "freePages";
        public const string FromOrder = "fromOrder";
        public const string ToOrder = "toOrder";
        public const string Snapshot = "snapshot";
        public const string FreeBlocks = "freeBlocks";
        public const string Blocks = "blocks";
        public const string Pages = "pages";
        public const string OldOrder = "oldOrder";
        public const string NewOrder = "newOrder";
        public const string Folios = "folios";
        public const string Uniform = "uniform";
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

    /// <summary>A folio was handed out. <paramref name="fromPerCpuCache"/>: a per-CPU list served it without a refill (else the buddy core did).</summary>
    [Event(EventIds.FolioAllocated, Level = EventLevel.Verbose, Keywords = Keywords.Buddy | Keywords.PerCpuCache,
        Message = "arena {0}: allocated PFN {1} order {2} on CPU {3} (per-CPU cache: {4})")]
    internal void FolioAllocated(int arenaId, uint pfn, int order, int cpu, bool fromPerCpuCache)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Buddy | Keywords.PerCpuCache))
            return;
        Write(EventIds.FolioAllocated, arenaId, pfn, order, cpu, Flag(fromPerCpuCache));
    }

    /// <summary>A folio was freed. <paramref name="toPerCpuCache"/>: it joined a per-CPU list (else it went to the buddy core).</summary>
    [Event(EventIds.FolioFreed, Level = EventLevel.Verbose, Keywords = Keywords.Buddy | Keywords.PerCpuCache,
        Message = "arena {0}: freed PFN {1} order {2} on CPU {3} (per-CPU cache: {4})")]
    internal void FolioFreed(int arenaId, uint pfn, int order, int cpu, bool toPerCpuCache)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Buddy | Keywords.PerCpuCache))
            return;
        Write(EventIds.FolioFreed, arenaId, pfn, order, cpu, Flag(toPerCpuCache));
    }

    /// <summary>No block of <paramref name="order"/> was free, even after every per-CPU cache was drained.</summary>
    [Event(EventIds.AllocationFailed, Level = EventLevel.Warning, Keywords = Keywords.Buddy,
        Message = "arena {0}: no free block of order {1} ({2} pages free)")]
    internal void AllocationFailed(int arenaId, int order, long freePages)
    {
        if (!IsEnabled(EventLevel.Warning, Keywords.Buddy))
            return;
        Write(EventIds.AllocationFailed, arenaId, order, freePages);
    }

    /// <summary>The buddy core split a free block of <paramref name="fromOrder"/> to hand out <paramref name="toOrder"/> at <paramref name="pfn"/> (Linux <c>expand</c>); the upper halves stay free.</summary>
    [Event(EventIds.BuddyBlockSplit, Level = EventLevel.Verbose, Keywords = Keywords.Buddy,
        Message = "arena {0}: split a free order-{2} block for order {3} at PFN {1}")]
    internal void BuddyBlockSplit(int arenaId, uint pfn, int fromOrder, int toOrder)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Buddy))
            return;
        Write(EventIds.BuddyBlockSplit, arenaId, pfn, fromOrder, toOrder);
    }

    /// <summary>A block freed at <paramref name="fromOrder"/> merged with its buddies into a free block of <paramref name="toOrder"/> at <paramref name="pfn"/>.</summary>
    [Event(EventIds.BuddyBlockMerged, Level = EventLevel.Verbose, Keywords = Keywords.Buddy,
        Message = "arena {0}: merged an order-{2} block up to order {3} at PFN {1}")]
    internal void BuddyBlockMerged(int arenaId, uint pfn, int fromOrder, int toOrder)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Buddy))
            return;
        Write(EventIds.BuddyBlockMerged, arenaId, pfn, fromOrder, toOrder);
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
        Write(EventIds.BuddyFreeArea, arenaId, snapshot, order, freeBlocks);
    }

    // ---------------------------------------------------------------- per-CPU caches

    /// <summary>An empty per-CPU list of <paramref name="order"/> took <paramref name="blocks"/> blocks from the buddy core (Linux <c>rmqueue_bulk</c>).</summary>
    [Event(EventIds.PerCpuRefill, Level = EventLevel.Verbose, Keywords = Keywords.PerCpuCache,
        Message = "arena {0}: CPU {1} refilled order {2} with {3} blocks")]
    internal void PerCpuRefill(int arenaId, int cpu, int order, int blocks)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.PerCpuCache))
            return;
        Write(EventIds.PerCpuRefill, arenaId, cpu, order, blocks);
    }

    /// <summary>A per-CPU cache returned <paramref name="pages"/> pages to the buddy core (Linux <c>free_pcppages_bulk</c>).</summary>
    [Event(EventIds.PerCpuDrain, Level = EventLevel.Verbose, Keywords = Keywords.PerCpuCache,
        Message = "arena {0}: CPU {1} drained {2} pages")]
    internal void PerCpuDrain(int arenaId, int cpu, int pages)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.PerCpuCache))
            return;
        Write(EventIds.PerCpuDrain, arenaId, cpu, pages);
    }

    // ---------------------------------------------------------------- folio split

    /// <summary>A folio of <paramref name="oldOrder"/> at <paramref name="pfn"/> became <paramref name="folios"/> folios; <paramref name="uniform"/>: all have <paramref name="newOrder"/> (else a non-uniform split, <paramref name="newOrder"/> the smallest).</summary>
    [Event(EventIds.FolioSplit, Level = EventLevel.Informational, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: split PFN {1} from order {2} to {3} ({4} folios, uniform: {5})")]
    internal void FolioSplit(int arenaId, uint pfn, int oldOrder, int newOrder, int folios, bool uniform)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.FolioSplit))
            return;
        Write(EventIds.FolioSplit, arenaId, pfn, oldOrder, newOrder, folios, Flag(uniform));
    }

    /// <summary>
    /// The arena refused to split the anonymous folio at <paramref name="pfn"/> to order 1
    /// (<see cref="OrderOneFolioException"/>: its deferred-split list would live in the next folio's
    /// head). The fault path's own refusals, before it asks the arena, are its provider's.
    /// </summary>
    [Event(EventIds.FolioSplitRefused, Level = EventLevel.Informational, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: refused to split anonymous PFN {1} from order {2} to order 1")]
    internal void FolioSplitRefused(int arenaId, uint pfn, int order)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.FolioSplit))
            return;
        Write(EventIds.FolioSplitRefused, arenaId, pfn, order);
    }
}

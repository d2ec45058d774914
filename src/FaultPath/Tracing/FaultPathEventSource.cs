using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// The fault path's event provider, <c>LargeFolios-FaultPath</c>: every page fault (start and stop,
/// with what it did and the orders it tried), each mTHP order a fault's allocation gave up, the
/// syscalls (mmap, munmap, madvise), the splits of mapped folios it refused, and the deferred-split
/// queue and shrinker. Collect it beside <c>LargeFolios-Allocator</c> and <c>LargeFolios-PageTables</c>;
/// the shape is theirs: a static <see cref="IsOn"/> guard at every site, fixed-size payloads written
/// from the stack, field names in <see cref="Fields"/>, and the fault path's own enumerations
/// (<see cref="FaultKind"/>, <see cref="FaultAccess"/>, <see cref="MadviseAdvice"/>,
/// <see cref="FolioSplitRefusal"/>, <see cref="VmaFlags"/>) as the payload types.
/// </summary>
[EventSource(Name = ProviderName)]
[SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "EventSource events are instance methods.")]
[UnconditionalSuppressMessage("ReleaseTrimming", "IL2026", Justification = "Every payload is a primitive or an enumeration: nothing for the trimmer to remove.")]
public sealed class FaultPathEventSource : LayerEventSource
{
    /// <summary>The provider name.</summary>
    public const string ProviderName = "LargeFolios-FaultPath";

    /// <summary>The one instance every event goes through.</summary>
    public static readonly FaultPathEventSource Log = new();

    private FaultPathEventSource()
    {
    }

    /// <summary>One keyword per concern.</summary>
    public static class Keywords
    {
        /// <summary>Page faults: start and stop of each, and each mTHP order the allocation gave up.</summary>
        public const EventKeywords Faults = (EventKeywords)0x1;

        /// <summary>mmap, munmap and madvise.</summary>
        public const EventKeywords Syscalls = (EventKeywords)0x2;

        /// <summary>Refused splits of mapped folios, and the deferred-split queue and shrinker.</summary>
        public const EventKeywords FolioSplit = (EventKeywords)0x4;
    }

    /// <summary>Every keyword.</summary>
    public const EventKeywords AllKeywords = (EventKeywords)0x7;

    /// <summary>Event tasks: the Start/Stop pair of a fault shares <see cref="Fault"/>.</summary>
    public static class Tasks
    {
        /// <summary>One page fault.</summary>
        public const EventTask Fault = (EventTask)1;
    }

    /// <summary>Event ids, stable across versions.</summary>
    public static class EventIds
    {
#pragma warning disable CS1591 // each is documented on its event method
        public const int FolioSplitRefused = 11;
        public const int DeferredSplitQueued = 12;
        public const int DeferredSplitScan = 13;
        public const int FaultStart = 30;
        public const int FaultStop = 31;
        public const int FaultFallback = 32;
        public const int Mmap = 40;
        public const int Munmap = 41;
        public const int Madvise = 42;
#pragma warning restore CS1591
    }

    /// <summary>The payload fields' names, as the events write them and readers look them up.</summary>
    public static class Fields
    {
#pragma warning disable CS1591 // each is documented on the events that carry it
        public const string ArenaId = "arenaId";
        public const string SpaceId = "spaceId";
        public const string Pfn = "pfn";
        public const string Order = "order";
        public const string NewOrder = "newOrder";
        public const string Reason = "reason";
        public const string PartiallyMapped = "partiallyMapped";
        public const string Scanned = "scanned";
        public const string Split = "split";
        public const string Requeued = "requeued";
        public const string QueueLength = "queueLength";
        public const string Address = "address";
        public const string Access = "access";
        public const string Kind = "kind";
        public const string OrdersTried = "ordersTried";
        public const string Fallbacks = "fallbacks";
        public const string Start = "start";
        public const string Length = "length";
        public const string Protection = "protection";
        public const string PagesZapped = "pagesZapped";
        public const string Advice = "advice";
#pragma warning restore CS1591
    }

    /// <summary>The hot-path guard: true while any session listens to this provider; constant false in a build without events.</summary>
    internal static bool IsOn
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
#if NO_ALLOCATOR_EVENTS
        get => false;
#else
        get => s_isOn;
#endif
    }

    private static volatile bool s_isOn;

    /// <summary>Keeps <see cref="IsOn"/> current.</summary>
    protected override void OnEventCommand(EventCommandEventArgs command) => s_isOn = IsEnabled();

    // ---------------------------------------------------------------- splits and the deferred-split queue

    /// <summary>A split of the mapped folio at <paramref name="pfn"/> to <paramref name="newOrder"/> was refused, for <paramref name="reason"/>.</summary>
    [Event(EventIds.FolioSplitRefused, Level = EventLevel.Informational, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: refused to split PFN {1} from order {2} to {3} ({4})")]
    internal void FolioSplitRefused(int arenaId, uint pfn, int order, int newOrder, FolioSplitRefusal reason)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.FolioSplit))
            return;
        Write(EventIds.FolioSplitRefused, arenaId, pfn, order, newOrder, (int)reason);
    }

    /// <summary>A large folio joined the deferred-split queue (Linux <c>deferred_split_folio</c>); <paramref name="partiallyMapped"/>: because it is partially mapped (else a new PMD THP the underused shrinker may split).</summary>
    [Event(EventIds.DeferredSplitQueued, Level = EventLevel.Verbose, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: queued PFN {1} order {2} for deferred split (partially mapped: {3})")]
    internal void DeferredSplitQueued(int arenaId, uint pfn, int order, bool partiallyMapped)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.FolioSplit))
            return;
        Write(EventIds.DeferredSplitQueued, arenaId, pfn, order, Flag(partiallyMapped));
    }

    /// <summary>The deferred-split shrinker ran (Linux <c>deferred_split_scan</c>): folios taken off the queue, split, and put back; the queue's length after.</summary>
    [Event(EventIds.DeferredSplitScan, Level = EventLevel.Informational, Keywords = Keywords.FolioSplit,
        Message = "arena {0}: deferred split scanned {1}, split {2}, requeued {3}; {4} queued")]
    internal void DeferredSplitScan(int arenaId, long scanned, long split, long requeued, long queueLength)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.FolioSplit))
            return;
        Write(EventIds.DeferredSplitScan, arenaId, scanned, split, requeued, queueLength);
    }

    // ---------------------------------------------------------------- faults

    /// <summary>A page fault began at <paramref name="address"/>, for a load or a store.</summary>
    [Event(EventIds.FaultStart, Level = EventLevel.Verbose, Keywords = Keywords.Faults, Task = Tasks.Fault,
        Opcode = EventOpcode.Start, ActivityOptions = EventActivityOptions.Disable,
        Message = "arena {0} space {1}: fault at {2} ({3})")]
    internal void FaultStart(int arenaId, int spaceId, ulong address, FaultAccess access)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Faults))
            return;
        Write(EventIds.FaultStart, arenaId, spaceId, address, (int)access);
    }

    /// <summary>
    /// The fault at <paramref name="address"/> is over: <paramref name="kind"/> is what it did,
    /// <paramref name="order"/> the order of the folio it mapped, <paramref name="ordersTried"/> a bit
    /// per order its allocation attempted (highest first), <paramref name="fallbacks"/> how many of
    /// them failed before one succeeded.
    /// </summary>
    [Event(EventIds.FaultStop, Level = EventLevel.Verbose, Keywords = Keywords.Faults, Task = Tasks.Fault,
        Opcode = EventOpcode.Stop, ActivityOptions = EventActivityOptions.Disable,
        Message = "arena {0} space {1}: fault at {2} done ({3}, order {4}, tried {5}, fallbacks {6})")]
    internal void FaultStop(int arenaId, int spaceId, ulong address, FaultKind kind, int order, uint ordersTried, int fallbacks)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Faults))
            return;
        Write(EventIds.FaultStop, arenaId, spaceId, address, (int)kind, order, ordersTried, fallbacks);
    }

    /// <summary>A fault's folio allocation of <paramref name="order"/> failed and it falls back to a lower order (<c>anon_fault_fallback</c> / <c>thp_fault_fallback</c>).</summary>
    [Event(EventIds.FaultFallback, Level = EventLevel.Verbose, Keywords = Keywords.Faults,
        Message = "arena {0} space {1}: fault at {2} could not allocate order {3}")]
    internal void FaultFallback(int arenaId, int spaceId, ulong address, int order)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.Faults))
            return;
        Write(EventIds.FaultFallback, arenaId, spaceId, address, order);
    }

    // ---------------------------------------------------------------- mmap, munmap, madvise

    /// <summary>mmap of [<paramref name="start"/>, +<paramref name="length"/>) with <paramref name="protection"/> (its VM_READ, VM_WRITE, VM_EXEC bits).</summary>
    [Event(EventIds.Mmap, Level = EventLevel.Informational, Keywords = Keywords.Syscalls,
        Message = "arena {0} space {1}: mmap {2} +{3} ({4})")]
    internal void Mmap(int arenaId, int spaceId, ulong start, ulong length, VmaFlags protection)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.Syscalls))
            return;
        Write(EventIds.Mmap, arenaId, spaceId, start, length, (ulong)protection);
    }

    /// <summary>munmap of [<paramref name="start"/>, +<paramref name="length"/>): <paramref name="pagesZapped"/> resident pages unmapped.</summary>
    [Event(EventIds.Munmap, Level = EventLevel.Informational, Keywords = Keywords.Syscalls,
        Message = "arena {0} space {1}: munmap {2} +{3} ({4} pages zapped)")]
    internal void Munmap(int arenaId, int spaceId, ulong start, ulong length, long pagesZapped)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.Syscalls))
            return;
        Write(EventIds.Munmap, arenaId, spaceId, start, length, pagesZapped);
    }

    /// <summary>madvise of [<paramref name="start"/>, +<paramref name="length"/>) with <paramref name="advice"/>; <paramref name="pagesZapped"/>: the address space's resident anonymous pages before minus after (dontneed's zapped pages; free's pages remapped to the zero page; 0 for populate, which runs beside other faults).</summary>
    [Event(EventIds.Madvise, Level = EventLevel.Informational, Keywords = Keywords.Syscalls,
        Message = "arena {0} space {1}: madvise {2} +{3} {4} ({5} pages zapped)")]
    internal void Madvise(int arenaId, int spaceId, ulong start, ulong length, MadviseAdvice advice, long pagesZapped)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.Syscalls))
            return;
        Write(EventIds.Madvise, arenaId, spaceId, start, length, (int)advice, pagesZapped);
    }
}

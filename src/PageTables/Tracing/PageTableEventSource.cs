using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// The page tables' event provider, <c>LargeFolios-PageTables</c>: table pages allocated and freed
/// (Linux's PageTables in /proc/meminfo over time) and PMD leaves split into PTE tables. Collect it
/// beside <c>LargeFolios-Allocator</c> and <c>LargeFolios-FaultPath</c>; the shape is theirs (see
/// <c>AllocatorEventSource</c>): a static <see cref="IsOn"/> guard at every site, fixed-size
/// payloads written from the stack, field names in <see cref="Fields"/>.
/// </summary>
[EventSource(Name = ProviderName)]
[SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "EventSource events are instance methods.")]
[UnconditionalSuppressMessage("ReleaseTrimming", "IL2026", Justification = "Every payload is a primitive: nothing for the trimmer to remove.")]
public sealed class PageTableEventSource : LayerEventSource
{
    /// <summary>The provider name.</summary>
    public const string ProviderName = "LargeFolios-PageTables";

    /// <summary>The one instance every event goes through.</summary>
    public static readonly PageTableEventSource Log = new();

    private PageTableEventSource()
    {
    }

    /// <summary>The provider's keywords.</summary>
    public static class Keywords
    {
        /// <summary>Page-table pages allocated and freed, PMD mappings split into PTEs.</summary>
        public const EventKeywords PageTables = (EventKeywords)0x1;
    }

    /// <summary>Every keyword.</summary>
    public const EventKeywords AllKeywords = (EventKeywords)0x1;

    /// <summary>Event ids, stable across versions.</summary>
    public static class EventIds
    {
#pragma warning disable CS1591 // each is documented on its event method
        public const int PageTableAllocated = 20;
        public const int PageTableFreed = 21;
        public const int PmdSplit = 22;
#pragma warning restore CS1591
    }

    /// <summary>The payload fields' names, as the events write them and readers look them up.</summary>
    public static class Fields
    {
#pragma warning disable CS1591 // each is documented on the events that carry it
        public const string ArenaId = "arenaId";
        public const string SpaceId = "spaceId";
        public const string Pfn = "pfn";
        public const string TablePages = "tablePages";
        public const string Address = "address";
        public const string Kind = "kind";
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

    /// <summary>A page-table page was allocated for the tables of address space <paramref name="spaceId"/>; <paramref name="tablePages"/> is their count after.</summary>
    [Event(EventIds.PageTableAllocated, Level = EventLevel.Verbose, Keywords = Keywords.PageTables,
        Message = "arena {0} space {1}: page table at PFN {2} ({3} table pages)")]
    internal void PageTableAllocated(int arenaId, int spaceId, uint pfn, long tablePages)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.PageTables))
            return;
        Write(EventIds.PageTableAllocated, arenaId, spaceId, pfn, tablePages);
    }

    /// <summary>A page-table page of address space <paramref name="spaceId"/> was freed; <paramref name="tablePages"/> is their count after.</summary>
    [Event(EventIds.PageTableFreed, Level = EventLevel.Verbose, Keywords = Keywords.PageTables,
        Message = "arena {0} space {1}: freed page table at PFN {2} ({3} table pages)")]
    internal void PageTableFreed(int arenaId, int spaceId, uint pfn, long tablePages)
    {
        if (!IsEnabled(EventLevel.Verbose, Keywords.PageTables))
            return;
        Write(EventIds.PageTableFreed, arenaId, spaceId, pfn, tablePages);
    }

    /// <summary>The PMD leaf at <paramref name="address"/> became a PTE table (Linux <c>__split_huge_pmd</c>); <paramref name="kind"/> says what it mapped.</summary>
    [Event(EventIds.PmdSplit, Level = EventLevel.Informational, Keywords = Keywords.PageTables,
        Message = "arena {0} space {1}: split the PMD mapping at {2} ({3})")]
    internal void PmdSplit(int arenaId, int spaceId, ulong address, PmdSplitKind kind)
    {
        if (!IsEnabled(EventLevel.Informational, Keywords.PageTables))
            return;
        Write(EventIds.PmdSplit, arenaId, spaceId, address, (int)kind);
    }
}

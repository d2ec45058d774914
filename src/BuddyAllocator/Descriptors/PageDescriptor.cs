using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// One page frame's descriptor: Linux's <c>struct page</c>, 64 bytes, one per PFN in one native
/// array (the vmemmap). A large folio keeps its metadata in its first three descriptors, so the
/// same offsets mean different things in page[0], page[1] and page[2]; overlapping fields model
/// Linux's unions.
/// </summary>
/// <remarks>
/// <code>
/// offset  page[0] (head or order-0)       page[1] (first tail)                page[2] (second tail)
///   0     Flags (PageFlags)               Flags: order in low byte | FolioFlags   Flags (flags_2)
///   8     CompoundHead = 0                CompoundHead = headPfn &lt;&lt; 1 | 1     CompoundHead (tail tag)
///  16     ListNext, ListPrev (PFNs)       LargeMapcount, NrPagesMapped        DeferredNext, DeferredPrev
///  24     Mapping (anon: owner &lt;&lt; 1 | 1) EntireMapcount, Pincount            DeferredQueue
///  32     Index                           MmIdMapcount0, MmIdMapcount1
///  40     Private (buddy order if free)   MmIds
///  48     Mapcount (-1 unmapped) / PageType word  (every page has its own)
///  52     Refcount (head only; tails 0)
///  56     Spare                           NrPages
/// </code>
/// Invariants of a live folio of order k at PFN p (checked by <see cref="ArenaValidator"/>):
/// <list type="bullet">
/// <item>p % 2^k == 0; page[0].CompoundHead == 0; page[0].Refcount &gt;= 1; Head flag set iff k &gt; 0.</item>
/// <item>for 0 &lt; i &lt; 2^k: page[i].CompoundHead == p &lt;&lt; 1 | 1 and page[i].Refcount == 0.</item>
/// <item>k &gt;= 1: page[1].Flags &amp; 0xff == k and page[1].NrPages == 2^k.</item>
/// <item>k &gt;= 2: page[2]'s deferred links are empty (both == p) or on a queue.</item>
/// <item>i &gt;= 3: page[i].Mapping == <see cref="TailMapping"/>, page[i].Private == 0.</item>
/// <item>an anonymous (rmappable) folio never has k == 1: its page[2] would be the next folio's head.</item>
/// </list>
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct PageDescriptor
{
    /// <summary>The size of a descriptor in bytes.</summary>
    public const int Size = 64;

    /// <summary>The PFN that terminates a list (no page).</summary>
    public const uint Nil = uint.MaxValue;

    /// <summary>
    /// What a tail page's mapping word holds (Linux TAIL_MAPPING, minus the pointer poison):
    /// a value no owner id can take, so a stale tail is recognisable.
    /// </summary>
    public const ulong TailMapping = 0x400;

    /// <summary>Bit 0 of <see cref="Mapping"/>: the folio is anonymous (Linux PAGE_MAPPING_ANON).</summary>
    public const ulong MappingAnon = 1;

    /// <summary>The mapcount word of an unmapped, untyped page.</summary>
    public const int NoMapcount = -1;

    // ---- every descriptor ----

    /// <summary>page[0]: <see cref="PageFlags"/>; page[1]: folio order in the low byte plus <see cref="FolioFlags"/>; page[2]: flags_2.</summary>
    [FieldOffset(0)] public ulong Flags;

    /// <summary>For a tail page, the head's PFN shifted left once with bit 0 set; 0 for any other page.</summary>
    [FieldOffset(8)] public ulong CompoundHead;

    /// <summary>Next PFN on the list this head is on (buddy free list, per-CPU list, LRU); <see cref="Nil"/> at the end.</summary>
    [FieldOffset(16)] public uint ListNext;

    /// <summary>Previous PFN on the list this head is on; <see cref="Nil"/> at the start.</summary>
    [FieldOffset(20)] public uint ListPrev;

    /// <summary>The owner: for anonymous memory an owner id shifted left once with <see cref="MappingAnon"/> set; <see cref="TailMapping"/> on tails.</summary>
    [FieldOffset(24)] public ulong Mapping;

    /// <summary>The virtual page number the page is mapped at (Linux page->index).</summary>
    [FieldOffset(32)] public ulong Index;

    /// <summary>Owner-private word; the buddy core keeps a free block's order here.</summary>
    [FieldOffset(40)] public ulong Private;

    /// <summary>This page's own mapcount, -1 based (-1: unmapped). Overlaid by <see cref="PageTypeWord"/>.</summary>
    [FieldOffset(48)] public int Mapcount;

    /// <summary>The mapcount word read as a page type: the top byte is a <see cref="BuddyAllocator.PageType"/> on typed pages.</summary>
    [FieldOffset(48)] public uint PageTypeWord;

    /// <summary>References to the folio; only the head's is used, tails hold 0.</summary>
    [FieldOffset(52)] public int Refcount;

    /// <summary>Unused by this layer; free for the owner.</summary>
    [FieldOffset(56)] public ulong Spare;

    // ---- page[1] of a large folio ----

    /// <summary>page[1]: mappings of the whole folio counted page-wise, -1 based (Linux _large_mapcount).</summary>
    [FieldOffset(16)] public int LargeMapcount;

    /// <summary>page[1]: how many pages of the folio are mapped by PTEs (Linux _nr_pages_mapped).</summary>
    [FieldOffset(20)] public int NrPagesMapped;

    /// <summary>page[1]: PMD mappings of the whole folio, -1 based (Linux _entire_mapcount).</summary>
    [FieldOffset(24)] public int EntireMapcount;

    /// <summary>page[1]: pins of the folio (Linux _pincount).</summary>
    [FieldOffset(28)] public int Pincount;

    /// <summary>page[1]: mapcount of the first tracked mm, -1 based (Linux _mm_id_mapcount[0]).</summary>
    [FieldOffset(32)] public int MmIdMapcount0;

    /// <summary>page[1]: mapcount of the second tracked mm, -1 based (Linux _mm_id_mapcount[1]).</summary>
    [FieldOffset(36)] public int MmIdMapcount1;

    /// <summary>page[1]: the two tracked mm ids (Linux _mm_ids).</summary>
    [FieldOffset(40)] public ulong MmIds;

    /// <summary>page[1]: 2^order (Linux _nr_pages).</summary>
    [FieldOffset(56)] public uint NrPages;

    // ---- page[2] of a large folio (order >= 2) ----

    /// <summary>page[2]: next folio (head PFN) on the deferred-split queue; the folio's own PFN when not queued.</summary>
    [FieldOffset(16)] public uint DeferredNext;

    /// <summary>page[2]: previous folio (head PFN) on the deferred-split queue; the folio's own PFN when not queued.</summary>
    [FieldOffset(20)] public uint DeferredPrev;

    /// <summary>page[2]: which deferred-split queue the folio is on; 0 when not queued.</summary>
    [FieldOffset(24)] public ulong DeferredQueue;

    /// <summary>
    /// A page that belongs to nothing: inside a free buddy block, or never used. Every field is zero
    /// but the mapcount word, which reads -1 (unmapped, no type).
    /// </summary>
    public static PageDescriptor Pristine => new() { Mapcount = NoMapcount };

    /// <summary>True for a tail page of a compound page.</summary>
    public readonly bool IsTail
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (CompoundHead & 1) != 0;
    }

    /// <summary>The head PFN a tail points at (only meaningful when <see cref="IsTail"/>).</summary>
    public readonly uint HeadPfn
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (uint)(CompoundHead >> 1);
    }

    /// <summary>The head flag (page[0] of a folio of order 1 or more).</summary>
    public readonly bool IsHead
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Flags & (ulong)PageFlags.Head) != 0;
    }

    /// <summary>The folio order stored in page[1]'s flags (read on page[1] only).</summary>
    public readonly int FolioOrder
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (int)(Flags & (ulong)FolioFlags.OrderMask);
    }

    /// <summary>Linux <c>folio_test_large_rmappable</c> (read on page[1] only): the folio may be mapped through rmap and queued for deferred split.</summary>
    public readonly bool IsLargeRmappable
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Flags & (ulong)FolioFlags.LargeRmappable) != 0;
    }

    /// <summary>True when the mapcount word holds a page type rather than a mapcount.</summary>
    public readonly bool HasPageType
    {
        // Linux page_has_type(): types live in 0xf0000000..0xfeffffff; -1 (0xffffffff) is "no type".
        get => PageTypeWord is >= 0xf0000000u and < 0xff000000u;
    }

    /// <summary>True for the head of a free block owned by the buddy core (Linux PageBuddy).</summary>
    public readonly bool IsBuddy
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (PageTypeWord >> 24) == (uint)PageType.Buddy;
    }

    /// <summary>The compound-head word of a tail of the folio at <paramref name="headPfn"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TailTag(uint headPfn) => ((ulong)headPfn << 1) | 1;
}

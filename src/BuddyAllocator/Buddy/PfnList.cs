using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// An intrusive doubly linked list of page heads, threaded through the descriptors'
/// <see cref="PageDescriptor.ListNext"/>/<see cref="PageDescriptor.ListPrev"/> as 32-bit PFNs
/// (Linux's <c>list_head</c> through <c>page->buddy_list</c> / <c>page->pcp_list</c>, halved).
/// Doubly linked because the buddy core unlinks a merging buddy from the middle of its list.
/// </summary>
/// <remarks>Not synchronised: the caller holds the lock of whatever owns the list.</remarks>
internal struct PfnList
{
    public uint Head;
    public uint Tail;

    public static PfnList Empty => new() { Head = PageDescriptor.Nil, Tail = PageDescriptor.Nil };

    public readonly bool IsEmpty
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Head == PageDescriptor.Nil;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void AddHead(PageDescriptor* pages, uint pfn)
    {
        uint head = Head;
        pages[pfn].ListNext = head;
        pages[pfn].ListPrev = PageDescriptor.Nil;
        if (head == PageDescriptor.Nil)
            Tail = pfn;
        else
            pages[head].ListPrev = pfn;
        Head = pfn;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void AddTail(PageDescriptor* pages, uint pfn)
    {
        uint tail = Tail;
        pages[pfn].ListNext = PageDescriptor.Nil;
        pages[pfn].ListPrev = tail;
        if (tail == PageDescriptor.Nil)
            Head = pfn;
        else
            pages[tail].ListNext = pfn;
        Tail = pfn;
    }

    /// <summary>Removes and returns the first PFN; the list must not be empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe uint RemoveHead(PageDescriptor* pages)
    {
        uint pfn = Head;
        Debug.Assert(pfn != PageDescriptor.Nil);
        uint next = pages[pfn].ListNext;
        Head = next;
        if (next == PageDescriptor.Nil)
            Tail = PageDescriptor.Nil;
        else
            pages[next].ListPrev = PageDescriptor.Nil;
        return pfn;
    }

    /// <summary>Removes and returns the last PFN; the list must not be empty.</summary>
    public unsafe uint RemoveTail(PageDescriptor* pages)
    {
        uint pfn = Tail;
        Debug.Assert(pfn != PageDescriptor.Nil);
        uint prev = pages[pfn].ListPrev;
        Tail = prev;
        if (prev == PageDescriptor.Nil)
            Head = PageDescriptor.Nil;
        else
            pages[prev].ListNext = PageDescriptor.Nil;
        return pfn;
    }

    /// <summary>Unlinks <paramref name="pfn"/>, which must be on this list.</summary>
    public unsafe void Remove(PageDescriptor* pages, uint pfn)
    {
        uint next = pages[pfn].ListNext;
        uint prev = pages[pfn].ListPrev;
        if (prev == PageDescriptor.Nil)
        {
            Debug.Assert(Head == pfn);
            Head = next;
        }
        else
        {
            pages[prev].ListNext = next;
        }

        if (next == PageDescriptor.Nil)
        {
            Debug.Assert(Tail == pfn);
            Tail = prev;
        }
        else
        {
            pages[next].ListPrev = prev;
        }
    }
}

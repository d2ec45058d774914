using System;
using System.Runtime.InteropServices;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>
/// What the kernel knows of a page's bytes: whether they are all zeros (Linux
/// <c>pages_identical(page, ZERO_PAGE(0))</c>, asked by a split before it remaps a page, and by the
/// underused-THP shrinker). With memory behind the arena the bytes themselves answer; a
/// metadata-only arena has no bytes, so one bit per page records whether a store of a non-zero
/// byte reached it since it was zeroed.
/// </summary>
/// <remarks>
/// The bits are set by stores (a racing store and zeroing of the same page cannot happen: a page
/// is zeroed only while no mapping reaches it) and read by splits under the entry's lock, so a
/// store is seen by the split that follows it. Words are changed atomically: two stores to pages
/// sharing a word may race.
/// </remarks>
internal sealed unsafe class PageContents : IDisposable
{
    private readonly Arena _arena;
    private readonly long _hostBytes;
    private ulong* _nonZero;

    /// <exception cref="HostMemoryException">The arena's host-memory bound refused the bits; nothing was taken.</exception>
    public PageContents(Arena arena)
    {
        _arena = arena;
        if (!arena.HasMemory)
        {
            nuint words = (nuint)((arena.TotalPages + 63) >> 6);
            long bytes = (long)words * sizeof(ulong);
            arena.HostMemory.Charge(bytes, "the page-content bits of a metadata-only machine");
            _hostBytes = bytes;
            _nonZero = (ulong*)NativeMemory.AllocZeroed(words, sizeof(ulong));
        }
    }

    /// <summary>Zeroes pages (Linux <c>folio_zero_user</c>): a memset with memory, the content bits without.</summary>
    public void Clear(uint pfn, int pages)
    {
        if (_nonZero == null)
        {
            NativeMemory.Clear(_arena.BaseAddress + ((nuint)pfn << PageGeometry.PageShift), (nuint)pages << PageGeometry.PageShift);
            return;
        }

        for (uint p = pfn; p < pfn + (uint)pages;)
        {
            int bit = (int)(p & 63);
            int n = Math.Min(64 - bit, (int)(pfn + (uint)pages - p));
            ulong mask = n == 64 ? ulong.MaxValue : ((1UL << n) - 1) << bit;
            ref ulong word = ref _nonZero[p >> 6];
            if ((Volatile.Read(ref word) & mask) != 0)
                Interlocked.And(ref word, ~mask);
            p += (uint)n;
        }
    }

    /// <summary>A store of <paramref name="value"/> to byte <paramref name="offset"/> of page <paramref name="pfn"/>.</summary>
    public void Store(uint pfn, int offset, byte value)
    {
        if (_nonZero == null)
        {
            _arena.BaseAddress[((nuint)pfn << PageGeometry.PageShift) + (nuint)offset] = value;
            return;
        }

        ulong bit = 1UL << (int)(pfn & 63);
        if (value != 0 && (Volatile.Read(ref _nonZero[pfn >> 6]) & bit) == 0)
            Interlocked.Or(ref _nonZero[pfn >> 6], bit);
    }

    /// <summary>A load of byte <paramref name="offset"/> of page <paramref name="pfn"/>; metadata-only, 0 or 1 (whether the page was written non-zero).</summary>
    public byte Load(uint pfn, int offset)
    {
        if (_nonZero == null)
            return _arena.BaseAddress[((nuint)pfn << PageGeometry.PageShift) + (nuint)offset];
        return (byte)((Volatile.Read(ref _nonZero[pfn >> 6]) >> (int)(pfn & 63)) & 1);
    }

    /// <summary>Linux <c>pages_identical(page, ZERO_PAGE(0))</c>.</summary>
    public bool IsZeroFilled(uint pfn)
    {
        if (_nonZero == null)
        {
            var bytes = new ReadOnlySpan<byte>(_arena.BaseAddress + ((nuint)pfn << PageGeometry.PageShift), PageGeometry.PageSize);
            return !bytes.ContainsAnyExcept((byte)0);
        }

        return ((Volatile.Read(ref _nonZero[pfn >> 6]) >> (int)(pfn & 63)) & 1) == 0;
    }

    /// <summary>Copies page <paramref name="from"/> to page <paramref name="to"/> (Linux <c>copy_mc_user_highpage</c>, a COW's copy or a collapse's): the bytes, or in a metadata-only arena whether it is all zeros.</summary>
    public void Copy(uint from, uint to)
    {
        if (_nonZero == null)
        {
            Buffer.MemoryCopy(_arena.BaseAddress + ((nuint)from << PageGeometry.PageShift), _arena.BaseAddress + ((nuint)to << PageGeometry.PageShift), PageGeometry.PageSize, PageGeometry.PageSize);
            return;
        }

        if (IsZeroFilled(from))
            Clear(to, 1);
        else
            Store(to, 0, 1);
    }

    public void Dispose()
    {
        if (_nonZero != null)
        {
            NativeMemory.Free(_nonZero);
            _arena.HostMemory.Uncharge(_hostBytes);
        }

        _nonZero = null;
    }
}

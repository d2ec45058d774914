using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// A handle to a folio: 2^<see cref="Order"/> naturally aligned pages starting at
/// <see cref="Pfn"/> in one <see cref="BuddyAllocator.Arena"/> (Linux's <c>struct folio *</c>).
/// The handle is a value; the folio's state lives in its descriptors. A handle kept across a
/// split or free is stale, and operations on it are refused.
/// </summary>
public readonly unsafe struct Folio : IEquatable<Folio>
{
    private readonly Arena? _arena;
    private readonly uint _pfn;
    private readonly int _order;

    internal Folio(Arena arena, uint pfn, int order)
    {
        _arena = arena;
        _pfn = pfn;
        _order = order;
    }

    /// <summary>The arena the folio belongs to.</summary>
    /// <exception cref="InvalidOperationException">The handle is <c>default(Folio)</c>.</exception>
    public Arena Arena => _arena ?? throw new InvalidOperationException("default(Folio) belongs to no arena.");

    /// <summary>True for <c>default(Folio)</c>.</summary>
    public bool IsNull => _arena is null;

    /// <summary>The head page's frame number.</summary>
    public uint Pfn => _pfn;

    /// <summary>log2 of the page count.</summary>
    public int Order => _order;

    /// <summary>Pages in the folio (Linux folio_nr_pages).</summary>
    public int PageCount => 1 << _order;

    /// <summary>Bytes in the folio (Linux folio_size).</summary>
    public long Size => (long)PageGeometry.PageSize << _order;

    /// <summary>The first byte; naturally aligned to <see cref="Size"/>.</summary>
    /// <exception cref="InvalidOperationException">The arena is metadata-only.</exception>
    public byte* Address => Arena.PfnToAddress(_pfn);

    /// <summary>The head page's descriptor.</summary>
    public ref PageDescriptor Head => ref Arena.Page(_pfn);

    /// <summary>The current reference count.</summary>
    public int Refcount => Volatile.Read(ref Head.Refcount);

    /// <summary>True for an anonymous folio (mapping word marked anon, Linux folio_test_anon).</summary>
    public bool IsAnonymous => (Head.Mapping & PageDescriptor.MappingAnon) != 0;

    /// <summary>True from order 1 up (Linux folio_test_large).</summary>
    public bool IsLarge => _order > 0;

    internal Arena? ArenaOrNull
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _arena;
    }

    /// <summary>The folio's bytes.</summary>
    /// <exception cref="InvalidOperationException">The arena is metadata-only, or the folio is 2 GiB or larger.</exception>
    public Span<byte> AsSpan()
    {
        if (Size > int.MaxValue)
            throw new InvalidOperationException($"Folio at PFN 0x{_pfn:x} order {_order} is {Size} bytes, too large for one Span<byte>.");
        return new Span<byte>(Address, (int)Size);
    }

    /// <summary>Page <paramref name="index"/> of the folio as a PFN.</summary>
    public uint PagePfn(int index)
    {
        if ((uint)index >= (uint)PageCount)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Folio at PFN 0x{_pfn:x} order {_order} has pages 0..{PageCount - 1}.");
        return _pfn + (uint)index;
    }

    /// <summary>True when both handles name the same folio of the same arena.</summary>
    public bool Equals(Folio other) => ReferenceEquals(_arena, other._arena) && _pfn == other._pfn && _order == other._order;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Folio other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_arena, _pfn, _order);

    /// <summary>Equality of handles.</summary>
    public static bool operator ==(Folio left, Folio right) => left.Equals(right);

    /// <summary>Inequality of handles.</summary>
    public static bool operator !=(Folio left, Folio right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => _arena is null ? "folio (null)" : $"folio pfn 0x{_pfn:x} order {_order}";
}

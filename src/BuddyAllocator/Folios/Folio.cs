using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// A handle to a folio: 2^<see cref="Order"/> naturally aligned pages starting at
/// <see cref="Pfn"/> in one <see cref="BuddyAllocator.Arena"/> (Linux's <c>struct folio *</c>).
/// </summary>
/// <remarks>
/// The handle is one 64-bit word: PFN (bits 0-31), order (32-39) and the arena's id (40-63). It
/// holds no object reference, so it is blittable: it can live in native memory, and storing it
/// costs no GC write barrier. The folio's state lives in its descriptors; a handle kept across a
/// split or free is stale, and operations on it are refused.
/// </remarks>
public readonly unsafe struct Folio : IEquatable<Folio>
{
    private const int OrderShift = 32;
    private const int ArenaShift = 40;

    private readonly ulong _value;

    internal Folio(int arenaId, uint pfn, int order) =>
        _value = pfn | ((ulong)(uint)order << OrderShift) | ((ulong)(uint)arenaId << ArenaShift);

    /// <summary>True for <c>default(Folio)</c>.</summary>
    public bool IsNull => _value == 0;

    /// <summary>The head page's frame number.</summary>
    public uint Pfn => (uint)_value;

    /// <summary>log2 of the page count.</summary>
    public int Order => (byte)(_value >> OrderShift);

    /// <summary>Pages in the folio (Linux folio_nr_pages).</summary>
    public int PageCount => 1 << Order;

    /// <summary>Bytes in the folio (Linux folio_size).</summary>
    public long Size => (long)PageGeometry.PageSize << Order;

    /// <summary>The arena the folio belongs to.</summary>
    /// <exception cref="InvalidOperationException">The handle is <c>default(Folio)</c>.</exception>
    /// <exception cref="ObjectDisposedException">The arena has been disposed.</exception>
    public Arena Arena
    {
        get
        {
            if (_value == 0)
                throw new InvalidOperationException("default(Folio) belongs to no arena.");
            return ArenaRegistry.Find(ArenaId) ?? throw new ObjectDisposedException(nameof(BuddyAllocator.Arena), $"The arena of {this} has been disposed.");
        }
    }

    /// <summary>The first byte; naturally aligned to <see cref="Size"/>.</summary>
    /// <exception cref="InvalidOperationException">The arena is metadata-only.</exception>
    public byte* Address => Arena.PfnToAddress(Pfn);

    /// <summary>The head page's descriptor, read-only.</summary>
    public ref readonly PageDescriptor Head => ref Arena.Page(Pfn);

    /// <summary>The current reference count.</summary>
    public int Refcount => Volatile.Read(in Head.Refcount);

    /// <summary>True for an anonymous folio (mapping word marked anon, Linux folio_test_anon).</summary>
    public bool IsAnonymous => (Head.Mapping & PageDescriptor.MappingAnon) != 0;

    /// <summary>True from order 1 up (Linux folio_test_large).</summary>
    public bool IsLarge => Order > 0;

    internal int ArenaId
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (int)(_value >> ArenaShift);
    }

    /// <summary>The folio's bytes.</summary>
    /// <exception cref="InvalidOperationException">The arena is metadata-only, or the folio is 2 GiB or larger.</exception>
    public Span<byte> AsSpan()
    {
        if (Size > int.MaxValue)
            throw new InvalidOperationException($"{this} is {Size} bytes, too large for one Span<byte>.");
        return new Span<byte>(Address, (int)Size);
    }

    /// <summary>Page <paramref name="index"/> of the folio as a PFN.</summary>
    public uint PagePfn(int index)
    {
        if ((uint)index >= (uint)PageCount)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{this} has pages 0..{PageCount - 1}.");
        return Pfn + (uint)index;
    }

    /// <summary>True when both handles name the same folio of the same arena.</summary>
    public bool Equals(Folio other) => _value == other._value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Folio other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => _value.GetHashCode();

    /// <summary>Equality of handles.</summary>
    public static bool operator ==(Folio left, Folio right) => left.Equals(right);

    /// <summary>Inequality of handles.</summary>
    public static bool operator !=(Folio left, Folio right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => IsNull ? "folio (null)" : $"folio pfn 0x{Pfn:x} order {Order}";
}

using System.Collections;
using System.Collections.Generic;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The live folios that cover a PFN range, in PFN order, read from the descriptors as the
/// enumeration goes (so it reflects the arena at that moment). Returned by the splits.
/// </summary>
public readonly struct FolioRange : IEnumerable<Folio>
{
    private readonly Arena _arena;
    private readonly uint _startPfn;
    private readonly uint _pages;

    internal FolioRange(Arena arena, uint startPfn, uint pages)
    {
        _arena = arena;
        _startPfn = startPfn;
        _pages = pages;
    }

    /// <summary>The first PFN covered.</summary>
    public uint StartPfn => _startPfn;

    /// <summary>Pages covered.</summary>
    public uint PageCount => _pages;

    /// <summary>Returns an allocation-free enumerator.</summary>
    public Enumerator GetEnumerator() => new(_arena, _startPfn, _startPfn + _pages);

    IEnumerator<Folio> IEnumerable<Folio>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Walks head to head by each folio's order.</summary>
    public struct Enumerator : IEnumerator<Folio>
    {
        private readonly Arena _arena;
        private readonly uint _end;
        private uint _next;
        private Folio _current;

        internal Enumerator(Arena arena, uint start, uint end)
        {
            _arena = arena;
            _next = start;
            _end = end;
            _current = default;
        }

        /// <inheritdoc/>
        public readonly Folio Current => _current;

        readonly object IEnumerator.Current => _current;

        /// <inheritdoc/>
        public bool MoveNext()
        {
            if (_next >= _end)
                return false;
            _current = _arena.FolioOf(_next);
            _next = _current.Pfn + (uint)_current.PageCount;
            return true;
        }

        /// <inheritdoc/>
        public readonly void Reset() => throw new System.NotSupportedException();

        /// <inheritdoc/>
        public readonly void Dispose()
        {
        }
    }
}

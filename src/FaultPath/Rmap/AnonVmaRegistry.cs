using System;
using System.Collections.Generic;
using System.Threading;

namespace LargeFolios.FaultPath;

/// <summary>
/// The machine's anon_vmas (Linux <c>struct anon_vma</c>), reduced to what the model asks of them:
/// an id per anon_vma, each one's root (the anon_vma a fork tree started from: a child's VMA gets
/// an anon_vma of its own whose root is its parent's, <c>anon_vma_fork</c>), and, per root, the
/// address spaces that have VMAs in the tree, in the order they joined it. A folio's mapping word
/// names the anon_vma it was created in; the rmap walk (<see cref="Family"/>) visits the address
/// spaces of that anon_vma's root, which are every process that can map the folio.
/// </summary>
/// <remarks>
/// Ids are never reused (a 32-bit count: four billion anon_vmas before it wraps, which
/// <see cref="Allocate"/> refuses). An address space leaves every family when it exits. Readers
/// (<see cref="RootOf"/>) take no lock; writers serialise on one.
/// </remarks>
internal sealed class AnonVmaRegistry
{
    private readonly Lock _lock = new();
    private uint[] _roots = new uint[256];
    private uint _count;   // ids 1.._count are in use; 0 is "none"
    private readonly Dictionary<uint, List<AddressSpace>> _families = [];

    /// <summary>How many anon_vmas were ever made.</summary>
    public uint Count => Volatile.Read(ref _count);

    /// <summary>
    /// A new anon_vma for a VMA of <paramref name="space"/>: its own root (<c>anon_vma_prepare</c>),
    /// or, with <paramref name="parent"/>, a child of that one's tree (<c>anon_vma_fork</c>).
    /// </summary>
    public uint Allocate(AddressSpace space, uint parent = 0)
    {
        lock (_lock)
        {
            if (_count == uint.MaxValue >> 1)
                throw new InvalidOperationException("The machine has made 2^31 anon_vmas; their ids have run out.");
            uint id = ++_count;
            if (id >= _roots.Length)
            {
                uint[] grown = new uint[_roots.Length * 2];
                Array.Copy(_roots, grown, _roots.Length);
                Volatile.Write(ref _roots, grown);
            }

            uint root = parent == 0 ? id : _roots[parent];
            _roots[id] = root;
            JoinLocked(root, space);
            return id;
        }
    }

    /// <summary>The root of <paramref name="anonVma"/>'s tree.</summary>
    public uint RootOf(uint anonVma)
    {
        uint[] roots = Volatile.Read(ref _roots);
        return anonVma < roots.Length ? Volatile.Read(ref roots[anonVma]) : 0;
    }

    /// <summary>Notes that <paramref name="space"/> has a VMA in <paramref name="anonVma"/>'s tree (a merge or a borrowed anon_vma).</summary>
    public void Join(uint anonVma, AddressSpace space)
    {
        uint root = RootOf(anonVma);
        lock (_lock)
            JoinLocked(root, space);
    }

    /// <summary>The address spaces that may map folios of <paramref name="anonVma"/>'s tree, in the order they joined it (a copy).</summary>
    public AddressSpace[] Family(uint anonVma)
    {
        uint root = RootOf(anonVma);
        lock (_lock)
            return _families.TryGetValue(root, out List<AddressSpace>? members) ? members.ToArray() : [];
    }

    /// <summary>An address space that exits leaves every tree.</summary>
    public void Leave(AddressSpace space)
    {
        lock (_lock)
        {
            var empty = new List<uint>();
            foreach (var (root, members) in _families)
            {
                members.Remove(space);
                if (members.Count == 0)
                    empty.Add(root);
            }

            foreach (uint root in empty)
                _families.Remove(root);
        }
    }

    private void JoinLocked(uint root, AddressSpace space)
    {
        if (!_families.TryGetValue(root, out List<AddressSpace>? members))
            _families.Add(root, members = []);
        if (!members.Contains(space))
            members.Add(space);
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using CsCheck;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>
/// Long random sequences of allocate / free / split / get+put / drain, replayed against the arena
/// and a shadow model of the live folios (which pages they own, their orders, a byte pattern in
/// their memory). After every step: the validator's full walk, the page accounting, and the model.
/// </summary>
public unsafe class ShadowModelPropertyTests
{
    private enum Kind
    {
        Allocate,
        Free,
        SplitUniform,
        SplitNonUniform,
        GetPut,
        Drain,
    }

    private readonly record struct Step(Kind Kind, int A, int B, int C)
    {
        public override string ToString() => $"{Kind}({A},{B},{C})";
    }

    private static readonly Gen<Step> StepGen = Gen.Frequency(
        (6, Gen.Select(Gen.Int[0, 12], Gen.Int[0, 1], (order, anon) => new Step(Kind.Allocate, order, anon, 0))),
        (4, Gen.Int[0, 1 << 20].Select(i => new Step(Kind.Free, i, 0, 0))),
        (2, Gen.Select(Gen.Int[0, 1 << 20], Gen.Int[0, 9], (i, o) => new Step(Kind.SplitUniform, i, o, 0))),
        (2, Gen.Select(Gen.Int[0, 1 << 20], Gen.Int[0, 9], Gen.Int[0, 1 << 20], (i, o, at) => new Step(Kind.SplitNonUniform, i, o, at))),
        (1, Gen.Int[0, 1 << 20].Select(i => new Step(Kind.GetPut, i, 0, 0))),
        (1, Gen.Const(new Step(Kind.Drain, 0, 0, 0))));

    public static TheoryData<string> Configurations => new() { "default-16M", "single-cpu-tiny-high-2M", "buddy-only-order4-1M", "linux-orders-8M" };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Random_sequences_keep_every_invariant(string configuration)
    {
        StepGen.Array[1, 250].Sample(
            steps => Run(configuration, steps),
            iter: 60,
            threads: 1,
            print: steps => string.Join(" ", steps.Select(s => s.ToString())));
    }

    private static Arena Create(string configuration) => configuration switch
    {
        "default-16M" => new Arena(16 * Arenas.MiB),
        "single-cpu-tiny-high-2M" => new Arena(2 * Arenas.MiB, 9, new ArenaOptions { PerCpuSets = 1, PerCpuHigh = 24, PerCpuBatch = 5 }),
        "buddy-only-order4-1M" => new Arena(1 * Arenas.MiB, 4, new ArenaOptions { PerCpuOrders = 0 }),
        "linux-orders-8M" => new Arena(8 * Arenas.MiB, 10, new ArenaOptions { PerCpuOrders = ArenaOptions.LinuxPerCpuOrders, PerCpuSets = 2 }),
        _ => throw new ArgumentException(configuration),
    };

    private static void Run(string configuration, Step[] steps)
    {
        using var arena = Create(configuration);
        var model = new ShadowModel(arena);
        foreach (Step step in steps)
        {
            Apply(arena, model, step);
            arena.Validate();
            model.Check();
        }

        model.FreeAll();
        ArenaAssert.FullyMerged(arena);
    }

    private static void Apply(Arena arena, ShadowModel model, Step step)
    {
        switch (step.Kind)
        {
            case Kind.Allocate:
            {
                int order = Math.Min(step.A, arena.MaxOrder);
                var kind = step.B == 1 && order != 1 ? FolioKind.Anonymous : FolioKind.Plain;
                if (arena.TryAllocate(order, kind, out Folio folio))
                {
                    model.Add(folio, kind);
                }
                else
                {
                    // A failed allocation drained every cache first: the buddy core truly has no block this large.
                    BuddyInfo info = arena.GetBuddyInfo();
                    for (int o = order; o <= arena.MaxOrder; o++)
                        Assert.Equal(0, info.FreeBlocks(o));
                    Assert.Equal(0, arena.CachedPages);
                }

                break;
            }

            case Kind.Free when model.Count > 0:
                model.Free(step.A % model.Count);
                break;

            case Kind.SplitUniform when model.Count > 0:
            case Kind.SplitNonUniform when model.Count > 0:
            {
                Folio folio = model[step.A % model.Count];
                if (folio.Order == 0)
                    break;
                int newOrder = step.B % folio.Order;
                if (folio.IsAnonymous && newOrder == 1)
                {
                    var before = ArenaSnapshot.Take(arena);
                    Assert.Throws<OrderOneFolioException>(() => arena.SplitUniform(folio, 1));
                    before.AssertUnchanged(arena);
                    break;
                }

                uint at = folio.Pfn + (uint)(step.C % folio.PageCount);
                List<Folio> parts = step.Kind == Kind.SplitUniform
                    ? arena.SplitUniform(folio, newOrder).ToList()
                    : arena.SplitNonUniform(folio, newOrder, at).ToList();
                var expected = step.Kind == Kind.SplitUniform
                    ? Enumerable.Repeat(newOrder, 1 << (folio.Order - newOrder)).ToList()
                    : ExpectedNonUniform(folio.Order, newOrder, (int)(at - folio.Pfn), folio.IsAnonymous);
                Assert.Equal(expected, parts.Select(p => p.Order).ToList());
                model.Replace(folio, parts);
                break;
            }

            case Kind.GetPut when model.Count > 0:
            {
                Folio folio = model[step.A % model.Count];
                arena.Get(folio);
                Assert.Equal(2, folio.Refcount);
                Assert.False(arena.Put(folio));
                break;
            }

            case Kind.Drain:
                arena.DrainPerCpuCaches();
                Assert.Equal(0, arena.CachedPages);
                break;
        }
    }

    /// <summary>
    /// folio_split's result, worked out independently: halve, keep the half holding the page,
    /// record the other half; anonymous folios never produce order 1.
    /// </summary>
    private static List<int> ExpectedNonUniform(int order, int newOrder, int at, bool anon)
    {
        var pieces = new List<(int Offset, int Order)>();
        (int Offset, int Order) current = (0, order);
        for (int splitOrder = order - 1; splitOrder >= newOrder; splitOrder--)
        {
            if (anon && splitOrder == 1)
                continue;
            for (int offset = current.Offset; offset < current.Offset + (1 << current.Order); offset += 1 << splitOrder)
            {
                if (at >= offset && at < offset + (1 << splitOrder))
                    continue;
                pieces.Add((offset, splitOrder));
            }

            current = (at & ~((1 << splitOrder) - 1), splitOrder);
        }

        pieces.Add(current);
        return pieces.OrderBy(p => p.Offset).Select(p => p.Order).ToList();
    }

    /// <summary>The live folios as the test believes them to be.</summary>
    private sealed class ShadowModel(Arena arena)
    {
        private readonly List<Folio> _live = [];
        private readonly Dictionary<uint, byte> _patterns = [];
        private readonly byte[] _owned = new byte[arena.TotalPages];
        private byte _nextPattern = 1;

        public int Count => _live.Count;

        public Folio this[int index] => _live[index];

        public void Add(Folio folio, FolioKind kind)
        {
            Assert.Equal(0u, folio.Pfn % (uint)folio.PageCount);
            Assert.Equal(kind == FolioKind.Anonymous, folio.IsAnonymous);
            for (uint i = 0; i < folio.PageCount; i++)
            {
                Assert.True(_owned[folio.Pfn + i] == 0, $"PFN 0x{folio.Pfn + i:x} handed out twice");
                _owned[folio.Pfn + i] = 1;
            }

            _live.Add(folio);
            byte pattern = _nextPattern++;
            if (_nextPattern == 0)
                _nextPattern = 1;
            _patterns[folio.Pfn] = pattern;
            if (arena.HasMemory)
            {
                // Every page carries the pattern, so it survives splits into any piece.
                for (uint i = 0; i < folio.PageCount; i++)
                    arena.PfnToAddress(folio.Pfn + i)[0] = pattern;
            }
        }

        public void Free(int index)
        {
            Folio folio = _live[index];
            CheckPattern(folio);
            arena.Free(folio);
            _live.RemoveAt(index);
            _patterns.Remove(folio.Pfn);
            for (uint i = 0; i < folio.PageCount; i++)
                _owned[folio.Pfn + i] = 0;
        }

        public void Replace(Folio old, List<Folio> parts)
        {
            byte pattern = _patterns[old.Pfn];
            _live.Remove(old);
            _patterns.Remove(old.Pfn);
            Assert.Equal(old.Pfn, parts[0].Pfn);
            Assert.Equal(old.PageCount, parts.Sum(p => p.PageCount));
            foreach (Folio part in parts)
            {
                Assert.Equal(1, part.Refcount);
                _live.Add(part);
                _patterns[part.Pfn] = pattern;
                CheckPattern(part);
            }
        }

        public void Check()
        {
            long livePages = _live.Sum(f => (long)f.PageCount);
            Assert.Equal(arena.TotalPages - arena.FreePages - arena.CachedPages, livePages);
            foreach (Folio folio in _live)
                Assert.Equal(folio, arena.FolioOf(folio.Pfn + (uint)folio.PageCount - 1));
        }

        public void FreeAll()
        {
            while (_live.Count > 0)
                Free(_live.Count - 1);
        }

        private void CheckPattern(Folio folio)
        {
            if (!arena.HasMemory)
                return;
            byte pattern = _patterns[folio.Pfn];
            for (uint i = 0; i < folio.PageCount; i++)
                Assert.Equal(pattern, arena.PfnToAddress(folio.Pfn + i)[0]);
        }
    }
}

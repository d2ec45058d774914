using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using LargeFolios.PageTables;

namespace LargeFolios.Bench;

/// <summary>
/// The all-PTEs-none scan over one page-aligned PTE table (512 entries), each path called
/// directly: all none (the common case when a fault picks the largest order), and the first
/// non-none entry at 1, 8, 64 and 300 (an order's range cut short). Methods for paths this CPU
/// does not accelerate are filtered out by <see cref="SupportedPathsConfig"/>, not failed, so the
/// same command runs everywhere and the table only shows what ran.
/// </summary>
[Config(typeof(SupportedPathsConfig))]
public unsafe class PteScanBenchmarks
{
    private const int Count = VirtualAddress.EntriesPerTable;
    private ulong* _table;

    /// <summary>The index of the first non-none entry; 512 means every entry is none.</summary>
    [ParamsSource(nameof(FirstNonNoneValues))]
    public int FirstNonNone { get; set; }

    /// <summary>The positions measured, all none last.</summary>
    public static IEnumerable<int> FirstNonNoneValues => [1, 8, 64, 300, Count];

    [GlobalSetup]
    public void Setup()
    {
        // Page aligned, as the arena hands out PTE tables: no load splits a cache line.
        _table = (ulong*)NativeMemory.AlignedAlloc(Count * sizeof(ulong), 4096);
        new Span<ulong>(_table, Count).Clear();
        if (FirstNonNone < Count)
            _table[FirstNonNone] = Pte.Make(0x12345, PteFlags.Present | PteFlags.Write).Value;
    }

    [GlobalCleanup]
    public void Cleanup() => NativeMemory.AlignedFree(_table);

    private ReadOnlySpan<Pte> Table => new((Pte*)_table, Count);

    [Benchmark(Baseline = true)]
    public int Scalar() => PteScanScalar.CountNone(Table);

    [Benchmark]
    public int Vector128() => PteScanVector128.CountNone(Table);

    [Benchmark]
    public int Vector256() => PteScanVector256.CountNone(Table);

    [Benchmark]
    public int Vector512() => PteScanVector512.CountNone(Table);

    /// <summary>The public entry point, to show what the dispatch costs over the path it picks.</summary>
    [Benchmark]
    public int Auto() => PteScan.CountNone(Table);

    /// <summary>
    /// Keeps the benchmarks whose method is named after a path this machine accelerates (and Auto,
    /// always supported); a forced software-emulated vector would only measure the emulation.
    /// </summary>
    private sealed class SupportedPathsConfig : ManualConfig
    {
        public SupportedPathsConfig() =>
            AddFilter(new SimpleFilter(benchmark =>
                !Enum.TryParse(benchmark.Descriptor.WorkloadMethod.Name, out PteScanPath path) || PteScan.IsSupported(path)));
    }
}

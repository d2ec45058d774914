using System;
using System.Runtime.Intrinsics;
using Xunit;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Choosing and pinning the scan path. Every test that sets the process-wide
/// <see cref="PteScan.ForcedPath"/> is here, in a collection that runs alone, and puts the old value
/// back however it ends.
/// </summary>
[Collection(PteScanPathCollection.Name)]
public unsafe class PteScanPathTests
{
    private static readonly PteScanPath Widest =
        Vector512.IsHardwareAccelerated ? PteScanPath.Vector512
        : Vector256.IsHardwareAccelerated ? PteScanPath.Vector256
        : Vector128.IsHardwareAccelerated ? PteScanPath.Vector128
        : PteScanPath.Scalar;

    public static TheoryData<PteScanPath> Paths => PteScanTests.Paths;

    [Fact]
    public void IsSupported_follows_hardware_acceleration()
    {
        Assert.True(PteScan.IsSupported(PteScanPath.Auto));
        Assert.True(PteScan.IsSupported(PteScanPath.Scalar));
        Assert.Equal(Vector128.IsHardwareAccelerated, PteScan.IsSupported(PteScanPath.Vector128));
        Assert.Equal(Vector256.IsHardwareAccelerated, PteScan.IsSupported(PteScanPath.Vector256));
        Assert.Equal(Vector512.IsHardwareAccelerated, PteScan.IsSupported(PteScanPath.Vector512));
        Assert.False(PteScan.IsSupported((PteScanPath)42));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void A_forced_path_becomes_the_active_path_and_scans_correctly(PteScanPath path)
    {
        PteScanPath saved = PteScan.ForcedPath;
        try
        {
            PteScan.ForcedPath = path;
            Assert.Equal(path, PteScan.ForcedPath);
            Assert.Equal(path == PteScanPath.Auto ? Widest : path, PteScan.ActivePath);

            // Through the public entry point (Auto in PteScanTests.Scan): pinned, the dispatch must
            // still hand short inputs down and find the first non-none entry.
            ulong* entries = stackalloc ulong[VirtualAddress.EntriesPerTable];
            new Span<ulong>(entries, VirtualAddress.EntriesPerTable).Clear();
            foreach (int count in (ReadOnlySpan<int>)[1, 2, 3, 4, 7, 8, 9, 31, 32, 33, 100, 512])
            {
                PteScanTests.Check(PteScanPath.Auto, entries, count, count, "pinned, all none");
                entries[count - 1] = 1;
                PteScanTests.Check(PteScanPath.Auto, entries, count, count - 1, "pinned, last entry not none");
                entries[count / 2] = 1UL << 63;
                PteScanTests.Check(PteScanPath.Auto, entries, count, count / 2, "pinned, middle entry not none");
                entries[count - 1] = 0;
                entries[count / 2] = 0;
            }
        }
        finally
        {
            PteScan.ForcedPath = saved;
        }
    }

    [Fact]
    public void Auto_is_active_as_the_widest_accelerated_width()
    {
        PteScanPath saved = PteScan.ForcedPath;
        try
        {
            PteScan.ForcedPath = PteScanPath.Auto;
            Assert.Equal(Widest, PteScan.ActivePath);
        }
        finally
        {
            PteScan.ForcedPath = saved;
        }
    }

    [Fact]
    public void Forcing_a_path_the_machine_does_not_accelerate_throws_naming_it()
    {
        PteScanPath saved = PteScan.ForcedPath;
        foreach (PteScanPath path in Enum.GetValues<PteScanPath>())
        {
            if (PteScan.IsSupported(path))
                continue;
            var thrown = Assert.Throws<PlatformNotSupportedException>(() => PteScan.ForcedPath = path);
            Assert.Contains(path.ToString(), thrown.Message, StringComparison.Ordinal);
            Assert.Equal(saved, PteScan.ForcedPath);
        }
    }

    [Fact]
    public void Forcing_a_value_that_names_no_path_throws()
    {
        PteScanPath saved = PteScan.ForcedPath;
        Assert.Throws<ArgumentOutOfRangeException>(() => PteScan.ForcedPath = (PteScanPath)42);
        Assert.Throws<ArgumentOutOfRangeException>(() => PteScan.ForcedPath = (PteScanPath)(-1));
        Assert.Equal(saved, PteScan.ForcedPath);
    }

    [Theory]
    [InlineData(null, PteScanPath.Auto)]
    [InlineData("", PteScanPath.Auto)]
    [InlineData("  ", PteScanPath.Auto)]
    [InlineData("auto", PteScanPath.Auto)]
    [InlineData("Scalar", PteScanPath.Scalar)]
    [InlineData("SCALAR", PteScanPath.Scalar)]
    [InlineData(" scalar\n", PteScanPath.Scalar)]
    [InlineData("vector128", PteScanPath.Vector128)]
    [InlineData("Vector256", PteScanPath.Vector256)]
    [InlineData("VECTOR512", PteScanPath.Vector512)]
    public void The_environment_setting_names_a_path_in_any_case(string? setting, PteScanPath expected)
    {
        if (PteScan.IsSupported(expected))
        {
            Assert.Equal(expected, PteScan.ParseSetting(setting));
            return;
        }

        var thrown = Assert.Throws<PlatformNotSupportedException>(() => PteScan.ParseSetting(setting));
        Assert.Contains(expected.ToString(), thrown.Message, StringComparison.Ordinal);
        Assert.Contains(PteScan.EnvironmentVariable, thrown.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("4")]
    [InlineData("Scalar, Vector128")]
    [InlineData("Vector1024")]
    [InlineData("avx512")]
    [InlineData("Vector 512")]
    public void The_environment_setting_refuses_numbers_combinations_and_unknown_names(string setting)
    {
        var thrown = Assert.Throws<InvalidOperationException>(() => PteScan.ParseSetting(setting));
        Assert.Contains(PteScan.EnvironmentVariable, thrown.Message, StringComparison.Ordinal);
        Assert.Contains(setting, thrown.Message, StringComparison.Ordinal);
    }
}

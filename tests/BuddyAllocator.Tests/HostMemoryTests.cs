using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>
/// The host-memory bound: what an arena charges and gives back, what a bound refuses (and that a
/// refusal takes nothing), limits checked, concurrent charges that never overshoot, and the host
/// probe's parsing. Every bound here is a bound of its own, so the process's, which the other tests
/// share, is only ever charged, never lowered.
/// </summary>
public class HostMemoryTests
{
    private const long MiB = 1L << 20;

    [Fact]
    public void An_arena_charges_what_HostBytesFor_says_and_gives_it_back_when_disposed()
    {
        var bound = new HostMemory(1L << 30);
        var metadataOnly = new ArenaOptions { MetadataOnly = true, PerCpuSets = 2, HostMemory = bound };
        using (var arena = new Arena(64 * MiB, options: metadataOnly))
        {
            Assert.Same(bound, arena.HostMemory);
            Assert.Equal((64 * MiB / 4096 * 64) + (2L * PerCpuSetBytes()), bound.InUseBytes);
            Assert.Equal(Arena.HostBytesFor(64 * MiB, metadataOnly), bound.InUseBytes);
        }

        Assert.Equal(0, bound.InUseBytes);

        var withMemory = metadataOnly with { MetadataOnly = false };
        using (var arena = new Arena(8 * MiB, options: withMemory))
            Assert.Equal((8 * MiB) + (8 * MiB / 4096 * 64) + (2L * PerCpuSetBytes()), bound.InUseBytes);
        Assert.Equal(0, bound.InUseBytes);
        Assert.Equal(0, bound.Refusals);
    }

    [Fact]
    public void An_arena_the_bound_cannot_hold_is_refused_naming_both_figures_and_takes_nothing()
    {
        var bound = new HostMemory(1 * MiB);
        var options = new ArenaOptions { MetadataOnly = true, HostMemory = bound };
        long needed = Arena.HostBytesFor(256 * MiB, options);

        HostMemoryException refused = Assert.Throws<HostMemoryException>(() => new Arena(256 * MiB, options: options));

        Assert.Equal(needed, refused.RequestedBytes);
        Assert.Equal(1 * MiB, refused.LimitBytes);
        Assert.Equal(0, refused.InUseBytes);
        Assert.False(refused.IsProcessBound);
        Assert.Contains("page descriptors of a 256 MiB metadata-only arena", refused.Message, StringComparison.Ordinal);
        Assert.Contains("bound of 1 MiB has 1 MiB left", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, bound.InUseBytes);
        Assert.Equal(1, bound.Refusals);
        Assert.Equal(needed, bound.LastRefusal!.RequestedBytes);

        // Nothing was half-built: an arena that fits the same bound is created and works.
        using var small = new Arena(4 * MiB, options: options);
        small.Free(small.Allocate(0));
        small.Validate();
    }

    [Fact]
    public void A_charge_beyond_what_the_process_has_is_refused_by_the_process_bound_through_a_bound_of_ones_own()
    {
        var bound = new HostMemory(long.MaxValue);
        long tooMuch = HostMemory.Process.LimitBytes + 1;

        Assert.False(bound.TryCharge(tooMuch, "a test's charge"));

        Assert.True(bound.LastRefusal!.IsProcessBound);
        Assert.Equal(tooMuch, bound.LastRefusal.RequestedBytes);
        Assert.Equal(0, bound.InUseBytes);
        Assert.Equal(1, bound.Refusals);
        Assert.Throws<HostMemoryException>(() => bound.EnsureAvailable(tooMuch, "a run"));
        Assert.True(bound.AvailableBytes <= HostMemory.Process.AvailableBytes);
    }

    [Fact]
    public void EnsureAvailable_checks_without_charging()
    {
        var bound = new HostMemory(10 * MiB);
        Assert.True(bound.TryCharge(4 * MiB, "a test's charge"));

        bound.EnsureAvailable(6 * MiB, "a run");
        HostMemoryException refused = Assert.Throws<HostMemoryException>(() => bound.EnsureAvailable(6 * MiB + 1, "a run"));

        Assert.Equal(6 * MiB, refused.AvailableBytes);
        Assert.Equal(4 * MiB, bound.InUseBytes);
        Assert.Equal(0, bound.Refusals);
        bound.Uncharge(4 * MiB);
        Assert.Equal(0, bound.InUseBytes);
        Assert.Equal(4 * MiB, bound.PeakBytes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4096)]
    public void A_limit_that_is_not_positive_is_refused_naming_it_and_the_limit_stays(long limit)
    {
        ArgumentOutOfRangeException bad = Assert.Throws<ArgumentOutOfRangeException>(() => new HostMemory(limit));
        Assert.Contains($"{limit} bytes", bad.Message, StringComparison.Ordinal);

        var bound = new HostMemory(5 * MiB);
        Assert.Throws<ArgumentOutOfRangeException>(() => bound.LimitBytes = limit);
        Assert.Equal(5 * MiB, bound.LimitBytes);
    }

    [Fact]
    public void A_limit_lowered_below_what_is_in_use_refuses_later_charges_until_enough_is_given_back()
    {
        var bound = new HostMemory(8 * MiB);
        Assert.True(bound.TryCharge(6 * MiB, "a test's charge"));
        bound.LimitBytes = 4 * MiB;

        Assert.False(bound.TryCharge(1, "a test's charge"));
        Assert.Equal(0, bound.AvailableBytes);
        bound.Uncharge(3 * MiB);
        Assert.True(bound.TryCharge(1 * MiB, "a test's charge"));
        Assert.Equal(4 * MiB, bound.InUseBytes);
    }

    [Fact]
    public void Concurrent_charges_never_take_more_than_the_limit_together()
    {
        const long Limit = 64 * MiB;
        var bound = new HostMemory(Limit);
        long refused = 0;
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, thread =>
        {
            var random = new Random(thread);
            var held = new System.Collections.Generic.List<long>();
            for (int i = 0; i < 20_000; i++)
            {
                if (held.Count > 0 && random.Next(2) == 0)
                {
                    bound.Uncharge(held[^1]);
                    held.RemoveAt(held.Count - 1);
                    continue;
                }

                long bytes = random.Next(1, 8) * MiB;
                if (bound.TryCharge(bytes, "a test's charge"))
                    held.Add(bytes);
                else
                    Interlocked.Increment(ref refused);
                Assert.True(bound.InUseBytes <= Limit);
            }

            held.ForEach(bound.Uncharge);
        });

        Assert.Equal(0, bound.InUseBytes);
        Assert.True(bound.PeakBytes <= Limit, $"peak {bound.PeakBytes} over the limit {Limit}");
        Assert.True(refused > 0, "the limit was never reached, so nothing was tested");
        Assert.Equal(refused, bound.Refusals);
    }

    [Fact]
    public void The_probe_reads_MemAvailable_and_cgroup_limits()
    {
        Assert.Equal(24279420L * 1024, HostMemoryProbe.MemAvailable("MemTotal:       24683664 kB\nMemFree:        24255120 kB\nMemAvailable:   24279420 kB\n"));
        Assert.Null(HostMemoryProbe.MemAvailable("MemTotal: 1 kB\n"));
        Assert.Null(HostMemoryProbe.Limit("max\n"));
        Assert.Null(HostMemoryProbe.Limit("9223372036854771712\n"));
        Assert.Equal(8L << 30, HostMemoryProbe.Limit("8589934592\n"));
        Assert.Equal(12345, HostMemoryProbe.InactiveFile("anon 1\nactive_file 9\ninactive_file 12345\n"));
        Assert.Equal(777, HostMemoryProbe.InactiveFile("cache 1\ntotal_inactive_file 777\n"));
        Assert.Equal(0, HostMemoryProbe.InactiveFile("anon 1\n"));
    }

    [Fact]
    public void The_default_limit_leaves_the_process_a_margin_of_what_the_host_has()
    {
        long room = HostMemoryProbe.RoomBytes();
        long limit = HostMemory.DefaultLimitBytes();
        Assert.True(room > 0);
        Assert.InRange(limit, room / 2, room);
        if (OperatingSystem.IsLinux())
        {
            long available = HostMemoryProbe.MemAvailable(System.IO.File.ReadAllText("/proc/meminfo"))!.Value;
            Assert.True(room <= available + (256 * MiB), $"room {room} is more than MemAvailable {available}");
        }
    }

    [Fact]
    public void Sizes_in_messages_are_exact_or_to_one_decimal()
    {
        string[] formatted = [.. new long[] { 512, 4096, 64 * MiB, (3 * MiB) / 2, 18L << 30 }.Select(HostMemoryException.FormatBytes)];
        Assert.Equal(["512 B", "4 KiB", "64 MiB", "1.5 MiB", "18 GiB"], formatted);
    }

    private static unsafe int PerCpuSetBytes() => sizeof(PerCpuPages);
}

using System;
using System.IO;
using LargeFolios.BuddyAllocator;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// The host-memory bound under the fault path: a scenario whose page tables need more than its
/// bound fails with a <see cref="HostMemoryException"/> naming the line and the bound, after the
/// pages before it were populated, with the machine valid; the machine's page-content bits are
/// charged and given back; a machine the bound cannot hold takes nothing.
/// </summary>
public sealed class HostMemoryBoundTests
{
    private const long MiB = 1L << 20;

    private static ScenarioCommand[] Commands(string text) =>
        [.. ScenarioReader.Read(new StringReader(text), "bound.scenario")];

    [Fact]
    public void A_scenario_populating_more_page_tables_than_a_64M_bound_fails_at_its_line_and_the_machine_validates()
    {
        var bound = new HostMemory(64 * MiB);
        using var runner = new ScenarioRunner(TextWriter.Null, arenaBytes: 1L << 30, hostMemory: bound);
        ScenarioCommand[] commands = Commands("""
            mmap 0x40000000 256G r
            madvise 0x40000000 256G populate_read
            """);

        HostMemoryException reached = Assert.Throws<HostMemoryException>(() => runner.Run(commands, "bound.scenario"));

        Assert.StartsWith("bound.scenario:2: The fault at 0x", reached.Message, StringComparison.Ordinal);
        Assert.Contains("VM_FAULT_OOM", reached.Message, StringComparison.Ordinal);
        Assert.Contains("a 2 MiB chunk of page-table side pages", reached.Message, StringComparison.Ordinal);
        Assert.Contains("this host-memory bound of 64 MiB", reached.Message, StringComparison.Ordinal);
        Assert.False(reached.IsProcessBound);
        Assert.Equal(2 * MiB, reached.RequestedBytes);
        Assert.True(bound.InUseBytes <= 64 * MiB);
        Assert.True(bound.InUseBytes > 60 * MiB, $"only {bound.InUseBytes} charged: the bound was not what stopped it");

        // Every table that fit is in use, and the 512 pages under each PTE table (all but the PGD,
        // the PUD table, a PMD table per 512 and the last, partly populated one) were populated.
        long tables = runner.AddressSpace.PageTablePages;
        long pteTables = tables - 2 - ((tables + 511) / 512) - 1;
        Assert.True(tables > 10_000, $"{tables} page tables");
        Assert.True(runner.Machine.Events.Get(VmEvent.PgFault) >= pteTables * 512, $"{runner.Machine.Events.Get(VmEvent.PgFault)} faults under {tables} tables: the populate stopped before the bound");
        runner.Machine.Validate();
    }

    [Fact]
    public void Out_of_memory_in_the_arena_itself_is_still_a_failed_command_not_the_bound()
    {
        var bound = new HostMemory(1L << 30);
        using var runner = new ScenarioRunner(TextWriter.Null, arenaBytes: 8 * MiB, hostMemory: bound);
        ScenarioCommand[] commands = Commands("""
            mmap 0x40000000 256G r
            madvise 0x40000000 256G populate_read
            """);

        ScenarioExecutionException failed = Assert.Throws<ScenarioExecutionException>(() => runner.Run(commands, "arena.scenario"));

        Assert.StartsWith("arena.scenario:2:", failed.Message, StringComparison.Ordinal);
        Assert.IsType<OutOfMemoryException>(failed.InnerException);
        Assert.Equal(0, bound.Refusals);
        runner.Machine.Validate();
    }

    [Fact]
    public void A_machine_charges_its_page_content_bits_and_gives_them_back()
    {
        var bound = new HostMemory(1L << 30);
        var options = new ArenaOptions { MetadataOnly = true, HostMemory = bound };
        using var arena = new Arena(64 * MiB, options: options);
        long arenaBytes = bound.InUseBytes;

        using (var machine = new Machine(arena))
            Assert.Equal(arenaBytes + (64 * MiB / 4096 / 8), bound.InUseBytes);

        Assert.Equal(arenaBytes, bound.InUseBytes);
    }

    [Fact]
    public void A_machine_the_bound_cannot_hold_is_refused_and_the_arena_is_as_it_was()
    {
        var options = new ArenaOptions { MetadataOnly = true, PerCpuOrders = 0 };
        var bound = new HostMemory(Arena.HostBytesFor(64 * MiB, options));
        using var arena = new Arena(64 * MiB, options: options with { HostMemory = bound });
        long free = arena.FreePages;

        HostMemoryException refused = Assert.Throws<HostMemoryException>(() => new Machine(arena));

        Assert.Contains("page-content bits", refused.Message, StringComparison.Ordinal);
        Assert.Equal(free, arena.FreePages);
        Assert.Equal(Arena.HostBytesFor(64 * MiB, options), bound.InUseBytes);
        arena.Validate();
    }

    [Fact]
    public void A_scenario_runner_whose_arena_the_bound_cannot_hold_is_refused_before_it_starts()
    {
        var bound = new HostMemory(16 * MiB);

        HostMemoryException refused = Assert.Throws<HostMemoryException>(() => new ScenarioRunner(TextWriter.Null, hostMemory: bound));

        Assert.Contains("page descriptors of a 4 GiB metadata-only arena", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, bound.InUseBytes);
    }
}

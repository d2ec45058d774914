using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.Folios.Cli;
using Microsoft.Diagnostics.Tracing;
using Xunit;
using Ids = LargeFolios.BuddyAllocator.LargeFoliosEventSource.EventIds;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// <c>folios trace</c>: the child process started suspended and traced from its first event, the
/// in-process session, the keyword and level filters, and bad arguments.
/// </summary>
[Collection(TraceCollection.Name)]
public sealed class TraceCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("folios-trace-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_child_process_is_traced_from_its_first_fault()
    {
        string path = Path.Combine(_directory, "child.nettrace");

        CliRun run = FoliosCli.Run("trace", "sequential", "--size", "16M", "--policy", "64K", "-o", path);

        Assert.True(run.ExitCode == ExitCodes.Success, run.Error);
        Assert.Contains($"wrote {path}", run.Error, StringComparison.Ordinal);
        List<Traced> events = Read(path);

        // 16M written in order under 64K mTHP: 256 faults, each a 64K folio, none missed.
        Assert.NotEqual(Environment.ProcessId, events[0].ProcessId);
        Assert.Equal(256, events.Count(e => e.Id == Ids.FaultStart));
        List<Traced> stops = events.Where(e => e.Id == Ids.FaultStop).ToList();
        Assert.Equal(256, stops.Count);
        Assert.All(stops, e => Assert.Equal(4, e.Int("order")));
        Assert.Equal(256, events.Count(e => e.Id == Ids.FolioAllocated && e.Int("order") == 4));
        Assert.Equal(
            events.Where(e => e.Id == Ids.FolioAllocated).Sum(e => 1L << e.Int("order")),
            events.Where(e => e.Id == Ids.FolioFreed).Sum(e => 1L << e.Int("order")));   // the child tore everything down

        // Free-area snapshots: the first when the arena was made under the session, the last after the drain.
        Assert.True(events.Where(e => e.Id == Ids.BuddyFreeArea).Select(e => e.Long("snapshot")).Distinct().Count() >= 2);
    }

    [Fact]
    public void An_in_process_trace_sees_the_same_faults()
    {
        string path = Path.Combine(_directory, "self.nettrace");

        CliRun run = FoliosCli.Run("trace", "sequential", "--size", "16M", "--policy", "64K", "-o", path, "--in-process");

        Assert.True(run.ExitCode == ExitCodes.Success, run.Error);
        Assert.Contains("folios trace sequential", run.Output, StringComparison.Ordinal);   // the run's report
        List<Traced> events = Read(path);
        Assert.Equal(Environment.ProcessId, events[0].ProcessId);
        int arena = events.First(e => e.Id == Ids.FaultStop).Int("arenaId");
        Assert.Equal(256, events.Count(e => e.Id == Ids.FaultStop && e.Int("arenaId") == arena));
    }

    [Fact]
    public void Keywords_and_level_choose_the_events()
    {
        string path = Path.Combine(_directory, "faults.nettrace");

        CliRun run = FoliosCli.Run("trace", "mix", "--size", "16M", "-o", path, "--keywords", "faults,madvise", "--level", "informational");

        Assert.True(run.ExitCode == ExitCodes.Success, run.Error);
        List<Traced> events = Read(path);

        // Informational: the faults (Verbose) are left out; mmap, munmap and madvise (Informational,
        // Madvise) are in; nothing of the other keywords is.
        Assert.DoesNotContain(events, e => e.Id is Ids.FaultStart or Ids.FaultStop or Ids.FolioAllocated or Ids.BuddyFreeArea or Ids.FolioSplit);
        Assert.Contains(events, e => e.Id == Ids.Mmap);
        Assert.Contains(events, e => e.Id == Ids.Munmap);
        Assert.Contains(events, e => e.Id == Ids.Madvise);
    }

    [Theory]
    [InlineData("--keywords", "pages", "\"pages\" is not a keyword")]
    [InlineData("--keywords", "0x100", "not a mask of the provider's keywords")]
    [InlineData("--level", "loud", "\"loud\" is not a level")]
    [InlineData("--buffer", "0", "--buffer")]
    public void Bad_trace_options_are_usage_errors_that_name_the_value(string option, string value, string message)
    {
        string path = Path.Combine(_directory, "never.nettrace");

        CliRun run = FoliosCli.Run("trace", "sequential", option, value, "-o", path);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void A_workload_the_options_refuse_is_a_usage_error_and_writes_no_trace()
    {
        string path = Path.Combine(_directory, "refused.nettrace");

        CliRun run = FoliosCli.Run("trace", "sequential", "--size", "4K", "--threads", "2", "-o", path);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Contains("cannot be shared by 2 threads", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("wrote", run.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void A_child_whose_runtime_opens_no_diagnostic_port_is_a_one_line_failure()
    {
        string path = Path.Combine(_directory, "no-port.nettrace");
        Environment.SetEnvironmentVariable("DOTNET_EnableDiagnostics", "0");   // inherited by the child only: this runtime's port is open already
        CliRun run;
        try
        {
            run = FoliosCli.Run("trace", "sequential", "--size", "4M", "-o", path);
        }
        finally
        {
            Environment.SetEnvironmentVariable("DOTNET_EnableDiagnostics", null);
        }

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        string message = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("folios trace: could not trace the child process", message, StringComparison.Ordinal);
        Assert.Contains("DOTNET_EnableDiagnostics=0", message, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    /// <summary>One event of the provider, its payload by field name.</summary>
    private sealed record Traced(int Id, int ProcessId, Dictionary<string, object> Payload)
    {
        public int Int(string field) => Convert.ToInt32(Payload[field], System.Globalization.CultureInfo.InvariantCulture);

        public long Long(string field) => Convert.ToInt64(Payload[field], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static List<Traced> Read(string path)
    {
        var events = new List<Traced>();
        using var source = new EventPipeEventSource(path);
        source.Dynamic.All += e =>
        {
            if (e.ProviderName != LargeFoliosEventSource.ProviderName || (int)e.ID == 0xFFFE)
                return;
            var payload = new Dictionary<string, object>();
            for (int i = 0; i < e.PayloadNames.Length; i++)
                payload[e.PayloadNames[i]] = e.PayloadValue(i);
            events.Add(new Traced((int)e.ID, e.ProcessID, payload));
        };
        source.Process();
        return events;
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.IO;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Tracing;
using LargeFolios.PageTables;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Xunit;
using AllocatorIds = LargeFolios.BuddyAllocator.AllocatorEventSource.EventIds;
using FaultPathIds = LargeFolios.FaultPath.FaultPathEventSource.EventIds;
using PageTableIds = LargeFolios.PageTables.PageTableEventSource.EventIds;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// <c>folios trace</c>: the child process started suspended and traced from its first event, the
/// in-process session, the keywords translated to the three providers' own and the level, and bad
/// arguments.
/// </summary>
[Collection(TraceCollection.Name)]
public sealed class TraceCommandTests : IDisposable
{
    private const string Allocator = AllocatorEventSource.ProviderName, PageTables = PageTableEventSource.ProviderName, FaultPath = FaultPathEventSource.ProviderName;

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
        Assert.Equal(256, events.Count(e => e.Is(FaultPath, FaultPathIds.FaultStart)));
        List<Traced> stops = events.Where(e => e.Is(FaultPath, FaultPathIds.FaultStop)).ToList();
        Assert.Equal(256, stops.Count);
        Assert.All(stops, e => Assert.Equal(4, e.Int(FaultPathEventSource.Fields.Order)));
        Assert.Equal(256, events.Count(e => e.Is(Allocator, AllocatorIds.FolioAllocated) && e.Int(AllocatorEventSource.Fields.Order) == 4));
        Assert.Equal(
            events.Where(e => e.Is(Allocator, AllocatorIds.FolioAllocated)).Sum(e => 1L << e.Int(AllocatorEventSource.Fields.Order)),
            events.Where(e => e.Is(Allocator, AllocatorIds.FolioFreed)).Sum(e => 1L << e.Int(AllocatorEventSource.Fields.Order)));   // the child tore everything down

        // Free-area snapshots: the first when the arena was made under the session, the last after the drain.
        Assert.True(events.Where(e => e.Is(Allocator, AllocatorIds.BuddyFreeArea)).Select(e => e.Long(AllocatorEventSource.Fields.Snapshot)).Distinct().Count() >= 2);

        // Every provider is in the session: the page tables the faults needed, and their teardown.
        int tables = events.Count(e => e.Is(PageTables, PageTableIds.PageTableAllocated));
        Assert.True(tables > 0);
        Assert.Equal(tables, events.Count(e => e.Is(PageTables, PageTableIds.PageTableFreed)));
        Assert.Equal([Allocator, FaultPath, PageTables], events.Select(e => e.Provider).Distinct().Order(StringComparer.Ordinal));
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
        int arena = events.First(e => e.Is(FaultPath, FaultPathIds.FaultStop)).Int(FaultPathEventSource.Fields.ArenaId);
        Assert.Equal(256, events.Count(e => e.Is(FaultPath, FaultPathIds.FaultStop) && e.Int(FaultPathEventSource.Fields.ArenaId) == arena));
        Assert.Contains(events, e => e.Is(PageTables, PageTableIds.PageTableAllocated) && e.Int(PageTableEventSource.Fields.ArenaId) == arena);
    }

    [Fact]
    public void Keywords_and_level_choose_the_events()
    {
        string path = Path.Combine(_directory, "faults.nettrace");

        CliRun run = FoliosCli.Run("trace", "mix", "--size", "16M", "-o", path, "--keywords", "faults,madvise", "--level", "informational");

        Assert.True(run.ExitCode == ExitCodes.Success, run.Error);
        List<Traced> events = Read(path);

        // Only the fault path's provider is enabled; at Informational its faults (Verbose) are left
        // out and mmap, munmap and madvise (Informational, Syscalls) are in.
        Assert.All(events, e => Assert.Equal(FaultPath, e.Provider));
        Assert.DoesNotContain(events, e => e.Id is FaultPathIds.FaultStart or FaultPathIds.FaultStop or FaultPathIds.FaultFallback);
        Assert.Contains(events, e => e.Id == FaultPathIds.Mmap);
        Assert.Contains(events, e => e.Id == FaultPathIds.Munmap);
        Assert.Contains(events, e => e.Id == FaultPathIds.Madvise);
    }

    [Fact]
    public void Faults_alone_enable_only_the_fault_paths_faults_keyword()
    {
        string path = Path.Combine(_directory, "faults-only.nettrace");

        CliRun run = FoliosCli.Run("trace", "sequential", "--size", "16M", "--policy", "64K", "-o", path, "--keywords", "faults");

        Assert.True(run.ExitCode == ExitCodes.Success, run.Error);
        List<Traced> events = Read(path);
        Assert.All(events, e => Assert.Equal(FaultPath, e.Provider));
        Assert.All(events, e => Assert.True(e.Id is FaultPathIds.FaultStart or FaultPathIds.FaultStop or FaultPathIds.FaultFallback, $"event {e.Id}"));
        Assert.Equal(256, events.Count(e => e.Id == FaultPathIds.FaultStop));
    }

    [Theory]
    [InlineData("faults", "LargeFolios-FaultPath:0x1")]
    [InlineData("syscalls", "LargeFolios-FaultPath:0x2")]
    [InlineData("madvise,faults", "LargeFolios-FaultPath:0x3")]
    [InlineData("pagetables", "LargeFolios-PageTables:0x1")]
    [InlineData("buddy,percpu", "LargeFolios-Allocator:0x3")]
    [InlineData("split", "LargeFolios-Allocator:0x4 LargeFolios-FaultPath:0x4")]
    [InlineData("0x11", "LargeFolios-Allocator:0x1 LargeFolios-FaultPath:0x1")]
    [InlineData("all", "LargeFolios-Allocator:0x7 LargeFolios-PageTables:0x1 LargeFolios-FaultPath:0x7")]
    [InlineData("0x3F", "LargeFolios-Allocator:0x7 LargeFolios-PageTables:0x1 LargeFolios-FaultPath:0x7")]
    public void Keywords_become_each_providers_own_and_a_provider_without_any_is_left_out(string keywords, string expected)
    {
        Assert.True(TraceKeywords.TryParse(keywords, out TraceKeyword parsed, out string? error), error);
        var settings = new TraceSettings("unused.nettrace", parsed, EventLevel.Informational, Stacks: false, BufferMegabytes: 16);

        EventPipeSessionConfiguration configuration = settings.ToConfiguration();

        Assert.Equal(expected, string.Join(" ", configuration.Providers.Select(provider => $"{provider.Name}:0x{provider.Keywords:X}")));
        Assert.All(configuration.Providers, provider => Assert.Equal(EventLevel.Informational, provider.EventLevel));
    }

    [Fact]
    public void All_is_every_keyword_of_every_provider()
    {
        Assert.Equal(
            [(Allocator, AllocatorEventSource.AllKeywords), (PageTables, PageTableEventSource.AllKeywords), (FaultPath, FaultPathEventSource.AllKeywords)],
            TraceKeywords.ForProviders(TraceKeyword.All).Select(provider => (provider.Provider, provider.Keywords)));
    }

    [Theory]
    [InlineData("--keywords", "pages", "\"pages\" is not a keyword")]
    [InlineData("--keywords", "0x100", "not a mask of the trace keywords")]
    [InlineData("--keywords", "0x40", "not a mask of the trace keywords; expected bits of 0x3F")]
    [InlineData("--keywords", "0", "not a mask of the trace keywords")]
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

    [Fact]
    public void An_output_that_cannot_be_created_is_a_usage_error_and_starts_no_child()
    {
        string file = Path.Combine(_directory, "a-file");
        File.WriteAllText(file, "");
        foreach (var (output, why) in new[]
        {
            (_directory, "it is a directory; expected a file name such as"),
            (Path.Combine(file, "under-a-file.nettrace"), "cannot write the trace: "),
        })
        {
            CliRun run = FoliosCli.Run("trace", "sequential", "--size", "4M", "-o", output);

            Assert.Equal(ExitCodes.Usage, run.ExitCode);
            string message = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"folios trace: {output}: cannot write the trace: ", message, StringComparison.Ordinal);
            Assert.Contains(why, message, StringComparison.Ordinal);
            Assert.Equal("", run.Output);   // the workload never ran
            Assert.Empty(TracedChildren(output));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_file_that_stops_taking_bytes_is_one_line_and_leaves_no_child(bool inProcess)
    {
        // /dev/full opens, and every write to it fails with ENOSPC: a disk that fills mid-trace.
        string[] arguments = ["trace", "sequential", "--size", "4M", "-o", "/dev/full", .. inProcess ? new[] { "--in-process" } : []];

        CliRun run = FoliosCli.Run(arguments);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        string message = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("folios trace: /dev/full: cannot write the trace: ", message, StringComparison.Ordinal);
        Assert.Empty(TracedChildren("/dev/full"));
    }

    [Fact]
    public void A_tracer_terminated_by_a_signal_ends_its_child_first()
    {
        string path = Path.Combine(_directory, "terminated.nettrace");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { typeof(Program).Assembly.Location, "trace", "random", "--size", "16G", "-o", path })
            start.ArgumentList.Add(argument);
        using var tracer = System.Diagnostics.Process.Start(start)!;
        try
        {
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (TracedChildren(path).Count == 0 && !tracer.HasExited && waited.Elapsed < TimeSpan.FromSeconds(30))
                System.Threading.Thread.Sleep(50);
            Assert.NotEmpty(TracedChildren(path));

            using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", tracer.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                kill.WaitForExit();
            Assert.True(tracer.WaitForExit(TimeSpan.FromSeconds(30)), "the tracer did not exit on SIGTERM");

            waited.Restart();
            while (TracedChildren(path).Count > 0 && waited.Elapsed < TimeSpan.FromSeconds(10))
                System.Threading.Thread.Sleep(50);
            Assert.Empty(TracedChildren(path));
        }
        finally
        {
            if (!tracer.HasExited)
                tracer.Kill(entireProcessTree: true);
            foreach (int child in TracedChildren(path))
                System.Diagnostics.Process.GetProcessById(child).Kill();
        }
    }

    /// <summary>The processes still alive that were started as a traced child writing to <paramref name="output"/>.</summary>
    private static List<int> TracedChildren(string output)
    {
        var children = new List<int>();
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out int pid))
                continue;
            string commandLine;
            try
            {
                commandLine = File.ReadAllText(Path.Combine(directory, "cmdline"));
            }
            catch (IOException)
            {
                continue;   // exited while we looked
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            string[] words = commandLine.Split('\0');
            if (words.Contains("--traced-child") && words.Contains(output))
                children.Add(pid);
        }

        return children;
    }

    /// <summary>One event of the library's providers, its payload by field name.</summary>
    private sealed record Traced(string Provider, int Id, int ProcessId, Dictionary<string, object> Payload)
    {
        public bool Is(string provider, int id) => Provider == provider && Id == id;

        public int Int(string field) => Convert.ToInt32(Payload[field], System.Globalization.CultureInfo.InvariantCulture);

        public long Long(string field) => Convert.ToInt64(Payload[field], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static List<Traced> Read(string path)
    {
        var events = new List<Traced>();
        using var source = new EventPipeEventSource(path);
        source.Dynamic.All += e =>
        {
            if (e.ProviderName is not (Allocator or PageTables or FaultPath) || (int)e.ID == 0xFFFE)
                return;
            var payload = new Dictionary<string, object>();
            for (int i = 0; i < e.PayloadNames.Length; i++)
                payload[e.PayloadNames[i]] = e.PayloadValue(i);
            events.Add(new Traced(e.ProviderName, (int)e.ID, e.ProcessID, payload));
        };
        source.Process();
        return events;
    }
}

using System;
using System.Diagnostics.Tracing;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Microsoft.Diagnostics.NETCore.Client;

namespace LargeFolios.Bench;

/// <summary>How the three providers (LargeFolios-Allocator, -PageTables, -FaultPath) are listened to while a benchmark runs.</summary>
public enum TraceSession
{
    /// <summary>Nobody listens: every event site costs its <c>IsOn</c> test.</summary>
    None,

    /// <summary>An EventPipe session on this process takes every event at Verbose, without stacks (as <c>folios trace</c> does by default); the stream is read and discarded.</summary>
    EventPipeVerbose,

    /// <summary>The same with a stack walk per event, as <c>dotnet-trace collect</c> records by default.</summary>
    EventPipeVerboseStacks,
}

/// <summary>
/// What the events cost. Two instrumented hot paths: the order-0 allocate+free pair (per-CPU cache
/// hits) and the order-0 write fault (metadata-only; each pass of 512 faults over one 2 MiB range
/// ends with MADV_DONTNEED of it, so a fault op carries 1/512 of a zap). With <see cref="TraceSession.None"/>
/// against the same benchmark built with <c>-p:AllocatorEvents=false</c> (every event compiled out)
/// they give the cost of the instrumentation when nobody listens; with
/// <see cref="TraceSession.EventPipeVerbose"/> the difference divided by the events per op (printed
/// by the setup) is the cost of one event written to a session.
/// </summary>
public class TracingOverheadBenchmarks
{
    private const int Pairs = 1024;
    private const ulong Start = 0x4000_0000;
    private const int FaultsPerPass = 512;

    private World _world = null!;
    private Arena _arena = null!;
    private AddressSpace _space = null!;
    private EventPipeSession? _session;
    private Task? _drain;

    [Params(TraceSession.None, TraceSession.EventPipeVerbose, TraceSession.EventPipeVerboseStacks)]
    public TraceSession Session { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // The providers exist before any listener: in a build without events nothing else creates
        // the page tables' and the fault path's (their guards never read a static), and one first
        // created inside a listener's OnEventSourceCreated is never enabled by a later EventPipe session.
        foreach (var (source, _) in Providers)
            GC.KeepAlive(source);
        var testMachine = new TestMachine(64L << 20);
        testMachine.Policy.SetSizeEnabled(PageGeometry.PmdOrder, ThpSizeEnabled.Never);
        _world = new World(testMachine);
        _arena = _world.Arena;
        _space = _world.Mm;
        _space.Mmap(Start, 2UL << 20);
        AllocateFreePair();
        FaultAndZap();

        Console.WriteLine($"// events per op: allocate+free {EventsPerOp(AllocateFreePair, Pairs):F2}, fault {EventsPerOp(FaultAndZap, FaultsPerPass):F2}");
        if (Session == TraceSession.None && Providers.Any(p => p.Source.IsEnabled()))
            throw new InvalidOperationException("A provider is still enabled after its counting listener was disposed.");
        if (Session != TraceSession.None)
        {
            var configuration = new EventPipeSessionConfiguration(
                Providers.Select(p => new EventPipeProvider(p.Source.Name, EventLevel.Verbose, (long)p.Keywords)).ToList(),
                circularBufferSizeMB: 256, requestRundown: false, requestStackwalk: Session == TraceSession.EventPipeVerboseStacks);
            _session = new DiagnosticsClient(Environment.ProcessId).StartEventPipeSession(configuration);
            _drain = Task.Run(() => _session.EventStream.CopyTo(Stream.Null));
            if (!SpinWait.SpinUntil(() => Providers.All(p => p.Source.IsEnabled()), TimeSpan.FromSeconds(10)))
            {
                string off = string.Join(", ", Providers.Where(p => !p.Source.IsEnabled()).Select(p => p.Source.Name));
                throw new InvalidOperationException($"The EventPipe session did not enable {off}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_session != null)
        {
            _session.Stop();
            _drain!.Wait();
            _session.Dispose();
        }

        _world.Dispose();
    }

    /// <summary>Allocates and frees one order-0 folio, 1024 times: per-CPU cache hits, two events each.</summary>
    [Benchmark(OperationsPerInvoke = Pairs)]
    public void AllocateFreePair()
    {
        Arena arena = _arena;
        for (int i = 0; i < Pairs; i++)
            arena.Free(arena.Allocate(0));
    }

    /// <summary>512 order-0 write faults over a 2 MiB range, then MADV_DONTNEED of it (which frees the folios and the PTE table).</summary>
    [Benchmark(OperationsPerInvoke = FaultsPerPass)]
    public void FaultAndZap()
    {
        AddressSpace space = _space;
        for (int i = 0; i < FaultsPerPass; i++)
            space.HandleFault(Start + ((ulong)i << PageGeometry.PageShift), FaultAccess.Write);
        space.Madvise(Start, 2UL << 20, MadviseAdvice.DontNeed);
    }

    /// <summary>The three layers' providers, every keyword.</summary>
    private static readonly (EventSource Source, EventKeywords Keywords)[] Providers =
    [
        (AllocatorEventSource.Log, AllocatorEventSource.AllKeywords),
        (PageTableEventSource.Log, PageTableEventSource.AllKeywords),
        (FaultPathEventSource.Log, FaultPathEventSource.AllKeywords),
    ];

    /// <summary>Counts the providers' events one call of <paramref name="op"/> writes, with an in-process listener.</summary>
    private static double EventsPerOp(Action op, int opsPerCall)
    {
        using var counter = new ProviderEventCounter();
        Interlocked.Exchange(ref counter.Count, 0);   // the free-area snapshot the enabling wrote
        op();
        return counter.Count / (double)opsPerCall;
    }

    private sealed class ProviderEventCounter : EventListener
    {
        public long Count;

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            foreach (var (source, keywords) in Providers)
            {
                if (eventSource.Name == source.Name)
                    EnableEvents(eventSource, EventLevel.Verbose, keywords);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) => Interlocked.Increment(ref Count);
    }
}

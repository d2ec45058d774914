using System.Collections.Generic;
using System.Linq;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// The fault path's side of a trace: what each fault did and at which order (FaultStop), the
/// orders it gave up on (FaultFallback), and how long it took (FaultStart to FaultStop).
/// </summary>
internal sealed class FaultStats
{
    /// <summary>Faults begun (FaultStart) by stores.</summary>
    public long WriteFaults { get; set; }

    /// <summary>Faults begun (FaultStart) by loads.</summary>
    public long ReadFaults { get; set; }

    /// <summary>Faults ended (FaultStop), by what they did.</summary>
    public Tally<FaultKind> ByKind { get; } = new();

    /// <summary>Faults ended, by what they did and the order of what they mapped.</summary>
    public Tally<(FaultKind Kind, int Order)> ByKindAndOrder { get; } = new();

    /// <summary>Folio allocations a fault gave up on before a lower order, per order given up (FaultFallback).</summary>
    public Tally<int> FallbacksByOrder { get; } = new();

    /// <summary>Start/stop pairing, and the faults it timed.</summary>
    public FaultLatencyPairer Pairs { get; } = new();

    /// <summary>Every timed fault's latency, in nanoseconds.</summary>
    public LatencySummary Latency => LatencySummary.Of(Pairs.Samples.Select(sample => sample.Nanoseconds));

    /// <summary>Latency per fault kind, in nanoseconds, kinds in enum order.</summary>
    public IEnumerable<(FaultKind Kind, LatencySummary Latency)> LatencyByKind =>
        Pairs.Samples.GroupBy(sample => sample.Kind).OrderBy(group => group.Key)
            .Select(group => (group.Key, LatencySummary.Of(group.Select(sample => sample.Nanoseconds))));

    /// <summary>Latency per order mapped, in nanoseconds, for faults that allocated a folio.</summary>
    public IEnumerable<(int Order, LatencySummary Latency)> LatencyByFolioOrder =>
        Pairs.Samples.Where(sample => AllocatesFolio(sample.Kind)).GroupBy(sample => sample.Order).OrderBy(group => group.Key)
            .Select(group => (group.Key, LatencySummary.Of(group.Select(sample => sample.Nanoseconds))));

    /// <summary>Whether a fault of <paramref name="kind"/> allocated the folio it mapped.</summary>
    public static bool AllocatesFolio(FaultKind kind) => kind is FaultKind.Folio or FaultKind.PmdFolio or FaultKind.CopyOnWrite;
}

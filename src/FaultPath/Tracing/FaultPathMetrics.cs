using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Threading;

namespace LargeFolios.FaultPath;

/// <summary>
/// The fault path's <see cref="Meter"/>, <c>LargeFolios.FaultPath</c>, beside the buddy allocator's
/// <c>LargeFolios.Allocator</c> (<c>AllocatorMetrics</c>): faults, page-table pages, the
/// deferred-split queue and the mTHP counters per size, tagged <c>arena</c> with the machine's arena
/// id. Like the allocator's, the instruments are observable and read counters the machine keeps
/// anyway: <c>dotnet-counters monitor --counters LargeFolios.Allocator,LargeFolios.FaultPath</c>,
/// OpenTelemetry's <c>AddMeter(FaultPathMetrics.MeterName)</c>.
/// </summary>
/// <remarks>
/// Machines register here when created and leave, under the same lock, before their disposal
/// frees anything, so a collection on a listener's thread never reads a disposed machine.
/// </remarks>
public static class FaultPathMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "LargeFolios.FaultPath";

    private static readonly Meter s_meter = new(MeterName, typeof(FaultPathMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Lock s_lock = new();
    private static readonly List<Machine> s_machines = [];

#pragma warning disable CA1823, IDE0052 // instruments are kept alive by the meter; the fields name them
    private static readonly ObservableCounter<long> s_faults = s_meter.CreateObservableCounter(
        "largefolios.faults", () => PerMachine(static m => m.Events.Get(VmEvent.PgFault)), "{fault}",
        "Page faults handled (vmstat pgfault); a rate in dotnet-counters.");

    private static readonly ObservableGauge<long> s_tablePages = s_meter.CreateObservableGauge(
        "largefolios.page_table.pages", () => PerMachine(static m => m.PageTablePages), "{page}",
        "Pages holding page tables, every address space of the machine (Linux NR_PAGETABLE).");

    private static readonly ObservableGauge<long> s_deferred = s_meter.CreateObservableGauge(
        "largefolios.deferred_split.queue_length", () => PerMachine(static m => m.DeferredSplitQueue.Length), "{folio}",
        "Folios on the deferred-split queue (split_queue_len).");

    private static readonly ObservableCounter<long> s_mthpEvents = s_meter.CreateObservableCounter(
        "largefolios.mthp.events", () => MthpCounters(events: true), "{event}",
        "The per-size mTHP event counters (hugepages-<size>kB/stats/), tagged size and stat.");

    private static readonly ObservableGauge<long> s_mthpFolios = s_meter.CreateObservableGauge(
        "largefolios.mthp.folios", () => MthpCounters(events: false), "{folio}",
        "nr_anon and nr_anon_partially_mapped per mTHP size, tagged size and stat.");
#pragma warning restore CA1823, IDE0052

    internal static void Register(Machine machine)
    {
        lock (s_lock)
            s_machines.Add(machine);
    }

    internal static void Unregister(Machine machine)
    {
        lock (s_lock)
            s_machines.Remove(machine);
    }

    private static List<Measurement<long>> PerMachine(System.Func<Machine, long> read)
    {
        var measurements = new List<Measurement<long>>();
        lock (s_lock)
        {
            foreach (Machine machine in s_machines)
                measurements.Add(new Measurement<long>(read(machine), new KeyValuePair<string, object?>("arena", machine.Arena.Id)));
        }

        return measurements;
    }

    private static List<Measurement<long>> MthpCounters(bool events)
    {
        var measurements = new List<Measurement<long>>();
        lock (s_lock)
        {
            foreach (Machine machine in s_machines)
            {
                foreach (var (order, item, value) in machine.MthpStats.NonZero())
                {
                    bool isEvent = item is not (MthpStatItem.NrAnon or MthpStatItem.NrAnonPartiallyMapped);
                    if (isEvent != events)
                        continue;
                    measurements.Add(new Measurement<long>(value,
                        new KeyValuePair<string, object?>("arena", machine.Arena.Id),
                        new KeyValuePair<string, object?>("size", ThpPolicy.SizeName(order)),
                        new KeyValuePair<string, object?>("stat", MthpStats.Name(item))));
                }
            }
        }

        return measurements;
    }
}

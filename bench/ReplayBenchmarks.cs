using System;
using System.Globalization;
using System.IO;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using LargeFolios.FaultPath;
using Perfolizer.Horology;

namespace LargeFolios.Bench;

/// <summary>
/// A whole scenario replay, as the <c>replay</c> tool runs one (<see cref="ScenarioRunner.Replay"/>):
/// runner construction (the metadata-only arena, the machine, the address space), reading and
/// parsing the scenario, running it, and disposing everything. The scenario maps 1 GiB and writes
/// each of its 262,144 pages once, in address order, at order 0 (THP disabled) and with
/// <c>thp 64kB always</c>; Linux 6.18 takes 0.48 s and 0.18 s for the same on real hardware, the
/// figures the model should stay well under. The empty replay is the fixed part: the same runner
/// over a scenario with no commands, so its arena's descriptors are all that is left.
/// </summary>
/// <remarks>
/// The scenario text is built once, in memory, so no file I/O is measured. The arena is the
/// runner's default (<see cref="ScenarioRunner.DefaultArenaBytes"/>, 16 GiB of descriptors), as
/// the tool uses it, or 2 GiB, to show how much of a replay is arena construction.
/// </remarks>
[Config(typeof(MillisecondsConfig))]
[MemoryDiagnoser(displayGenColumns: false)]
public class ReplayBenchmarks
{
    private const ulong Start = 0x4000_0000;
    private const ulong Length = 1UL << 30;
    private const int Pages = (int)(Length >> 12);

    private string _scenario = null!;

    /// <summary>The folio order of every fault: 0 (THP disabled) or 4 (<c>thp 64kB always</c>).</summary>
    [Params(0, 4)]
    public int Order { get; set; }

    /// <summary>The runner's arena: 4 GiB (the default the replay tool uses) or 2 GiB.</summary>
    [Params(4, 2)]
    public int ArenaGiB { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var text = new StringBuilder(capacity: 24 << 20);
        text.Append(Order == 0 ? "thp enabled never\n" : $"thp {ThpPolicy.SizeName(Order)} always\n");
        text.Append(CultureInfo.InvariantCulture, $"mmap 0x{Start:x} 1G\n");
        for (ulong address = Start; address < Start + Length; address += 0x1000)
            text.Append(CultureInfo.InvariantCulture, $"write 0x{address:x}\n");
        _scenario = text.ToString();

        // One warm replay, checked: every page resident, in folios of the order asked for.
        using var runner = new ScenarioRunner(TextWriter.Null, (long)ArenaGiB << 30);
        runner.Run(ScenarioReader.Read(new StringReader(_scenario), "populate-1g.scenario"), "populate-1g.scenario");
        long folios = runner.Machine.MthpStats.Get(Order, MthpStatItem.NrAnon);
        if (runner.AddressSpace.AnonPages != Pages || (Order != 0 && folios != Pages >> Order))
            throw new InvalidOperationException($"The replay mapped {runner.AddressSpace.AnonPages} pages, {folios} order-{Order} folios; expected {Pages} pages.");
    }

    /// <summary>Construct the runner, replay the 1 GiB populate, dispose.</summary>
    /// <returns>The address space's resident anonymous pages at the end (262,144).</returns>
    [Benchmark]
    public long Replay()
    {
        using var runner = new ScenarioRunner(TextWriter.Null, (long)ArenaGiB << 30);
        runner.Run(ScenarioReader.Read(new StringReader(_scenario), "populate-1g.scenario"), "populate-1g.scenario");
        return runner.AddressSpace.AnonPages;
    }

    /// <summary>Construct and dispose the same runner with nothing to replay: the replay's fixed cost.</summary>
    /// <returns>The arena's page count.</returns>
    [Benchmark(Baseline = true)]
    public long EmptyReplay()
    {
        using var runner = new ScenarioRunner(TextWriter.Null, (long)ArenaGiB << 30);
        runner.Run(ScenarioReader.Read(new StringReader(string.Empty), "empty.scenario"), "empty.scenario");
        return runner.Machine.Arena.TotalPages;
    }

    /// <summary>Reports in milliseconds, the unit the Linux figures are given in.</summary>
    private sealed class MillisecondsConfig : ManualConfig
    {
        public MillisecondsConfig() => SummaryStyle = SummaryStyle.Default.WithTimeUnit(TimeUnit.Millisecond);
    }
}

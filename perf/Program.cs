using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;

namespace LargeFolios.Perf;

/// <summary>
/// The command-line tool. <c>replay FILE</c> replays a scenario (DESIGN.md section 7) through the
/// fault path and prints what it dumps: exit 0, 2 for a malformed line, 1 for a failed command
/// (a fault outside every mapping). <c>scale [THREADS] [populate]</c> measures populating
/// memory by write faults from many threads at once (<see cref="ScalingRun"/>). With no arguments, the main job until the fault-path
/// workloads arrive: allocate, split and free folios in a 64 MiB arena and print the buddy
/// allocator's state as Linux would show it.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0)
            return Command(args);
        return BuddyDemo();
    }

    private static int Command(string[] args)
    {
        if (args[0] == "replay" && args.Length == 2)
        {
            using var output = new System.IO.StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false, NewLine = "\n" };
            int code = ScenarioRunner.Replay(args[1], output, Console.Error);
            output.Flush();
            return code;
        }

        if (args[0] == "scale" && args.Length <= 3)
            return ScalingRun.Run(args);

        Console.Error.WriteLine($"perf: unknown command \"{string.Join(' ', args)}\"; expected \"replay FILE\", \"scale [THREADS] [populate]\" or no arguments.");
        return 2;
    }

    private static int BuddyDemo()
    {
        using var arena = new Arena(64L << 20);
        Console.WriteLine($"arena: {arena.SizeBytes >> 20} MiB, {arena.TotalPages} pages, max order {arena.MaxOrder}, " +
            $"{arena.PerCpuSetCount} per-CPU sets (high {arena.PerCpuHigh}, batch {arena.PerCpuBatch} pages)");
        Print("after boot", arena);

        // A THP-sized anonymous folio, split the buddy way around one page (Linux folio_split).
        Folio thp = arena.Allocate(PageGeometry.PmdOrder, FolioKind.Anonymous);
        thp.AsSpan().Fill(0x5a);
        uint target = thp.Pfn + 2 * 8;  // the third order-3 chunk
        List<Folio> parts = arena.SplitNonUniform(thp, 3, target).ToList();
        Console.WriteLine($"\nsplit order-9 folio at PFN 0x{thp.Pfn:x} around PFN 0x{target:x}: orders [" +
            string.Join(", ", parts.Select(p => p.Pfn == target ? $"{{{p.Order}}}" : p.Order.ToString())) + "]");

        // Fragment the arena: 2000 small folios of orders 0..4, then free every other one.
        var random = new Random(42);
        var live = new List<Folio>();
        for (int i = 0; i < 2000; i++)
            live.Add(arena.Allocate(random.Next(0, 5)));
        for (int i = 0; i < live.Count; i += 2)
            arena.Free(live[i]);
        arena.DrainPerCpuCaches();
        Print("\nwith every other of 2000 small folios freed", arena);

        foreach (Folio part in parts)
            arena.Free(part);
        for (int i = 1; i < live.Count; i += 2)
            arena.Free(live[i]);
        arena.DrainPerCpuCaches();
        arena.Validate();
        Print("\nafter freeing everything", arena);
        return 0;
    }

    private static void Print(string title, Arena arena)
    {
        BuddyInfo info = arena.GetBuddyInfo();
        Console.WriteLine($"{title}: {info.FreePages} pages free in the buddy core, {arena.CachedPages} cached per CPU");
        Console.WriteLine($"  buddyinfo       {info}");
        Console.WriteLine($"  unusable_index  {info.FormatUnusableFreeSpaceIndex()}");
        Console.WriteLine($"  extfrag_index   {info.FormatFragmentationIndex()}");
    }
}

using System;
using System.IO;
using System.Threading;
using LargeFolios.Fuzz.Targets;
using SharpFuzz;

namespace LargeFolios.Fuzz.Engine;

/// <summary>
/// The target under afl-fuzz: SharpFuzz's out-of-process fork server (a child process runs the
/// inputs and is restarted when it dies or afl-fuzz kills it for a hang), fed by afl-fuzz with
/// inputs it mutates by the coverage of the instrumented assemblies (fuzz/run-afl.sh). An
/// exception escaping the target is a crash; afl-fuzz's -t is the hang bound; a watchdog thread
/// ends the child with a crash when its managed heap passes the memory bound, which afl-fuzz's
/// own -m (an address-space limit) cannot be for .NET, whose GC reserves far more than it uses.
/// Without afl-fuzz, it runs standard input once.
/// </summary>
public static class AflHost
{
    /// <summary>Serves <paramref name="target"/> to afl-fuzz.</summary>
    public static void Run(IFuzzTarget target, long memoryLimit)
    {
        ArgumentNullException.ThrowIfNull(target);
        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        if (!Checks.IsSkipped("memory"))
        {
            var watchdog = new Thread(() => Watch(baseline, memoryLimit)) { IsBackground = true, Name = "fuzz memory watchdog" };
            watchdog.Start();
        }

        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            OutOfMemoryWatch.Begin();
            try
            {
                target.Run(memory.ToArray(), CancellationToken.None);
            }
            catch (Exception e) when (e is not FindingException && Checks.IsSkipped($"exception:{e.GetType().FullName}"))
            {
                // Skipped by FOLIOS_FUZZ_SKIP: not a crash.
            }
            finally
            {
                if (OutOfMemoryWatch.End() is { } oom)
                    Checks.Fail("memory", $"the input asked for more memory than the heap's hard limit: {oom}", detail: "OutOfMemoryException", where: OutOfMemoryWatch.Where);
            }
        });
    }

    private static void Watch(long baseline, long limit)
    {
        while (true)
        {
            Thread.Sleep(50);
            if (GC.GetTotalMemory(forceFullCollection: false) - baseline <= limit)
                continue;
            long grown = GC.GetTotalMemory(forceFullCollection: true) - baseline;
            if (grown > limit)
                Environment.FailFast($"folios-fuzz: memory: the managed heap grew by {grown >> 20} MiB (the bound is {limit >> 20} MiB)");
        }
    }
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using LargeFolios.Fuzz.Engine;
using LargeFolios.Fuzz.Targets;

namespace LargeFolios.Fuzz;

/// <summary>The harness's command line (see Usage).</summary>
public static class Program
{
    private const string Usage = """
        Usage: dotnet run --project fuzz/Folios.Fuzz -c Release -- COMMAND TARGET [options]

        Targets: scenario (the scenario reader and runner), trace (the .nettrace reader and the report),
                 cli (the folios command line).

        Commands:
          run TARGET       the in-process mutation engine
              --seconds N       stop after N seconds (default 30; 0: no time bound)
              --runs N          stop after N mutants
              --seed N          seeds every choice (default: the time; printed)
              --corpus DIR      seed folder (repeatable; default: the target's corpus and regressions)
              --findings DIR    where findings go (default fuzz/findings), DIR/TARGET/
              --timeout-ms N    one input's time bound (default 10000)
              --memory-mb N     the managed heap's growth bound (default 1024)
              --keep-going      report every distinct finding, not only the first (a hang or memory finding still ends the run)
              --no-minimize     save findings as found
          afl TARGET       serve the target to afl-fuzz (fuzz/run-afl.sh); without afl-fuzz, run standard input once
          repro TARGET FILE...      run each file once and say what it gives
          minimize TARGET FILE [OUT]  shrink a finding's input (default OUT: FILE.min)
          targets          list the targets

        FOLIOS_FUZZ_SKIP=check[,check:detail...] skips checks (to fuzz on past a finding already known).
        Exit status: 0 nothing found, 1 a finding, 2 a bad command line.
        """;

    /// <summary>Runs the command line.</summary>
    public static int Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        GiveInstrumentationAMap();
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        if (args[0] == "targets")
        {
            Console.WriteLine(string.Join(Environment.NewLine, FuzzTargets.Names));
            return 0;
        }

        if (args.Length < 2 || !FuzzTargets.Names.Contains(args[1]))
            return Fail($"expected a command and a target ({string.Join(", ", FuzzTargets.Names)})");

        IFuzzTarget target = FuzzTargets.Create(args[1]);
        try
        {
            return args[0] switch
            {
                "run" => RunEngine(target, args[2..]),
                "afl" => Afl(target),
                "repro" when args.Length > 2 => Repro(target, args[2..]),
                "minimize" when args.Length is 3 or 4 => Minimize(target, args[2], args.Length == 4 ? args[3] : args[2] + ".min"),
                _ => Fail($"unknown command or missing files: {string.Join(' ', args)}"),
            };
        }
        finally
        {
            (target as IDisposable)?.Dispose();
        }
    }

    private static int RunEngine(IFuzzTarget target, string[] args)
    {
        double seconds = 30;
        long? runs = null;
        int seed = Environment.TickCount & int.MaxValue;
        var corpus = new List<string>();
        string findings = Path.Combine("fuzz", "findings");
        int timeoutMs = 10_000;
        long memoryMb = 1024;
        bool keepGoing = false;
        bool minimize = true;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--seconds": seconds = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--runs": runs = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--seed": seed = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--corpus": corpus.Add(Value()); break;
                    case "--findings": findings = Value(); break;
                    case "--timeout-ms": timeoutMs = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--memory-mb": memoryMb = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--keep-going": keepGoing = true; break;
                    case "--no-minimize": minimize = false; break;
                    default: return Fail($"unknown option {args[i]}");
                }
            }
            catch (FormatException e)
            {
                return Fail(e.Message);
            }
            catch (OverflowException e)
            {
                return Fail(e.Message);
            }
        }

        FuzzReport report = InProcessEngine.Run(target, new FuzzOptions
        {
            Seed = seed,
            Duration = seconds > 0 ? TimeSpan.FromSeconds(seconds) : null,
            Runs = runs,
            SeedDirectories = corpus.Count > 0 ? corpus : null,
            FindingsDirectory = findings,
            Timeout = TimeSpan.FromMilliseconds(timeoutMs),
            MemoryLimitBytes = memoryMb << 20,
            StopOnFirstFinding = !keepGoing,
            Minimize = minimize,
            Log = Console.Out,
        });
        Console.WriteLine($"fuzz {report.Target}: {report.Executions} runs ({report.Seeds} seeds) in {report.Elapsed.TotalSeconds:0.0} s, "
            + $"{report.Outcomes} outcomes, {report.Findings.Count} finding{(report.Findings.Count == 1 ? "" : "s")}");
        foreach (Finding finding in report.Findings)
            Console.WriteLine(finding.Describe());

        // A worker left hanging would keep the process alive no longer than this.
        Console.Out.Flush();
        return report.Findings.Count == 0 ? 0 : 1;
    }

    private static int Afl(IFuzzTarget target)
    {
        AflHost.Run(target, 1L << 30);
        return 0;
    }

    private static int Repro(IFuzzTarget target, string[] files)
    {
        int status = 0;
        var results = InProcessEngine.Replay(target, files.Select(File.ReadAllBytes), TimeSpan.FromSeconds(10), 1L << 30);
        for (int i = 0; i < files.Length; i++)
        {
            (string? outcome, Finding? finding) = results[i];
            if (finding is null)
            {
                Console.WriteLine($"{files[i]}: ok ({outcome})");
                continue;
            }

            status = 1;
            Console.WriteLine($"{files[i]}: FINDING");
            Console.WriteLine(finding.Describe());
        }

        return status;
    }

    private static int Minimize(IFuzzTarget target, string file, string output)
    {
        var executor = new Executor(target, TimeSpan.FromSeconds(10), 1L << 30);
        try
        {
            (_, Finding? finding) = executor.Execute(File.ReadAllBytes(file));
            if (finding is null)
            {
                Console.WriteLine($"{file}: gives no finding");
                return 0;
            }

            Finding smallest = Minimizer.Minimize(executor, finding, target.IsText, out Finding? other, maxTime: TimeSpan.FromMinutes(2));
            if (other is not null)
                Console.WriteLine($"on the way, another finding:{Environment.NewLine}{other.Describe()}");
            File.WriteAllBytes(output, smallest.Input);
            Console.WriteLine($"{file}: {finding.Key}: {finding.Input.Length} bytes -> {smallest.Input.Length} bytes, {output}");
            return 1;
        }
        finally
        {
            executor.Dispose();
        }
    }

    /// <summary>
    /// Assemblies instrumented by fuzz/run-afl.sh count every branch into SharpFuzz's map, which only
    /// afl-fuzz's fork server sets; without it (repro, minimize, run on the instrumented build) they
    /// get a private map, not a null pointer.
    /// </summary>
    private static unsafe void GiveInstrumentationAMap()
    {
        if (SharpFuzz.Common.Trace.SharedMem == null)
            SharpFuzz.Common.Trace.SharedMem = (byte*)NativeMemory.AllocZeroed(1 << 16);
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"folios-fuzz: {message}");
        Console.Error.WriteLine("See 'folios-fuzz --help'.");
        return 2;
    }
}

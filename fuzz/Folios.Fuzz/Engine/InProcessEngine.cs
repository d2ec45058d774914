using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using LargeFolios.Fuzz.Targets;

namespace LargeFolios.Fuzz.Engine;

/// <summary>
/// The fuzzer that needs no AFL: runs every corpus input, then mutants of the pool (corpus inputs,
/// and mutants whose outcome key was new), each under the executor's time and memory bounds and
/// the target's checks, until the time (counted from the start, corpus included) or the run count is spent or a finding stops it. A finding
/// is minimised and written to FINDINGS/TARGET/ as the input and a .txt saying what it broke.
/// Before each input runs it is written to FINDINGS/TARGET/last-input, so an input that kills the
/// process (a stack overflow, a native crash) is left there; a run that ends normally removes it.
/// </summary>
public static class InProcessEngine
{
    private const int MaxPool = 4096;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(10);

    /// <summary>Fuzzes <paramref name="target"/> as <paramref name="options"/> say.</summary>
    public static FuzzReport Run(IFuzzTarget target, FuzzOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        List<byte[]> seeds = LoadSeeds(target, options);
        IReadOnlyList<byte[]> tokens = options.Tokens
            ?? (FuzzTargets.Dictionary(target.Name) is { } dictionary ? AflDictionary.Load(dictionary) : []);
        var random = new Random(options.Seed);
        var mutator = new Mutator(random, tokens, target.IsText, target.MaxInputBytes);
        string? findings = options.FindingsDirectory is null ? null : Path.GetFullPath(Path.Combine(options.FindingsDirectory, target.Name));
        string? lastInput = findings is null ? null : Path.Combine(findings, "last-input");
        if (findings is not null)
            Directory.CreateDirectory(findings);

        var pool = new List<byte[]>(seeds);
        var outcomes = new HashSet<string>(StringComparer.Ordinal);
        var found = new List<Finding>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        long executions = 0;
        TimeSpan nextProgress = ProgressInterval;
        options.Log?.WriteLine($"fuzz {target.Name}: {seeds.Count} seeds, {tokens.Count} dictionary tokens, seed {options.Seed}, "
            + $"{(options.Duration is { } d ? $"{d.TotalSeconds:0} s" : "no time bound")}, {(options.Runs is { } r ? $"{r} runs" : "no run bound")}, "
            + $"{options.Timeout.TotalSeconds:0.#} s per input, {options.MemoryLimitBytes >> 20} MiB"
            + (Checks.Skips.Count > 0 ? $", skipping {string.Join(", ", Checks.Skips)}" : ""));

        var executor = new Executor(target, options.Timeout, options.MemoryLimitBytes);

        // Open once, rewritten in place: a write that reaches the kernel survives the process's death,
        // and costs far less than creating the file anew for every input.
        FileStream? last = lastInput is null ? null : new FileStream(lastInput, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        try
        {
            // Returns false when the run must stop.
            bool Execute(byte[] input, bool seed)
            {
                executions++;
                if (last is not null)
                {
                    last.Position = 0;
                    last.Write(input);
                    if (last.Length != input.Length)
                        last.SetLength(input.Length);
                }
                (string? outcome, Finding? finding) = executor.Execute(input);
                if (finding is null)
                {
                    if (outcomes.Add(outcome!) && !seed && pool.Count < MaxPool)
                        pool.Add(input);
                    return true;
                }

                if (!keys.Add(finding.Key))
                    return true;
                Finding? other = null;
                if (options.Minimize)
                    finding = Minimizer.Minimize(executor, finding, target.IsText, out other);
                Report(finding);
                if (other is not null && keys.Add(other.Key))
                    Report(other);

                // A hang or a memory finding leaves its worker running: what is measured after it is
                // no longer this process's alone, so the run ends there, keep going or not.
                return !options.StopOnFirstFinding && executor.Abandoned == 0;
            }

            void Report(Finding finding)
            {
                if (findings is not null)
                    Save(finding, findings);
                found.Add(finding);
                options.Log?.WriteLine($"FINDING {finding.Key} ({finding.Input.Length} bytes{(finding.SavedAs is null ? "" : $", {finding.SavedAs}")}): {Shorten(finding.Message)}");
            }

            bool go = true;
            foreach (byte[] seed in seeds)
            {
                if (!(go = Execute(seed, seed: true)))
                    break;
            }

            long mutants = 0;
            while (go && (options.Runs is null || mutants < options.Runs) && (options.Duration is null || clock.Elapsed < options.Duration))
            {
                byte[] parent = pool.Count == 0 ? [] : pool[random.Next(pool.Count)];
                go = Execute(mutator.Mutate(parent, pool), seed: false);
                mutants++;
                if (options.Log is not null && clock.Elapsed > nextProgress)
                {
                    nextProgress += ProgressInterval;
                    options.Log.WriteLine($"  {executions} runs, {executions / clock.Elapsed.TotalSeconds:0}/s, pool {pool.Count}, {outcomes.Count} outcomes, {found.Count} findings");
                }
            }

            if (last is not null && executor.Abandoned == 0)
            {
                last.Dispose();
                last = null;
                File.Delete(lastInput!);
            }

            return new FuzzReport(target.Name, seeds.Count, executions, outcomes.Count, clock.Elapsed, found);
        }
        finally
        {
            last?.Dispose();
            executor.Dispose();
        }
    }

    /// <summary>Runs each input once (a reproduction): its outcome key, or its finding.</summary>
    public static IReadOnlyList<(string? Outcome, Finding? Finding)> Replay(IFuzzTarget target, IEnumerable<byte[]> inputs, TimeSpan timeout, long memoryLimit)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(inputs);
        var executor = new Executor(target, timeout, memoryLimit);
        try
        {
            return inputs.Select(executor.Execute).ToList();
        }
        finally
        {
            executor.Dispose();
        }
    }

    /// <summary>The seed inputs: the options' folders (or the target's corpus and regressions) and planted seeds.</summary>
    public static List<byte[]> LoadSeeds(IFuzzTarget target, FuzzOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var seeds = new List<byte[]>();
        foreach (string folder in options.SeedDirectories ?? FuzzTargets.SeedDirectories(target.Name))
        {
            if (!Directory.Exists(folder))
                continue;
            foreach (string file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
            {
                if (Path.GetFileName(file) is not ("README.md" or ".gitkeep"))
                    seeds.Add(File.ReadAllBytes(file));
            }
        }

        seeds.AddRange(options.Seeds);
        return seeds;
    }

    /// <summary>Writes the finding's input (named by its check and hash) and a .txt describing it.</summary>
    public static void Save(Finding finding, string folder)
    {
        ArgumentNullException.ThrowIfNull(finding);
        Directory.CreateDirectory(folder);
        string hash = Convert.ToHexStringLower(SHA256.HashData(finding.Input))[..12];
        string name = $"{finding.Id.Replace(':', '-').Replace('.', '_')}-{hash}";
        string path = Path.Combine(folder, name + FuzzTargets.Extension(finding.Target));
        File.WriteAllBytes(path, finding.Input);
        finding.SavedAs = path;
        File.WriteAllText(Path.Combine(folder, name + ".txt"), finding.Describe());
    }

    private static string Shorten(string message) =>
        message.Length <= 300 ? message : string.Create(CultureInfo.InvariantCulture, $"{message[..300]}... ({message.Length} characters)");
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace LargeFolios.Fuzz.Targets;

/// <summary>The targets by name, and where their corpus, dictionary and regression inputs lie.</summary>
public static class FuzzTargets
{
    /// <summary>Every target's name.</summary>
    public static readonly IReadOnlyList<string> Names = ["scenario", "trace", "cli"];

    /// <summary>The folder holding corpus/, dict/ and regressions/ (copied beside the binary).</summary>
    public static string DataDirectory => AppContext.BaseDirectory;

    /// <summary>Creates the target named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No target has that name.</exception>
    public static IFuzzTarget Create(string name) => name switch
    {
        "scenario" => new ScenarioTarget(),
        "trace" => new TraceTarget(),
        "cli" => new CliTarget(CorpusFiles("trace").Select(File.ReadAllBytes).FirstOrDefault(bytes => bytes.Length > 0)),
        _ => throw new ArgumentException($"no target \"{name}\"; expected {string.Join(", ", Names)}", nameof(name)),
    };

    /// <summary>The default seed folders of a target: its corpus and its regression inputs.</summary>
    public static IReadOnlyList<string> SeedDirectories(string name) =>
        [Path.Combine(DataDirectory, "corpus", name), Path.Combine(DataDirectory, "regressions", name)];

    /// <summary>The target's dictionary (AFL's format), or null.</summary>
    public static string? Dictionary(string name)
    {
        string path = Path.Combine(DataDirectory, "dict", name + ".dict");
        return File.Exists(path) ? path : null;
    }

    /// <summary>The files of a target's corpus folder, in name order.</summary>
    public static IEnumerable<string> CorpusFiles(string name)
    {
        string folder = Path.Combine(DataDirectory, "corpus", name);
        return Directory.Exists(folder) ? Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal) : [];
    }

    /// <summary>The file extension of a target's inputs (for saved findings).</summary>
    public static string Extension(string name) => name switch
    {
        "scenario" => ".scenario",
        "trace" => ".nettrace",
        _ => ".args",
    };
}

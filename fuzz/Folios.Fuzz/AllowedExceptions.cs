using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.FaultPath;
using LargeFolios.Folios.TraceAnalysis;

namespace LargeFolios.Fuzz;

/// <summary>
/// The exceptions each target's code documents, and so may throw for a bad input: anything else
/// that escapes is a finding. Each list is what the XML docs of the code called say (their
/// summaries and <c>&lt;exception&gt;</c> elements); a newly documented exception is one more line
/// in its list. Types match with their subclasses.
/// </summary>
public static class AllowedExceptions
{
    /// <summary>
    /// <see cref="ScenarioReader.Read"/> (a malformed line) and <see cref="ScenarioRunner.Run"/>
    /// (its two <c>&lt;exception&gt;</c>s: a malformed line, a command that failed).
    /// </summary>
    public static readonly IReadOnlyList<Type> Scenario =
    [
        typeof(ScenarioSyntaxException),
        typeof(ScenarioExecutionException),
    ];

    /// <summary><c>AllocatorTraceReader.Read</c>: the file is missing, empty, not a nettrace, truncated or corrupt.</summary>
    public static readonly IReadOnlyList<Type> Trace =
    [
        typeof(TraceFileException),
    ];

    /// <summary>
    /// <c>Program.Run</c>: none. Every argument vector gives an exit status (0, 1 or 2, perf/Cli/ExitCodes.cs),
    /// and System.CommandLine's handler for an exception from a command ("Unhandled exception:" and
    /// exit 1) counts as the exception escaping.
    /// </summary>
    public static readonly IReadOnlyList<Type> Cli = [];

    /// <summary>Whether <paramref name="exception"/> is one of <paramref name="allowed"/>.</summary>
    public static bool IsAllowed(Exception exception, IReadOnlyList<Type> allowed) =>
        allowed.Any(type => type.IsInstanceOfType(exception));
}

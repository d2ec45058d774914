using System;
using System.Collections.Generic;
using System.Linq;

namespace LargeFolios.Fuzz;

/// <summary>
/// Which checks are on. All are, unless <c>FOLIOS_FUZZ_SKIP</c> names some (comma-separated,
/// each a check or a finding id's prefix: <c>endless-line</c>, <c>unhandled:System.ArgumentException</c>),
/// to fuzz on past a finding already known and not yet fixed. CI never sets it.
/// </summary>
public static class Checks
{
    /// <summary>The environment variable.</summary>
    public const string SkipVariable = "FOLIOS_FUZZ_SKIP";

    private static readonly string[] Skipped = (Environment.GetEnvironmentVariable(SkipVariable) ?? "")
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The checks and prefixes skipped.</summary>
    public static IReadOnlyList<string> Skips => Skipped;

    /// <summary>Whether a finding with id <paramref name="id"/> (check, or check:detail) is skipped.</summary>
    public static bool IsSkipped(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        return Skipped.Any(skip => id == skip || id.StartsWith(skip + ":", StringComparison.Ordinal)
            || (skip.Contains(':', StringComparison.Ordinal) && id.StartsWith(skip, StringComparison.Ordinal)));
    }

    /// <summary>Throws a finding of <paramref name="check"/> (with <paramref name="detail"/>, such as an exception type) unless it is skipped.</summary>
    public static void Fail(string check, string message, Exception? cause = null, string? detail = null, string? where = null)
    {
        var finding = new FindingException(check, message, cause, detail, where);
        if (!IsSkipped(finding.Id))
            throw finding;
    }
}

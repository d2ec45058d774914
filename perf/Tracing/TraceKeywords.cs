using System;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;

namespace LargeFolios.Folios.Tracing;

/// <summary>
/// The <c>--keywords</c> syntax (subsystem names joined by commas, <c>all</c>, or a mask such as
/// <c>0x3F</c>) and what each <see cref="TraceKeyword"/> enables in which provider.
/// </summary>
internal static class TraceKeywords
{
    /// <summary>The names, as <c>--help</c> lists them.</summary>
    public const string Syntax = "buddy, percpu, split, pagetables, faults, madvise or syscalls (comma-separated), all, or a mask such as 0x11";

    private static readonly Dictionary<string, TraceKeyword> s_names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["all"] = TraceKeyword.All,
        ["buddy"] = TraceKeyword.Buddy,
        ["percpu"] = TraceKeyword.PerCpu,
        ["split"] = TraceKeyword.Split,
        ["pagetables"] = TraceKeyword.PageTables,
        ["faults"] = TraceKeyword.Faults,
        ["madvise"] = TraceKeyword.Syscalls,
        ["syscalls"] = TraceKeyword.Syscalls,
    };

    // Every provider keyword some tool bit enables; split is the one bit two providers share.
    private static readonly (TraceKeyword Bit, string Provider, EventKeywords Keywords)[] s_providerKeywords =
    [
        (TraceKeyword.Buddy, AllocatorEventSource.ProviderName, AllocatorEventSource.Keywords.Buddy),
        (TraceKeyword.PerCpu, AllocatorEventSource.ProviderName, AllocatorEventSource.Keywords.PerCpuCache),
        (TraceKeyword.Split, AllocatorEventSource.ProviderName, AllocatorEventSource.Keywords.FolioSplit),
        (TraceKeyword.PageTables, PageTableEventSource.ProviderName, PageTableEventSource.Keywords.PageTables),
        (TraceKeyword.Faults, FaultPathEventSource.ProviderName, FaultPathEventSource.Keywords.Faults),
        (TraceKeyword.Syscalls, FaultPathEventSource.ProviderName, FaultPathEventSource.Keywords.Syscalls),
        (TraceKeyword.Split, FaultPathEventSource.ProviderName, FaultPathEventSource.Keywords.FolioSplit),
    ];

    /// <summary>
    /// The providers <paramref name="keywords"/> enables, lowest layer first, each with its own
    /// keywords; a provider none of the bits reaches is not in the list.
    /// </summary>
    public static IReadOnlyList<ProviderKeywords> ForProviders(TraceKeyword keywords) =>
        [.. s_providerKeywords
            .Where(entry => (keywords & entry.Bit) != 0)
            .GroupBy(entry => entry.Provider)
            .Select(provider => new ProviderKeywords(provider.Key, provider.Aggregate((EventKeywords)0, (mask, entry) => mask | entry.Keywords)))];

    /// <summary>Parses <paramref name="text"/>, or says what was wrong.</summary>
    public static bool TryParse(string text, out TraceKeyword keywords, out string? error)
    {
        keywords = TraceKeyword.None;
        error = null;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong mask)
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out mask))
        {
            if (mask == 0 || (mask & ~(ulong)TraceKeyword.All) != 0)
            {
                error = $"{EchoedText.Quote(text)} is not a mask of the trace keywords; expected bits of 0x{(int)TraceKeyword.All:X}";
                return false;
            }

            keywords = (TraceKeyword)mask;
            return true;
        }

        foreach (string name in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!s_names.TryGetValue(name, out TraceKeyword one))
            {
                error = $"{EchoedText.Quote(name)} is not a keyword; expected {Syntax}";
                return false;
            }

            keywords |= one;
        }

        if (keywords == TraceKeyword.None)
        {
            error = $"no keyword given; expected {Syntax}";
            return false;
        }

        return true;
    }
}

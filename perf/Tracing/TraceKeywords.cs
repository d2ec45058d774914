using System;
using System.Diagnostics.Tracing;
using System.Globalization;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.Folios.Tracing;

/// <summary>The <c>--keywords</c> syntax: subsystem names joined by commas, <c>all</c>, or a number (<c>0x3F</c>).</summary>
internal static class TraceKeywords
{
    /// <summary>The names, as <c>--help</c> lists them.</summary>
    public const string Syntax = "buddy, percpu, split, pagetables, faults, madvise (comma-separated), all, or a mask such as 0x11";

    /// <summary>Parses <paramref name="text"/>, or says what was wrong.</summary>
    public static bool TryParse(string text, out EventKeywords keywords, out string? error)
    {
        keywords = 0;
        error = null;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong mask)
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out mask))
        {
            keywords = (EventKeywords)mask;
            if (mask == 0 || (keywords & ~LargeFoliosEventSource.AllKeywords) != 0)
            {
                error = $"\"{text}\" is not a mask of the provider's keywords; expected bits of 0x{(long)LargeFoliosEventSource.AllKeywords:X}";
                return false;
            }

            return true;
        }

        foreach (string name in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            EventKeywords? one = name.ToLowerInvariant() switch
            {
                "all" => LargeFoliosEventSource.AllKeywords,
                "buddy" => LargeFoliosEventSource.Keywords.Buddy,
                "percpu" => LargeFoliosEventSource.Keywords.PerCpuCache,
                "split" => LargeFoliosEventSource.Keywords.FolioSplit,
                "pagetables" => LargeFoliosEventSource.Keywords.PageTables,
                "faults" => LargeFoliosEventSource.Keywords.Faults,
                "madvise" => LargeFoliosEventSource.Keywords.Madvise,
                _ => null,
            };
            if (one == null)
            {
                error = $"\"{name}\" is not a keyword; expected {Syntax}";
                return false;
            }

            keywords |= one.Value;
        }

        if (keywords == 0)
        {
            error = $"no keyword given; expected {Syntax}";
            return false;
        }

        return true;
    }
}
